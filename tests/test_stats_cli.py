"""`crm stats` and `crm due` through the CLI, on the fixture and on the sample CRM."""

from __future__ import annotations

import json
from datetime import date
import shutil
from pathlib import Path

import pytest

# As in conftest.py (not imported by name: tests/browser has a conftest module too).
SAMPLE_ROOT = Path(__file__).resolve().parent.parent
TODAY_ARG = "2026-11-22"
FIXTURE_SOURCE = Path(__file__).parent / "fixtures" / "stats"


@pytest.fixture(scope="module")
def stats_root(tmp_path_factory: pytest.TempPathFactory) -> str:
    """A copy of the fixture, so the commands' cache is never written into the repository."""
    root = tmp_path_factory.mktemp("stats") / "crm"
    shutil.copytree(FIXTURE_SOURCE, root, ignore=shutil.ignore_patterns(".crm-cache"))
    return str(root)


def test_stats_json_on_sample_is_well_formed(cli) -> None:  # type: ignore[no-untyped-def]
    result = cli("stats", "--json", "--root", str(SAMPLE_ROOT), "--today", TODAY_ARG)
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert set(data) == {"contacts", "orgs", "summary"}
    slugs = [c["slug"] for c in data["contacts"]]
    assert slugs == sorted(slugs) and slugs
    assert [o["slug"] for o in data["orgs"]] == sorted(o["slug"] for o in data["orgs"])
    for contact in data["contacts"]:
        assert isinstance(contact["touches"], int)
        for currency, amount in contact["lifetime_value"].items():
            assert len(currency) == 3 and isinstance(amount, (int, float))
    assert len(data["summary"]["touches_per_month"]) == 24


def test_due_json_on_sample_is_well_formed(cli) -> None:  # type: ignore[no-untyped-def]
    result = cli("due", "--format", "json", "--root", str(SAMPLE_ROOT), "--today", TODAY_ARG)
    assert result.exit_code == 0, result.output
    items = json.loads(result.stdout)
    assert isinstance(items, list)
    for item in items:
        assert {"slug", "name", "reason", "date"} <= item.keys()
        assert item["reason"] in ("follow-up", "overdue", "never-contacted", "birthday", "over-contacted")


def test_due_json_on_fixture(cli, stats_root) -> None:  # type: ignore[no-untyped-def]
    result = cli("due", "--format", "json", "--root", stats_root, "--today", TODAY_ARG)
    assert result.exit_code == 0
    pairs = [(i["slug"], i["reason"], i["date"]) for i in json.loads(result.stdout)]
    assert pairs == [
        ("alice", "follow-up", "2026-11-20"),
        ("frank", "overdue", "2026-03-18"),
        ("bob", "overdue", "2026-10-01"),
        ("gina", "overdue", "2026-11-25"),
        ("erin", "overdue", "2026-11-26"),
        ("dave", "never-contacted", "2026-11-01"),
        ("gina", "birthday", "2026-11-22"),
        ("alice", "over-contacted", "2026-11-22"),
    ]


def test_due_text_shows_over_contacted_apart(cli, stats_root) -> None:  # type: ignore[no-untyped-def]
    result = cli("due", "--root", stats_root, "--today", TODAY_ARG, "--within", "30")
    assert result.exit_code == 0
    head, over = result.stdout.split("Over-contacted")
    assert "Due on or before 2026-12-22 (today 2026-11-22):" in head
    assert "turns 46 in 9 days" in head and "Carol" not in head  # snoozed
    assert "Alice Adams" in over and "4 touches in the last 7 days (limit 3)" in over


