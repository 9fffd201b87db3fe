"""crm fmt: exact canonical text, comments and custom fields kept, idempotent, meaning kept."""

from __future__ import annotations

from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from site_builder.fmt import format_file
from site_builder.parse import _FENCE, ParsedFile, parse_file

MESSY = (
    "\ufeff---\r\n"
    "# Met at PyCon\r\n"
    "tags: [client, berlin]   # flow style stays\r\n"
    "vat_id: DE298765431\r\n"
    "name: Ada Lovelace\r\n"
    "country: NO\r\n"
    "\r\n"
    "# how to reach her\r\n"
    "emails:\r\n"
    "- ada@example.com\r\n"
    "trivia: \"A very long line that must not be folded by the YAML emitter, no matter how long it gets, really.\"\r\n"
    "po_required: true\r\n"
    "---\r\n"
    "\r\n"
    "Summary.\r\n"
    "## 2025-01-01 call: Old\r\n"
    "Old text.\r\n"
    "\r\n\r\n"
    "## 2026-11-01 meeting @bob: New   \r\n"
    "\r\n"
    "New text.\r\n"
    "\r\n"
    "## Not dated\r\n"
    "Still the new section.\r\n"
    "## 2026-11-01 email: Same day, second\r\n"
    "```\r\n"
    "## 2020-01-01 inside a fence\r\n"
    "```"
)

CANONICAL = (
    "---\n"
    "name: Ada Lovelace\n"
    "\n"
    "# how to reach her\n"
    "emails:\n"
    "- ada@example.com\n"
    "# Met at PyCon\n"
    "tags: [client, berlin]   # flow style stays\n"
    "trivia: \"A very long line that must not be folded by the YAML emitter, no matter how long it gets, really.\"\n"
    "vat_id: DE298765431\n"
    "country: NO\n"
    "po_required: true\n"
    "---\n"
    "Summary.\n"
    "\n"
    "## 2026-11-01 meeting @bob: New\n"
    "\n"
    "New text.\n"
    "\n"
    "## Not dated\n"
    "Still the new section.\n"
    "\n"
    "## 2026-11-01 email: Same day, second\n"
    "\n"
    "```\n"
    "## 2020-01-01 inside a fence\n"
    "```\n"
    "\n"
    "## 2025-01-01 call: Old\n"
    "\n"
    "Old text.\n"
)


def _meaning(parsed: ParsedFile) -> tuple[Any, ...]:
    sections = sorted((s.date, s.kind, s.title, s.body, s.participants) for s in parsed.sections)
    return parsed.meta, parsed.summary, sections


def test_messy_file_gets_the_exact_canonical_text() -> None:
    result = format_file("contacts/ada.md", MESSY.encode("utf-8"))
    assert result.problems == []
    assert result.text == CANONICAL
    assert result.changed
    again = format_file("contacts/ada.md", CANONICAL.encode("utf-8"))
    assert again.text == CANONICAL and not again.changed
    assert _meaning(parse_file("a", MESSY.encode())) == _meaning(parse_file("a", CANONICAL.encode()))


def test_org_files_use_the_org_key_order() -> None:
    text = "---\ntags: [x]\nparent: group\nwebsite: https://x.example\nname: X\n---\n"
    result = format_file("orgs/x.md", text.encode())
    assert result.text == "---\nname: X\nwebsite: https://x.example\nparent: group\ntags: [x]\n---\n"


def test_files_with_parse_errors_are_refused() -> None:
    for text in ("---\nname: A\nname: B\n---\n", "---\nname: [x\n---\n", "---\nname: A\n---\n## 2026-02-30 call\n"):
        result = format_file("contacts/a.md", text.encode())
        assert result.text is None and result.problems and result.problems[0].severity == "error"


def test_reordering_that_would_change_meaning_is_refused() -> None:
    # the alias would come before its anchor once `tags` moves above `vat`
    text = "---\nname: A\nvat: &v [x]\ntags: *v\n---\n"
    result = format_file("contacts/a.md", text.encode())
    assert result.text is None and result.problems[0].code == "fmt-would-change-meaning"


def test_cli_check_changes_nothing_and_lists_files(make_crm, cli) -> None:  # type: ignore[no-untyped-def]
    root = make_crm({"contacts/ada.md": MESSY.encode("utf-8"), "contacts/bob.md": "---\nname: Bob\n---\n"})
    result = cli("fmt", "--check", "--root", str(root))
    assert result.exit_code == 1
    assert result.stdout == "would reformat contacts/ada.md\n"
    assert (root / "contacts/ada.md").read_bytes() == MESSY.encode("utf-8")
    result = cli("fmt", "--root", str(root))
    assert result.exit_code == 0 and result.stdout == "reformatted contacts/ada.md\n"
    assert (root / "contacts/ada.md").read_text(encoding="utf-8") == CANONICAL
    assert cli("fmt", "--check", "--root", str(root)).exit_code == 0


