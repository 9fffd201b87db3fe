"""crm touch: exact file text after insertion; every other byte unchanged."""

from __future__ import annotations

import os
import stat
from datetime import date
from pathlib import Path

import pytest

from site_builder import api
from site_builder.touch import NewSection, insert_section, touch

from conftest import TODAY_ARG

NEWEST_FIRST = """\
---
name: Ada Lovelace  # the Countess
emails: [ada@example.com]
---
Summary line.

## 2026-11-20 call: Latest

Latest text.

## 2026-10-01 email

Older text.
"""


def _insert(text: str, section: NewSection) -> str:
    result = insert_section(text.encode("utf-8"), "contacts/ada.md", section)
    assert not isinstance(result, list), result
    return result[0].decode("utf-8")


def test_newest_section_goes_on_top_and_nothing_else_changes() -> None:
    out = _insert(NEWEST_FIRST, NewSection(date(2026, 11, 22), "meeting", "Kickoff", "Went well.\n#pricing",
                                           ("bob",)))
    assert out == NEWEST_FIRST.replace(
        "## 2026-11-20 call: Latest",
        "## 2026-11-22 meeting @bob: Kickoff\n\nWent well.\n#pricing\n\n## 2026-11-20 call: Latest",
    )


def test_section_goes_between_older_and_newer_and_above_the_same_date() -> None:
    same_day = _insert(NEWEST_FIRST, NewSection(date(2026, 10, 1), "call"))
    assert same_day == NEWEST_FIRST.replace("## 2026-10-01 email", "## 2026-10-01 call\n\n## 2026-10-01 email")
    middle = _insert(NEWEST_FIRST, NewSection(date(2026, 11, 1), "note", text="Heard news."))
    assert middle == NEWEST_FIRST.replace("## 2026-10-01 email",
                                          "## 2026-11-01 note\n\nHeard news.\n\n## 2026-10-01 email")


def test_oldest_section_goes_at_the_end() -> None:
    out = _insert(NEWEST_FIRST, NewSection(date(2020, 1, 2), "visit", "First"))
    assert out == NEWEST_FIRST + "\n## 2020-01-02 visit: First\n"


def test_a_file_written_oldest_first_gets_the_section_in_its_own_order() -> None:
    text = ("---\nname: Ada\n---\n\n## 2026-01-01 call\n\nOne.\n\n## 2026-03-01 call\n\nTwo.\n\n"
            "## 2026-05-01 call\n\nThree.\n")
    out = _insert(text, NewSection(date(2026, 3, 1), "email", "Same day"))
    assert out == text.replace("## 2026-05-01 call", "## 2026-03-01 email: Same day\n\n## 2026-05-01 call")
    assert _insert(text, NewSection(date(2026, 6, 1), "call")) == text + "\n## 2026-06-01 call\n"


def test_file_without_sections_or_final_newline() -> None:
    assert _insert("---\nname: Ada\n---\n", NewSection(date(2026, 11, 22), "call", "Hi")) == (
        "---\nname: Ada\n---\n\n## 2026-11-22 call: Hi\n")
    assert _insert("---\nname: Ada\n---\nSummary", NewSection(date(2026, 11, 22), "call")) == (
        "---\nname: Ada\n---\nSummary\n\n## 2026-11-22 call\n")


def test_crlf_and_bom_are_kept_and_used_for_the_new_lines() -> None:
    original = ("\ufeff" + NEWEST_FIRST).replace("\n", "\r\n")
    out = _insert(original, NewSection(date(2026, 11, 1), "call", "X", "a\nb"))
    assert out == original.replace("## 2026-10-01 email", "## 2026-11-01 call: X\r\n\r\na\r\nb\r\n\r\n## 2026-10-01 email")


def test_headings_inside_code_fences_are_not_sections() -> None:
    text = "---\nname: Ada\n---\n\n## 2026-05-01 note\n\n```\n## 2026-01-01 call\n```\n"
    out = _insert(text, NewSection(date(2026, 2, 1), "call"))
    assert out == text + "\n## 2026-02-01 call\n"


def test_unparseable_file_is_left_untouched(make_crm) -> None:  # type: ignore[no-untyped-def]
    root = make_crm({"contacts/ada.md": "---\nname: [unclosed\n---\n"})
    before = (root / "contacts/ada.md").read_bytes()
    result = touch(root, "ada", NewSection(date(2026, 11, 22), "call"))
    assert result.path is None and result.problems[0].code == "yaml-syntax"
    assert (root / "contacts/ada.md").read_bytes() == before


