"""crm touch: add one dated note section to a contact or org."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import click

from .. import fs
from ..touch import NewSection, editor_template, find_entity, strip_editor_template, touch
from .common import not_a_crm, root_option, today_option


def _parse_date(ctx: click.Context, param: click.Parameter, value: str | None) -> date | None:
    if value is None:
        return None
    try:
        return date.fromisoformat(value.strip())
    except ValueError:
        raise click.BadParameter(f"'{value}' is not a date in YYYY-MM-DD form") from None


@click.command("touch")
@click.argument("slug")
@click.argument("kind")
@click.argument("title", required=False, default="")
@click.option("-m", "--message", "message", metavar="TEXT",
              help="The note's text. Without it, $EDITOR opens; an empty note cancels.")
@click.option("--date", "when", callback=_parse_date, metavar="YYYY-MM-DD",
              help="The section's date (default: today).")
@click.option("--with", "participants", multiple=True, metavar="SLUG",
              help="Someone else who took part (repeatable); added to the heading as @SLUG.")
@root_option
@today_option
def touch_command(slug: str, kind: str, title: str, message: str | None, when: date | None,
                  participants: tuple[str, ...], root: Path, today: date) -> None:
    """Add a dated section `## DATE KIND [@WITH...][: TITLE]` to contacts/SLUG.md.

    \b
      crm touch zoe-muller call "Proposal questions" -m "She wants a cheaper option."
      crm touch zoe-muller meeting Kickoff --with jonas-weber --date 2026-11-27

    The section goes at its place in the timeline (newest first; below a file's
    sections of the same date when the file is written oldest first) and nothing else
    in the file changes, so the git diff is only the added lines. KIND is a touch kind
    (call, email, meeting, message, visit, social, the touch_kinds in crm.yaml) or
    note; another word is accepted with a warning. SLUG may also be an org. Exits 1
    when nothing was written.
    """
    try:
        root = fs.find_root(root)
    except fs.NotACrmError as exc:
        not_a_crm(exc)
        return
    section = NewSection(when=when or today, kind=kind.lower(), title=title.strip(),
                         participants=tuple(dict.fromkeys(p.lstrip("@") for p in participants)))
    if message is None:
        rel = find_entity(root, slug) or f"contacts/{slug}.md"
        edited = click.edit(editor_template(rel, section), extension=".md", require_save=True)
        message = strip_editor_template(edited or "")
        if not message:
            click.echo("crm: empty note; nothing written", err=True)
            raise SystemExit(1)
    section = NewSection(section.when, section.kind, section.title, message, section.participants)
    result = touch(root, slug, section)
    for problem in result.problems:
        click.echo(problem.format(), err=True)
    if result.path is None:
        raise SystemExit(1)
    click.echo(f"{result.path}:{result.line}: {result.heading}")
