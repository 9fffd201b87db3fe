"""crm init: start a new CRM."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import click

from ..scaffold import init_crm
from .common import today_option


@click.command("init")
@click.argument("directory", type=click.Path(file_okay=False, path_type=Path), default=Path("."))
@click.option("--title", metavar="TEXT", help="The site title written to crm.yaml (default: Contacts).")
@click.option("--no-git", "no_git", is_flag=True, help="Do not run `git init`.")
@today_option
def init_command(directory: Path, title: str | None, no_git: bool, today: date) -> None:
    """Create a new CRM in DIRECTORY (default: the current folder).

    Creates contacts/, orgs/, crm.yaml, a .gitignore (output/ and .crm-cache/), a
    .pre-commit-config.yaml running crm fmt and crm check, and one example contact,
    contacts/ada-lovelace.md. Runs `git init` when git is installed and DIRECTORY is
    not already in a git repository (nothing is committed). Never overwrites a file:
    a folder that already holds a CRM is refused (exit 1), and an existing .gitignore
    only gains the lines it lacks.
    """
    result = init_crm(directory, today, title=title, use_git=not no_git)
    for problem in result.problems:
        click.echo(f"crm: {problem.message}", err=True)
    if result.problems:
        raise SystemExit(1)
    for rel in result.created:
        click.echo(f"created {rel}")
    for rel in result.updated:
        click.echo(f"updated {rel}")
    for rel in result.kept:
        click.echo(f"kept    {rel} (already there)")
    if result.git:
        click.echo(result.git)
    click.echo(f"Next: cd {directory} && crm check && crm serve")
