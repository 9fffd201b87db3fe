"""crm import vcard|csv and crm export vcard|csv|json|ics: thin click layers over
site_builder.imports.run and site_builder.exports."""

from __future__ import annotations

import json
from datetime import date
from pathlib import Path

import click

from ..fs import NotACrmError, find_root, write_atomic
from ..imports.apply import CREATED, MERGED, SKIPPED, Outcome
from ..imports.csvfile import AUTO, SOURCES
from ..imports.run import ImportResult, import_csv, import_vcards
from ..loader import load_crm
from ..model import CRM
from ..problems import has_errors
from .common import format_option, not_a_crm, root_option, today_option

_DRY_RUN_HELP = "Show the changes as a diff and write nothing."
_ORGS_HELP = ("Create orgs/<slug>.md for a company no org file names yet (default), or leave such "
              "companies out with --no-orgs.")


@click.group("import")
def import_group() -> None:
    """Bring contacts in from a phone, a mail client or LinkedIn.

    A person whose email or phone (normalised) matches a contact is merged into that
    file by adding only what is missing; everyone else gets a new contacts/<slug>.md.
    Nothing is ever overwritten or duplicated. See docs/import-export.md.
    """


def _report(result: ImportResult, fmt: str) -> None:
    plan = result.plan
    if result.dry_run:
        click.echo(plan.diff(), nl=False)
    if fmt == "json":
        click.echo(json.dumps({
            "dry_run": result.dry_run,
            "outcomes": [o.to_dict() for o in plan.outcomes],
            "written": result.written,
            "problems": [p.to_dict() for p in result.problems],
        }, ensure_ascii=False, indent=2))
    else:
        for o in plan.outcomes:
            click.echo(_outcome_line(o))
    for problem in result.problems:
        click.echo(problem.format(), err=True)
    verb = "would be " if result.dry_run else ""
    click.echo(
        f"{_n(plan.count(CREATED), 'contact')} {verb}created, {plan.count(MERGED)} {verb}merged, "
        f"{plan.count(SKIPPED)} skipped; {_n(plan.count(CREATED, 'orgs/'), 'org')} {verb}created"
        + ("; dry run: nothing written" if result.dry_run else ""),
        err=True,
    )
    if has_errors(result.problems):
        raise SystemExit(1)


def _n(count: int, noun: str) -> str:
    return f"{count} {noun}" + ("" if count == 1 else "s")


def _outcome_line(o: Outcome) -> str:
    if o.action == SKIPPED:
        who = "" if o.detail.startswith("no name") else f" {o.name}"
        return f"skipped  {o.origin}:{who}: {o.detail}" if who else f"skipped  {o.origin}: {o.detail}"
    detail = f"; {o.detail}" if o.detail else ""
    return f"{o.action:<8} {o.path}: {o.name} (from {o.origin}{detail})"


@import_group.command("vcard")
@click.argument("files", nargs=-1, required=True, type=click.Path(exists=True, dir_okay=False, path_type=Path))
@root_option
@click.option("--dry-run", is_flag=True, help=_DRY_RUN_HELP)
@click.option("--orgs/--no-orgs", "create_orgs", default=True, help=_ORGS_HELP)
@click.option("--photos/--no-photos", default=True,
              help="Save embedded photos as contacts/photos/<slug>.<ext> (default), or skip them.")
@format_option
def import_vcard_command(files: tuple[Path, ...], root: Path, dry_run: bool, create_orgs: bool, photos: bool,
                         fmt: str) -> None:
    """Import vCard files (2.1, 3.0 or 4.0) as phones and mail clients export them.

    Reads quoted-printable and CHARSET values, folded lines, Apple's item1.X-ABLabel
    groups, several EMAIL/TEL with TYPE and PREF, BDAY with or without a year, ORG with
    units, NOTE (the new file's summary), CATEGORIES (tags) and embedded photos.

    Prints one line per card: created, merged or skipped with the reason. A malformed
    property is reported as FILE:LINE on stderr and the rest still imports; the exit
    status is then 1.
    """
    try:
        find_root(root)
    except NotACrmError as exc:
        not_a_crm(exc)
        return
    _report(import_vcards(root, list(files), dry_run=dry_run, create_orgs=create_orgs, photos=photos), fmt)


@import_group.command("csv")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--from", "source", type=click.Choice([*SOURCES, AUTO]), default=AUTO, show_default=True,
              help="Which program wrote the file; auto tells from the header row.")
