"""crm new: create a contact (or, with --org and no name, an org)."""

from __future__ import annotations

from pathlib import Path

import click

from .. import fs
from ..model import STATUSES, TIERS
from ..problems import Problem
from ..scaffold import CreateResult, NewContact, NewOrg, create_contact, create_org
from .common import not_a_crm, root_option, today_option


def _report(result: CreateResult) -> None:
    for problem in result.problems:
        click.echo(_format(problem), err=True)
    if result.path is None:
        raise SystemExit(1)
    click.echo(result.path)


def _format(problem: Problem) -> str:
    return problem.format() if problem.line is not None or "/" in problem.path else \
        f"crm: {problem.severity}: {problem.message}"


@click.command("new")
@click.argument("name", required=False)
@click.option("--org", "org", metavar="SLUG|NAME",
              help="With a NAME: the contact's org (a slug, or the org's name). Without a NAME: "
                   "create orgs/<slug>.md for an org of this name.")
@click.option("--email", "emails", multiple=True, metavar="ADDRESS", help="An e-mail address (repeatable).")
@click.option("--phone", "phones", multiple=True, metavar="NUMBER", help="A phone number (repeatable).")
@click.option("--tag", "tags", multiple=True, metavar="TAG", help="A tag (repeatable).")
@click.option("--title", "title", metavar="TEXT", help="Job title (contacts only).")
@click.option("--tier", type=click.Choice(TIERS, case_sensitive=False), help="Tier (contacts only).")
@click.option("--status", type=click.Choice(STATUSES, case_sensitive=False), help="Status (contacts only).")
@click.option("--website", metavar="URL", help="Website (orgs only).")
@click.option("--summary", "-m", "summary", default="", metavar="TEXT",
              help="A first line or paragraph of text under the front matter.")
@root_option
@today_option
def new_command(name: str | None, org: str | None, emails: tuple[str, ...], phones: tuple[str, ...],
                tags: tuple[str, ...], title: str | None, tier: str | None, status: str | None,
                website: str | None, summary: str, root: Path, today) -> None:  # type: ignore[no-untyped-def]
    """Create contacts/<slug>.md for NAME, or orgs/<slug>.md with --org and no NAME.

    \b
      crm new "Zoë Müller" --org nordlicht-logistics --email zoe@example.com --tag client
      crm new --org "Acme Robotics" --website https://acme.example

    The slug is the name transliterated to lower-case ASCII ("Zoë Müller" -> zoe-muller,
    "张伟" -> zhang-wei), with -2, -3, ... added when a contact or org already has it.
    A contact's `since` is today (--today). With --org, the contact's org is the org
    with that slug or name; if it does not exist yet you get a warning (crm check will
    report it until you create it). Prints the new file's path; exits 1 when nothing
    was written.
    """
    try:
        root = fs.find_root(root)
    except fs.NotACrmError as exc:
        not_a_crm(exc)
        return
    if not name:
        if not org:
            raise click.UsageError("give a NAME for a contact, or --org NAME for an org")
        if title or tier or status:
            raise click.UsageError("--title, --tier and --status are for contacts, not orgs")
        _report(create_org(root, NewOrg(name=org, website=website, emails=list(emails), phones=list(phones),
                                        tags=list(tags), summary=summary)))
        return
    if website:
        raise click.UsageError("--website is for orgs (crm new --org NAME --website URL)")
    contact = NewContact(
        name=name, org=org, title=title, emails=list(emails), phones=list(phones), tags=list(tags),
        tier=tier.upper() if tier else None, status=status.lower() if status else None, since=today,
        summary=summary,
    )
    _report(create_contact(root, contact))
