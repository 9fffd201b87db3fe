"""crm fmt: rewrite contact and org files into the canonical form."""

from __future__ import annotations

from pathlib import Path

import click

from .. import fs
from ..fmt import format_paths, select_files
from .common import not_a_crm, root_option


@click.command("fmt")
@click.argument("paths", nargs=-1, type=click.Path(path_type=Path))
@click.option("--check", is_flag=True,
              help="Change nothing; list the files that would change and exit 1 if there are any.")
@root_option
def fmt_command(paths: tuple[Path, ...], check: bool, root: Path) -> None:
    """Rewrite files into one canonical form, for small diffs and clean merges.

    Formats PATHS (files, or folders inside the CRM), or every contact and org file.
    Known front-matter keys go in the documented order with custom keys after them in
    their own order; comments, quoting and list styles are kept as written. Dated
    sections go newest first with one blank line between them; line ends become LF,
    with one final newline and no BOM. Formatting never changes what a file says: a
    file with parse errors, or one that could not be reordered without changing its
    meaning, is left untouched and reported. Exit 1 when a file could not be formatted,
    or with --check when a file would change.
    """
    try:
        root = fs.find_root(root)
    except fs.NotACrmError as exc:
        not_a_crm(exc)
        return
    rels, problems = select_files(root, list(paths))
    for problem in problems:
        click.echo(problem.format(), err=True)
    results = format_paths(root, rels, write=not check)
    changed = [r for r in results if r.changed]
    failed = [r for r in results if r.text is None]
    for result in results:
        for problem in result.problems:
            click.echo(problem.format(), err=True)
        if result.changed:
            click.echo(f"would reformat {result.path}" if check else f"reformatted {result.path}")
    verb = "would be reformatted" if check else "reformatted"
    click.echo(f"{len(changed)} files {verb}, {len(results) - len(changed) - len(failed)} unchanged"
               + (f", {len(failed)} left untouched because of errors" if failed else ""), err=True)
    if failed or any(p.severity == "error" for p in problems) or (check and changed):
        raise SystemExit(1)
