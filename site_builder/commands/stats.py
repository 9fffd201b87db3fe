"""crm stats and crm due: the relationship figures of site_builder.stats, for people."""

from __future__ import annotations

import sys
import unicodedata
from datetime import date
from pathlib import Path
from typing import Any, Callable

import click

from .. import api
from ..fs import NotACrmError
from ..jsontext import indented_json, indented_json_bytes
from ..loader import hold_until_exit
from ..stats import DueReport, Stats, compute, due_items
from ..stats_words import contact_phrases, money_text, org_phrases
from .common import fail_usage, format_option, not_a_crm, root_option, today_option


def load_stats(root: Path, today: date) -> tuple[api.CheckResult, Stats]:
    """Load and check the CRM, then compute in full; a one-line note on stderr if it has
    errors. `crm stats` computes in full, not from the stats' memory: with --json at
    10,000 contacts it peaks at about 385 MB (520 MB when nothing is cached yet), and the
    memory would add about 15 MB."""
    result, stats, _ = _load_stats(root, today, remembered=False)
    return result, stats


def load_remembered_stats(root: Path, today: date) -> tuple[api.CheckResult, Stats, Callable[[], None]]:
    """load_stats from (and into) the stats' memory in .crm-cache/stats.bin, as builds do
    (`crm due`, run every day: its full computation primes the day's first build); the
    third value writes the memory, which the caller does once its output is shown."""
    return _load_stats(root, today, remembered=True)


def _load_stats(root: Path, today: date, remembered: bool) -> tuple[api.CheckResult, Stats, Callable[[], None]]:
    try:
        # From the memory, the stats read the notes of the changed files only.
        result = api.check(root, lazy=remembered)
    except NotACrmError as exc:
        not_a_crm(exc)
        raise  # not reached: not_a_crm exits
    if result.errors:
        click.echo(f"crm: note: `crm check` reports {len(result.errors)} errors; "
                   "figures are computed on what could be read", err=True)
    if remembered:
        stats, keep = api.compute_stats_then_keep(result, today)
    else:
        stats, keep = compute(result.crm, today), (lambda: None)
    hold_until_exit(result, stats)
    return result, stats, keep


def write_bytes(data: bytes) -> None:
    """data to standard output as it is (through the text layer where there is no other)."""
    stream = getattr(sys.stdout, "buffer", None)
    if stream is None:
        click.echo(data.decode("utf-8"), nl=False)
        return
    sys.stdout.flush()
    stream.write(data)
    stream.flush()


def _json(data: Any) -> str:
    return indented_json(data)


@click.command("stats")
@root_option
@today_option
@click.option("--json", "as_json", is_flag=True, help="Print every figure as JSON: {contacts, orgs, summary}.")
@click.argument("slug", required=False)
def stats_command(root: Path, today: date, as_json: bool, slug: str | None) -> None:
    """Relationship figures: touches, follow-ups, money, pipeline, funnel.

    Without SLUG, a summary of the whole CRM; with the SLUG of a contact (or an org),
    that one in full. --json prints the figures as JSON instead (all of them, or the one
    SLUG's): dates as YYYY-MM-DD, money per currency ({"EUR": 1200}) and never summed
    across currencies. Every figure is defined in docs/stats.md.
    """
    result, stats = load_stats(root, today)
    if slug is not None:
        figures = stats.contacts.get(slug) or stats.orgs.get(slug)
        if figures is None:
            fail_usage(f"no contact or org with the slug '{slug}' (the file name without .md)")
            return
        click.echo(_json(figures) if as_json else render_one(figures, slug in stats.contacts))
        return
    if as_json:
        figures = stats.to_json()
        hold_until_exit(result, stats, figures)  # about 100 MB of objects at 10,000 contacts
        # As UTF-8 bytes: 28 MB at 10,000 contacts, not held a second time as a str and
        # encoded again (that was the command's peak memory, about 600 MB with no cache yet).
        write_bytes(indented_json_bytes(figures) + b"\n")
    else:
        click.echo(render_summary(stats, result.crm.config.title))


@click.command("due")
@root_option
@today_option
@click.option("--within", type=click.IntRange(min=0), default=7, show_default=True, metavar="DAYS",
              help="Include what falls due up to this many days after today.")
@format_option
def due_command(root: Path, today: date, within: int, fmt: str) -> None:
    """Who needs attention now or in the next DAYS days.

    Most urgent first: follow-ups, contacts overdue by their cadence, contacts with a
    cadence never contacted, birthdays; then, separately, over-contacted contacts to
    leave alone for a while. Snoozed contacts are left out until their snooze_until date.
    --format json prints a list of {slug, name, reason, date, detail}, reason being one
    of follow-up, overdue, never-contacted, birthday, over-contacted.
    """
    result, stats, keep = load_remembered_stats(root, today)
    report = due_items(result.config, stats, today, within)
    click.echo(_json(report.to_json()) if fmt == "json" else render_due(report))
    keep()  # after the list is shown: the first `crm due` of a day writes the whole memory


# --- text ----------------------------------------------------------------------------


def render_due(report: DueReport) -> str:
    lines = [f"Due on or before {_plus_days(report.today, report.within)} (today {report.today}):"]
    if not report.attention:
        lines.append("  nothing: everyone is in touch")
    width = max((display_width(i.name) for i in (*report.attention, *report.over_contacted)), default=0)
    for item in report.attention:
        lines.append(f"  {item.date}  {item.reason:<15}  {_pad(item.name, width)}  {item.detail}")
    if report.over_contacted:
        lines.append("")
        lines.append("Over-contacted (give them a break):")
        for item in report.over_contacted:
            lines.append(f"  {_pad(item.name, width)}  {item.detail}")
    return "\n".join(lines)