def test_stats_text_summary_and_one_contact(cli, stats_root) -> None:  # type: ignore[no-untyped-def]
    summary = cli("stats", "--root", stats_root, "--today", TODAY_ARG)
    assert summary.exit_code == 0
    assert "Stats fixture: 7 contacts, 3 orgs (today 2026-11-22)" in summary.stdout
    assert "lifetime 16,800.50 EUR + 5,000 GBP + 1,200 USD" in summary.stdout
    assert "lead 5 → qualified 4 (80%) → opportunity 3 (60%) → customer 3 (60%)" in summary.stdout
    assert "Dependence  Acme Corp: 95% of EUR, 100% of GBP, 100% of USD\n            Beta Ltd: 5% of EUR" in summary.stdout
    one = cli("stats", "alice", "--root", stats_root, "--today", TODAY_ARG)
    assert one.exit_code == 0
    for phrase in ("last touch today (2026-11-22), 6 in total", "keep-in-touch due in 14 days (every 14 days)",
                   "pays 8 days late on average (50% of invoices late)", "birthday on 2026-12-01 (turns 46)",
                   "lifetime value 6,000.50 EUR + 1,200 USD", "1,200 USD unpaid, 500 USD overdue"):
        assert phrase in one.stdout
    as_json = cli("stats", "frank", "--json", "--root", stats_root, "--today", TODAY_ARG)
    assert json.loads(as_json.stdout)["avg_days_late"] == 5.0


def test_unknown_slug_is_a_usage_error(cli, stats_root) -> None:  # type: ignore[no-untyped-def]
    result = cli("stats", "nobody", "--root", stats_root, "--today", TODAY_ARG)
    assert result.exit_code == 2
    assert "no contact or org with the slug 'nobody'" in result.stderr


def test_errors_give_a_note_but_stats_still_print(cli, make_crm) -> None:  # type: ignore[no-untyped-def]
    root = make_crm({
        "contacts/x.md": "---\nname: X\nfollow_up: 2026-11-01\n---\n",
        "contacts/broken.md": "---\nname: [unclosed\n---\n",
    })
    result = cli("due", "--format", "json", "--root", str(root), "--today", TODAY_ARG)
    assert result.exit_code == 0
    assert "crm check" in result.stderr and "errors" in result.stderr
    assert [i["slug"] for i in json.loads(result.stdout)] == ["x"]


def test_not_a_crm(cli, tmp_path) -> None:  # type: ignore[no-untyped-def]
    result = cli("stats", "--root", str(tmp_path / "missing"), "--today", TODAY_ARG)
    assert result.exit_code == 2


def test_help_texts(cli) -> None:  # type: ignore[no-untyped-def]
    assert "docs/stats.md" in cli("stats", "--help").stdout
    assert "--within" in cli("due", "--help").stdout


def test_stats_for_an_org_in_words(cli, stats_root) -> None:  # type: ignore[no-untyped-def]
    result = cli("stats", "acme", "--root", stats_root, "--today", TODAY_ARG)
    assert result.exit_code == 0
    assert "Acme Corp (orgs/acme.md)" in result.stdout
    assert "last touch today (2026-11-22), 9 in total" in result.stdout
    assert "3 contacts" in result.stdout and "no decision maker" not in result.stdout
    assert ("lifetime value 16,000.50 EUR + 5,000 GBP + 1,200 USD "
            "(95% of all EUR, 100% of all GBP, 100% of all USD)") in result.stdout
    labs = cli("stats", "acme-labs", "--root", stats_root, "--today", TODAY_ARG)
    assert "no influencer known" in labs.stdout


def test_json_bytes_reach_a_standard_output_without_a_binary_layer(monkeypatch) -> None:  # type: ignore[no-untyped-def]
    import io
    import sys

    from site_builder.commands.stats import write_bytes

    text_only = io.StringIO()
    monkeypatch.setattr(sys, "stdout", text_only)
    write_bytes('{"name": "Zoë"}\n'.encode("utf-8"))
    assert text_only.getvalue() == '{"name": "Zoë"}\n'