def test_cli_touch_writes_and_passes_check(make_crm, cli) -> None:  # type: ignore[no-untyped-def]
    root = make_crm({"contacts/ada.md": NEWEST_FIRST, "contacts/bob.md": "---\nname: Bob\n---\n",
                     "crm.yaml": "touch_kinds: [workshop]\n"})
    result = cli("touch", "ada", "workshop", "Strategy day", "-m", "Ran it.", "--with", "bob",
                 "--root", str(root), "--today", TODAY_ARG)
    assert result.exit_code == 0, result.output
    assert result.stdout == "contacts/ada.md:7: ## 2026-11-22 workshop @bob: Strategy day\n"
    assert api.check(root).problems == []
    ada = api.check(root).crm.contacts["ada"]
    assert [(s.date.isoformat(), s.kind, s.participants) for s in ada.sections][0] == ("2026-11-22", "workshop", ("bob",))


def test_cli_touch_refuses_unknown_slugs_and_warns_on_unknown_kind(make_crm, cli) -> None:  # type: ignore[no-untyped-def]
    root = make_crm({"contacts/ada.md": NEWEST_FIRST})
    before = (root / "contacts/ada.md").read_bytes()
    missing = cli("touch", "nobody", "call", "-m", "x", "--root", str(root), "--today", TODAY_ARG)
    assert missing.exit_code == 1 and "no contacts/nobody.md" in missing.stderr
    bad_with = cli("touch", "ada", "call", "-m", "x", "--with", "ghost", "--root", str(root), "--today", TODAY_ARG)
    assert bad_with.exit_code == 1 and "--with ghost" in bad_with.stderr
    heading = cli("touch", "ada", "call", "-m", "## 2026-01-01 call\nx", "--root", str(root), "--today", TODAY_ARG)
    assert heading.exit_code == 1 and "heading-in-text" in heading.stderr
    assert (root / "contacts/ada.md").read_bytes() == before
    odd = cli("touch", "ada", "dinner", "-m", "x", "--date", "2026-11-21", "--root", str(root))
    assert odd.exit_code == 0 and "unknown-kind" in odd.stderr
    assert "## 2026-11-21 dinner\n\nx\n\n## 2026-11-20 call: Latest" in (root / "contacts/ada.md").read_text()


def _editor(tmp_path: Path, text: str) -> str:
    """A real editor program: writes `text` above the template's scissors line."""
    script = tmp_path / "editor.sh"
    script.write_text(f"#!/bin/sh\nprintf '%s\\n' '{text}' | cat - \"$1\" > \"$1.new\" && mv \"$1.new\" \"$1\"\n")
    script.chmod(script.stat().st_mode | stat.S_IEXEC)
    return str(script)


def test_cli_touch_without_message_opens_the_editor(make_crm, cli, tmp_path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    root = make_crm({"contacts/ada.md": NEWEST_FIRST})
    monkeypatch.setenv("EDITOR", _editor(tmp_path, "Written in the editor."))
    result = cli("touch", "ada", "call", "From editor", "--root", str(root), "--today", TODAY_ARG)
    assert result.exit_code == 0, result.output
    assert (root / "contacts/ada.md").read_text() == NEWEST_FIRST.replace(
        "## 2026-11-20 call: Latest", "## 2026-11-22 call: From editor\n\nWritten in the editor.\n\n## 2026-11-20 call: Latest")


@pytest.mark.skipif(os.name != "posix", reason="uses a shell script as the editor")
def test_cli_touch_with_an_empty_note_aborts(make_crm, cli, tmp_path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    root = make_crm({"contacts/ada.md": NEWEST_FIRST})
    before = (root / "contacts/ada.md").read_bytes()
    monkeypatch.setenv("EDITOR", _editor(tmp_path, "   "))
    result = cli("touch", "ada", "call", "--root", str(root), "--today", TODAY_ARG)
    assert result.exit_code == 1 and "nothing written" in result.stderr
    assert (root / "contacts/ada.md").read_bytes() == before


def test_touch_refuses_slugs_that_are_paths(make_crm) -> None:  # type: ignore[no-untyped-def]
    root = make_crm({"contacts/ada.md": NEWEST_FIRST, "orgs/acme.md": "---\nname: Acme\n---\n"})
    for slug in ("../orgs/acme", "../../etc/passwd", ".hidden", ""):
        result = touch(root, slug, NewSection(date(2026, 11, 22), "call"))
        assert result.path is None and result.problems[0].code == "invalid-slug", slug
    assert (root / "orgs/acme.md").read_text() == "---\nname: Acme\n---\n"