def display_width(text: str) -> int:
    """Terminal columns: wide (CJK) characters take two."""
    return sum(2 if unicodedata.east_asian_width(ch) in "WF" else 1 for ch in text)


def _pad(text: str, width: int) -> str:
    return text + " " * max(0, width - display_width(text))


def plural(n: int, word: str) -> str:
    return f"{n} {word}" if n == 1 else f"{n} {word}s"


def _plus_days(iso: str, n: int) -> str:
    from datetime import timedelta

    return (date.fromisoformat(iso) + timedelta(days=n)).isoformat()


def _counts(counts: dict[str, int]) -> str:
    return " · ".join(f"{k} {v}" for k, v in counts.items()) or "none"


def render_summary(stats: Stats, title: str) -> str:
    s = stats.summary
    funnel = " → ".join(
        f"{f['stage']} {f['reached']}" + (f" ({f['percent_of_leads']:g}%)" if i and f["percent_of_leads"] is not None
                                          else "")
        for i, f in enumerate(s["funnel"])
    )
    deals = s["deals"]
    won = f" ({deals['won_percent']:g}% won)" if deals["won_percent"] is not None else ""
    lost_to = ", ".join(f"{k} {v}" for k, v in deals["lost_to"].items())
    attention = s["attention"]
    months = s["touches_per_month"]
    rows = [
        f"{title}: {s['contacts']} contacts, {s['orgs']} orgs (today {s['today']})",
        "",
        ("Status", _counts(s["by_status"])),
        ("Tiers", _counts(s["by_tier"])),
        ("Sources", _counts(s["by_source"])),
        ("Funnel", funnel),
        ("Deals", f"{deals['won']} won, {deals['lost']} lost{won}, {deals['open']} open"
                  + (f"; lost to {lost_to}" if lost_to else "")),
        ("Convert", f"median {s['median_days_to_convert']} days from first contact to customer"
                    if s["median_days_to_convert"] is not None else "no conversions recorded"),
        ("Revenue", f"lifetime {money_text(s['revenue']['lifetime'])}"),
        *[("", f"{year}: {money_text(m)}") for year, m in s["revenue"]["by_year"].items()],
        ("Unpaid", f"{money_text(s['revenue']['outstanding'])} (overdue {money_text(s['revenue']['overdue'])})"),
        ("Pipeline", money_text(s["revenue"]["pipeline"])),
        ("Touches", f"{s['touches']} in total; last 12 months: {sum(m['touches'] for m in months[-12:])}; "
                    f"this month: {months[-1]['touches']}"),
        ("Attention", f"{plural(attention['follow_ups_due'], 'follow-up')} due, {attention['overdue']} overdue, "
                      f"{attention['never_touched']} never touched, {attention['over_contacted']} over-contacted, "
                      f"{plural(attention['upcoming_birthdays'], 'birthday')} soon, {attention['snoozed']} snoozed"),
        ("Segments", _counts(s["rfm_segments"])),
        ("Churn", f"{plural(s['churn']['count'], 'former customer')} in the last year"
                  + (f" ({s['churn']['percent']:g}%)" if s["churn"]["percent"] is not None else "")),
        ("Time zones", _counts(s["timezones"])),
    ]
    referrers = [t for t in s["referral_tree"] if t["brought_total"]]
    rows.extend(_labelled("Referrals", [f"{t['name']} brought {money_text(t['brought_total'])}" for t in referrers]))
    rows.extend(_labelled("Dependence", [
        f"{g['name']}: " + ", ".join(f"{share * 100:.0f}% of {cur}" for cur, share in g["share"].items())
        for g in s.get("revenue_concentration", [])[:3]]))
    rows.extend(_labelled("Risk", [
        f"A-tier {r['name']}: only {plural(r['org_contacts'], 'contact')} at {r['org']}" for r in s["a_tier_thin_orgs"]]))
    rows.append("")
    rows.append("`crm due` lists who needs attention; `crm stats SLUG` shows one contact in full.")
    return "\n".join(r if isinstance(r, str) else f"{r[0]:<11} {r[1]}" for r in rows)


def _labelled(label: str, texts: list[str]) -> list[tuple[str, str]]:
    """The label on the first line only, so a list reads as one block."""
    return [(label if i == 0 else "", text) for i, text in enumerate(texts)]


def render_one(figures: dict[str, Any], is_contact: bool) -> str:
    phrases = contact_phrases(figures) if is_contact else org_phrases(figures)
    lines = [f"{figures['name']} ({figures['path']})"]
    lines += [f"  {p}" for p in phrases]
    if figures.get("topics"):
        lines.append("  topics: " + ", ".join(f"#{t} {n}" for t, n in figures["topics"].items()))
    if figures.get("touches_by_kind"):
        lines.append("  touches by kind: " + _counts(figures["touches_by_kind"]))
    if figures.get("revenue_by_year"):
        lines.append("  revenue by year: " + "; ".join(f"{y}: {money_text(m)}"
                                                       for y, m in figures["revenue_by_year"].items()))
    if not is_contact and figures.get("contacts"):
        lines.append("  contacts: " + ", ".join(figures["contacts"]))
    lines.append("  (`--json` gives every figure)")
    return "\n".join(lines)
