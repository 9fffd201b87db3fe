"""crm check: validate every file and print the problems."""

from __future__ import annotations

from pathlib import Path

import click

from .. import api
from ..fs import NotACrmError
from ..problems import problems_as_json, problems_as_text
from .common import format_option, not_a_crm, root_option


@click.command("check")
@root_option
@format_option
@click.option("--strict", is_flag=True, help="Exit 1 on warnings too.")
def check_command(root: Path, fmt: str, strict: bool) -> None:
    """Validate every contact and org file.

    Prints one line per problem, sorted by file and line:
    `contacts/x.md:LINE: error|warning: MESSAGE [code]`. With --format json, a JSON list of
    {path, line, severity, code, message}. Exits 0 without errors (warnings allowed unless
    --strict), 1 with errors, 2 on usage errors.
    """
    try:
        result = api.check(root, lazy=True)
    except NotACrmError as exc:
        not_a_crm(exc)
        return
    if fmt == "json":
        click.echo(problems_as_json(result.problems))
    else:
        if result.problems:
            click.echo(problems_as_text(result.problems))
        n_c, n_o = result.contact_count, result.org_count
        click.echo(
            f"{n_c} contacts, {n_o} orgs: {len(result.errors)} errors, {len(result.warnings)} warnings",
            err=True,
        )
    if result.errors or (strict and result.warnings):
        raise SystemExit(1)
