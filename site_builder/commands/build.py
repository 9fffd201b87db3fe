"""crm build: render the static site."""

from __future__ import annotations

import os
from datetime import date
from pathlib import Path

import click

from ..build_start import BuildError, start_build
from ..fs import NotACrmError
from ..problems import problems_as_text
from .common import not_a_crm, root_option, today_option


@click.command("build")
@root_option
@click.option("--out", "out", type=click.Path(file_okay=False, path_type=Path), default=None,
              help="Where to write the site.  [default: ROOT/output]")
@today_option
def build_command(root: Path, out: Path | None, today: date) -> None:
    """Build the static website of the CRM.

    Writes index.html (the searchable directory), one page per contact and org, due.html,
    dashboard.html, tags/ and search-data.js into the output folder. Open
    output/index.html straight from disk; no server is needed and the site makes no
    network requests.

    Every page is rendered before anything in the output folder changes, so a failed
    build leaves the previous site intact. Then the new site is swapped in as a whole
    (a first build, or one that changes many files), or the few changed files are
    renamed into place one by one. A replaced site of many files is deleted in the
    background, after the command returns (.OUT.old-* beside the output folder for a
    moment). The output folder must not be the CRM folder,
    contacts/, orgs/ or templates/, and an existing folder is only replaced if an
    earlier `crm build` made it.

    Problems are printed as by `crm check`; a file that cannot be read at all is
    left out, everything else is built, and every page shows a banner while there
    are errors. Exits 0 without errors, 1 with errors (the site is still built),
    2 when the build cannot run. Rebuilds only re-render what changed.
    """
    try:
        start = start_build(root, out, today)
        result = start.answer
        if result is None:
            # The renderer is imported only now: a build with nothing changed never needs it.
            from ..build import build_site

            result = build_site(root, out, today, start=start)
    except NotACrmError as exc:
        not_a_crm(exc)
        return
    except BuildError as exc:
        click.echo(f"crm build: {exc}", err=True)
        raise SystemExit(2)
    if result.problems:
        click.echo(problems_as_text(result.problems))
    where = _shown_path(result.out)
    click.echo(
        f"Built {result.contacts} contacts, {result.orgs} orgs into {where}/ "
        f"({len(result.errors)} errors, {len(result.warnings)} warnings)"
    )
    click.echo(f"Open {result.out / 'index.html'} in a browser (or run: crm serve).")
    if result.errors:
        raise SystemExit(1)


def _shown_path(path: Path) -> str:
    """The output folder relative to the current folder when it is below it."""
    try:
        return os.path.relpath(path) if path.is_relative_to(Path.cwd()) else str(path)
    except ValueError:
        return str(path)