def test_due_shows_the_list_before_it_writes_the_stats_memory(cli, tmp_path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    """The first `crm due` of a day computes in full and writes the whole stats' memory
    (about 0.4 s at 10,000 contacts) for the day's first build: after the list is shown.
    The same day again, nothing changed: nothing is written."""
    import click

    from site_builder import stats_incremental

    root = tmp_path / "crm"
    shutil.copytree(FIXTURE_SOURCE, root, ignore=shutil.ignore_patterns(".crm-cache"))
    events: list[str] = []
    write, echo = stats_incremental.write_memory, click.echo
    monkeypatch.setattr(stats_incremental, "write_memory", lambda *a: (events.append("write"), write(*a))[1])
    monkeypatch.setattr(click, "echo", lambda *a, **k: (events.append("echo"), echo(*a, **k))[1])
    first = cli("due", "--root", str(root), "--today", TODAY_ARG)
    assert first.exit_code == 0, first.output
    assert "Due on or before" in first.stdout and events[-2:] == ["echo", "write"]
    assert stats_incremental.read_memory(root).stats is not None
    events.clear()
    again = cli("due", "--root", str(root), "--today", TODAY_ARG)
    assert again.stdout == first.stdout and "write" not in events


def _settled_copy(tmp_path) -> Path:  # type: ignore[no-untyped-def]
    """A copy of the fixture whose files were last written long ago: their stamps in the
    cache are trusted at once (a file written in the last 2 s is read again to be sure)."""
    root = tmp_path / "crm"
    shutil.copytree(FIXTURE_SOURCE, root, ignore=shutil.ignore_patterns(".crm-cache"))
    for path in root.rglob("*"):
        os_utime_past(path)
    return root


def test_due_after_the_days_build_loads_nothing_and_says_the_same(cli, tmp_path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    """After `crm build` (or a `crm due`) of the same day on the same files, `crm due`
    takes the check's answer and the stats' memory as they are, without loading the
    CRM; another day or an edit loads it again. Every answer is the one a copy of the
    CRM without any cache gives."""
    import itertools

    from site_builder import loader
    from site_builder.build import build_site

    root = _settled_copy(tmp_path)
    source = tmp_path / "source"  # the files, never run on
    shutil.copytree(root, source)
    copies = itertools.count()

    def due(where: Path, day: str) -> str:
        result = cli("due", "--format", "json", "--root", str(where), "--today", day, "--within", "30")
        assert result.exit_code == 0, result.output
        return result.stdout

    def uncached(day: str) -> str:
        copy = tmp_path / f"copy-{next(copies)}"
        shutil.copytree(source, copy)
        return due(copy, day)

    build_site(root, tmp_path / "site", date.fromisoformat(TODAY_ARG))
    real_load = loader.load
    import site_builder.api as api_module

    for module in (loader, api_module):
        monkeypatch.setattr(module, "load", lambda *a, **k: pytest.fail("loaded the CRM"))
    got = due(root, TODAY_ARG)
    for module in (loader, api_module):
        monkeypatch.setattr(module, "load", real_load)
    assert got == uncached(TODAY_ARG) and json.loads(got)
    # Another day (far enough for birthdays and snoozes to move): computed in full.
    later = due(root, "2027-06-01")
    assert later == uncached("2027-06-01") and later != got
    # An edit, then `crm check` (its answer kept for the new files, the stats' memory
    # still of the old ones, of the same day): the same again.
    for where in (root, source):
        with (where / "contacts" / "erin.md").open("a", encoding="utf-8") as handle:
            handle.write("\n## 2027-05-30 call: Catch-up\n\nQuick call.\n")
        os_utime_past(where / "contacts" / "erin.md")
    assert cli("check", "--root", str(root)).exit_code == 0
    edited = due(root, "2027-06-01")
    assert edited == uncached("2027-06-01") and edited != later


def test_a_build_keeps_its_problems_as_the_checks_answer(tmp_path) -> None:  # type: ignore[no-untyped-def]
    """`crm check` right after `crm build` answers from the cache, with the problems a
    check without any cache finds."""
    from site_builder import api
    from site_builder.build import build_site

    root = _settled_copy(tmp_path)
    (root / "contacts" / "broken.md").write_text("---\nname: [unclosed\n---\n", encoding="utf-8")
    os_utime_past(root / "contacts" / "broken.md")
    build_site(root, tmp_path / "site", date.fromisoformat(TODAY_ARG))
    answer = api.check(root)
    assert not answer.loaded
    assert answer.problems == api.check(root, cache=False).problems and answer.errors
    assert (answer.contact_count, answer.org_count) == (len(answer.crm.contacts), len(answer.crm.orgs))


def os_utime_past(path: Path) -> None:
    import os

    os.utime(path, (1_700_000_000, 1_700_000_000))