@root_option
@click.option("--dry-run", is_flag=True, help=_DRY_RUN_HELP)
@click.option("--orgs/--no-orgs", "create_orgs", default=True, help=_ORGS_HELP)
@format_option
def import_csv_command(file: Path, source: str, root: Path, dry_run: bool, create_orgs: bool, fmt: str) -> None:
    """Import a contacts CSV from Google Contacts, Outlook or LinkedIn.

    Google: the current and the legacy column sets, ' ::: ' multi-values, Labels as
    tags. Outlook: the standard export columns. LinkedIn: Connections.csv as downloaded
    (the "Notes:" preamble is skipped); each person gets source: linkedin, the profile as
    links.linkedin, and the 'Connected On' date as connected.

    A row with the wrong number of columns is reported as FILE:LINE on stderr and the
    rest still imports; the exit status is then 1.
    """
    try:
        find_root(root)
    except NotACrmError as exc:
        not_a_crm(exc)
        return
    _report(import_csv(root, file, source, dry_run=dry_run, create_orgs=create_orgs), fmt)


# --- export ---------------------------------------------------------------------------------

_PRIVATE_HELP = "Include contacts marked private: true and fields listed in private_fields."
_OUT_HELP = "Write to this file (atomically) instead of standard output."


@click.group("export")
def export_group() -> None:
    """Take the CRM out: vCard, CSV (Google, Outlook, Mailchimp), JSON, iCalendar.

    Contacts with private: true and the fields a contact lists under private_fields are
    left out unless --include-private is given. See docs/import-export.md and
    docs/json.md.
    """


def _load(root: Path) -> CRM | None:
    try:
        return load_crm(find_root(root))
    except NotACrmError as exc:
        not_a_crm(exc)
        return None


def _emit(text: str, out: Path | None) -> None:
    if out is None:
        click.echo(text, nl=False)
    else:
        write_atomic(out, text)
        click.echo(f"wrote {out}", err=True)


_out_option = click.option("--out", type=click.Path(dir_okay=False, path_type=Path), default=None, help=_OUT_HELP)
_private_option = click.option("--include-private", is_flag=True, help=_PRIVATE_HELP)


@export_group.command("vcard")
@root_option
@_out_option
@click.option("--version", "version", type=click.Choice(["3.0", "4.0"]), default="3.0", show_default=True,
              help="vCard version: 3.0 for the widest support, 4.0 (RFC 6350).")
@_private_option
def export_vcard_command(root: Path, out: Path | None, version: str, include_private: bool) -> None:
    """Every contact as a vCard: UTF-8, CRLF, folded at 75 octets, one card each.

    Each card's UID comes from the contact's slug, so importing the file again into a
    phone or mail client updates the cards instead of duplicating them.
    """
    from ..exports.vcard import export_vcards

    crm = _load(root)
    if crm is not None:
        _emit(export_vcards(crm, version, include_private), out)


@export_group.command("csv")
@root_option
@click.option("--format", "fmt", type=click.Choice(["google", "outlook", "mailchimp"]), required=True,
              help="google: Google Contacts import; outlook: Outlook import; mailchimp: an audience file with "
                   "only contacts that have newsletter: subscribed and an email.")
@_out_option
@_private_option
def export_csv_command(root: Path, fmt: str, out: Path | None, include_private: bool) -> None:
    """Contacts as a CSV file for Google Contacts, Outlook or Mailchimp.

    The Mailchimp file has the columns Email Address, First Name, Last Name, Tags,
    Company, Job Title, Birthday (MM/DD) and Location, and holds only contacts with
    newsletter: subscribed and an email address.
    """
    from ..exports.csvfile import export_csv

    crm = _load(root)
    if crm is not None:
        _emit(export_csv(crm, fmt, include_private), out)


@export_group.command("json")
@root_option
@today_option
@_out_option
@_private_option
@click.option("--no-stats", is_flag=True, help="Leave out the stats (faster; 'stats' is then null).")
def export_json_command(root: Path, today: date, out: Path | None, include_private: bool, no_stats: bool) -> None:
    """The whole model and its stats as JSON, in the schema of docs/json.md."""
    from ..exports.jsonfile import export_json

    crm = _load(root)
    if crm is not None:
        _emit(export_json(crm, today, include_private, with_stats=not no_stats), out)


@export_group.command("ics")
@root_option
@today_option
@_out_option
@_private_option
def export_ics_command(root: Path, today: date, out: Path | None, include_private: bool) -> None:
    """Birthdays (yearly), follow-ups and planned sections (dated after today) as an
    iCalendar file to import or subscribe to.

    Every event has a stable UID, so a calendar app updates events when the CRM changes
    instead of adding duplicates.
    """
    from ..exports.ics import build_calendar

    crm = _load(root)
    if crm is not None:
        _emit(build_calendar(crm, None, today, include_private=include_private), out)