def test_cli_paths_and_bad_files(make_crm, cli, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    root = make_crm({"contacts/ada.md": MESSY.encode("utf-8"), "orgs/bad.md": "---\nname: [x\n---\n",
                     "orgs/ok.md": "---\nname: Ok\n---\n"})
    monkeypatch.chdir(root)
    result = cli("fmt", "--check", "orgs")
    assert result.exit_code == 1 and "orgs/bad.md:3: error: YAML syntax error" in result.stderr and result.stdout == ""
    result = cli("fmt", "contacts/ada.md", "crm.yaml")
    assert result.exit_code == 1 and "not a contact or org file" in result.stderr
    assert (root / "contacts/ada.md").read_text(encoding="utf-8") == CANONICAL
    assert (root / "orgs/bad.md").read_text() == "---\nname: [x\n---\n"


# --- property tests ---------------------------------------------------------------

_words = st.text(alphabet="abcdefghijklmnopqrstuvwxyz", min_size=1, max_size=8)
_values = st.one_of(
    _words, st.sampled_from(["NO", "yes", "0471 12", "'+49 40'", "\"quoted: x\"", "[a, b]", "12", "true",
                             "2025-03-04", "Zoë Müller", "~", ""]),
)
_keys = st.sampled_from(["name", "emails", "tags", "tier", "status", "since", "org", "cadence", "trivia",
                         "vat_id", "country", "po_required", "zeta", "alpha", "website", "parent"])


@st.composite
def _front_matter(draw: st.DrawFn) -> list[str]:
    keys = draw(st.lists(_keys, min_size=1, max_size=8, unique=True))
    lines: list[str] = []
    for key in keys:
        if draw(st.booleans()):
            lines.append(draw(st.sampled_from(["", "# a comment", "#", "# about " + key])))
        if draw(st.integers(0, 4)) == 0:
            lines += [f"{key}:", *(f"{draw(st.sampled_from(['  - ', '- ']))}{draw(_words)}"
                                   for _ in range(draw(st.integers(1, 3))))]
        else:
            comment = draw(st.sampled_from(["", "  # trailing"]))
            lines.append(f"{key}: {draw(_values)}{comment}")
    return lines


_headings = st.builds(
    lambda d, kind, title: f"## 2026-{d[0]:02d}-{d[1]:02d}{kind}{title}",
    st.tuples(st.integers(1, 12), st.integers(1, 28)),
    st.sampled_from(["", " call", " meeting @bob", " note", " dinner"]),
    st.sampled_from(["", ": Title", ": #topic here", ":", "   "]),
)
_body_lines = st.sampled_from(["", "text", "  indented", "## Open questions", "- item @ada", "```", "~~~",
                               "## 2026-01-01 in text", "#tag", "   ", "---"])


@st.composite
def _files(draw: st.DrawFn) -> bytes:
    lines = ["---", *draw(_front_matter()), "---"]
    lines += draw(st.lists(_body_lines, max_size=3))
    for _ in range(draw(st.integers(0, 5))):
        lines.append(draw(_headings))
        lines += draw(st.lists(_body_lines, max_size=4))
    newline = draw(st.sampled_from(["\n", "\r\n"]))
    text = newline.join(lines) + draw(st.sampled_from(["", newline, newline * 3]))
    if draw(st.booleans()):
        text = "\ufeff" + text
    return text.encode("utf-8")


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(_files())
def test_fmt_keeps_meaning_and_is_idempotent(data: bytes) -> None:
    before = parse_file("contacts/x.md", data)
    result = format_file("contacts/x.md", data)
    if result.text is None:
        # refused only for files that do not parse cleanly or whose reordering would not be safe
        codes = {p.code for p in result.problems}
        assert any(p.severity == "error" for p in before.problems) or codes == {"fmt-would-change-meaning"}
        return
    after = parse_file("contacts/x.md", result.text.encode("utf-8"))
    assert _meaning(after) == _meaning(before)
    assert result.text.endswith("\n") and not result.text.endswith("\n\n")
    assert "\r" not in result.text and not result.text.startswith("\ufeff")
    assert "\n\n\n" not in result.text.split("\n---\n", 1)[1] or "\n\n\n" in before.summary + "".join(
        s.body for s in before.sections)
    second = format_file("contacts/x.md", result.text.encode("utf-8"))
    assert second.text == result.text and not second.changed
    dates = [s.date for s in sorted(after.sections, key=lambda s: s.line)]
    assert dates == sorted(dates, reverse=True)


def _leaves_a_fence_open(text: str) -> bool:
    """The parser's fence rule: does this text end inside a code fence?"""
    fence: str | None = None
    for line in text.split("\n"):
        m = _FENCE.match(line)
        if m and fence is None:
            fence = m.group(1)[0] * 3
        elif m and m.group(1).startswith(fence or "\0"):
            fence = None
    return fence is not None


@settings(max_examples=200, deadline=None)
@given(_files())
def test_fmt_never_refuses_a_clean_file_with_simple_values(data: bytes) -> None:
    parsed = parse_file("contacts/x.md", data)
    # an unclosed fence swallows the sections after it, so moving it would change them
    fences_closed = not any(_leaves_a_fence_open(t) for t in [parsed.summary, *(s.body for s in parsed.sections)])
    if parsed.ok and not any(p.severity == "error" for p in parsed.problems) and fences_closed:
        assert format_file("contacts/x.md", data).text is not None


@settings(max_examples=200, deadline=None)
@given(_files())
def test_key_lines_from_our_parser_match_ruamel(data: bytes) -> None:
    """The fast path (keys already in order: positions from parse.py) gives the same text
    as asking ruamel.yaml's round-trip parser where the keys are."""
    from site_builder.fmt import keys_in_place, reorder_front_matter
    from site_builder.model import CONTACT_KEYS

    parsed = parse_file("contacts/x.md", data)
    if not parsed.ok or any(p.severity == "error" for p in parsed.problems):
        return
    fast = keys_in_place(parsed, CONTACT_KEYS)
    text = data.decode("utf-8").removeprefix("\ufeff").replace("\r\n", "\n")
    lines = text.split("\n")
    close = next(i for i in range(1, len(lines)) if lines[i].rstrip() in ("---", "..."))
    if fast is not None:
        assert reorder_front_matter(lines[1:close], CONTACT_KEYS, fast) == reorder_front_matter(lines[1:close], CONTACT_KEYS)
