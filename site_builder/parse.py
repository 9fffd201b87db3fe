"""Bytes of one file -> front matter, key lines, summary and dated sections.

Pure: no file system, no clock. Every problem carries the file's line number. We split
the front matter ourselves instead of through python-frontmatter because we need the
exact line of every key, must accept a UTF-8 BOM (python-frontmatter then returns empty
metadata) and CRLF line ends, and this is the hot path of every build.
"""

from __future__ import annotations

import re
import sys
from dataclasses import dataclass, field
from datetime import date
from typing import Any, NamedTuple

from .problems import Problem, error, warning

MAX_FILE_BYTES = 2 * 1024 * 1024  # a contact file is a few KB; 2 MiB is a pasted mistake

_DATE_LIKE = re.compile(r"^(\d{4})-(\d{1,2})-(\d{1,2})(?=$|[\s:])")
_KIND = re.compile(r"^([A-Za-z][A-Za-z0-9_-]*)(?=$|[\s:])")
# @slug not preceded by a word character, so email addresses are not mentions. The
# look-behind comes after the '@' (it checks the character before it) so that the
# pattern starts with a literal, which the regex engine finds 10x faster than it
# tries a leading look-behind at every position.
MENTION = re.compile(r"@(?<![\w@./]@)([a-z0-9][a-z0-9-]*[a-z0-9]|[a-z0-9])(?![\w-])")
# #topic not preceded by a word character or '&' (HTML entities) or '/' (URL fragments).
TOPIC = re.compile(r"#(?<![\w&/#]#)([^\W\d_][\w-]*)")
_LEADING_PARTICIPANTS = re.compile(r"^(?:@[a-z0-9][a-z0-9-]*\s*)+(?=:|$)")
_FENCE = re.compile(r"^ {0,3}(`{3,}|~{3,})")
# A newline before a line that may matter to split_sections: a "## " one (group 1: the
# rest of it) or one that _FENCE may match. Starting with a plain "\n" makes the scan
# jump from newline to newline (a multiline "^" is tried at every character, 4x slower).
_FENCE_OR_HEADING = re.compile(r"\n(?:## ([^\n]*)| {0,3}(?:```|~~~))")
# The usual heading, "2026-01-05 call @ada @bob: Title" (kind in lower case, one space
# after the date, ": " before the title), read in one match; anything else takes
# _parse_heading_generally, which gives the same for these.
_PLAIN_HEADING = re.compile(r"([0-9]{4})-([0-9]{2})-([0-9]{2}) ([a-z][a-z0-9_-]*)"
                            r"((?: @[a-z0-9][a-z0-9-]*)*)(?:: (\S.*))?")
# The newline before the line that closes the front matter, and that line; \s is
# exactly what str.rstrip() strips. (A leading "\n" rather than a multiline "^": see
# _FENCE_OR_HEADING.)
_FRONT_MATTER_CLOSE = re.compile(r"\n(?:---|\.\.\.)[^\S\n]*(?=\n|\Z)")


class Section(NamedTuple):
    """One dated section. A named tuple, not a dataclass: a big CRM has 200,000 of them,
    and a tuple is built (from the cache, by the parser) several times faster."""

    date: date
    kind: str  # lower-case; "note" when the heading names none
    title: str
    line: int  # line of the heading in the file
    body: str  # Markdown text under the heading
    body_line: int  # file line of the body's first line
    participants: tuple[str, ...]  # @slugs in the heading
    mentions: tuple[str, ...]  # @slugs in the body
    topics: tuple[str, ...]  # #words in heading and body, lower-case, in order, repeated


@dataclass(slots=True)
class ParsedFile:
    path: str
    meta: dict[str, Any] = field(default_factory=dict)
    lines: dict[tuple[str | int, ...], int] = field(default_factory=dict)
    summary: str = ""
    summary_line: int = 1
    sections: list[Section] = field(default_factory=list)
    problems: list[Problem] = field(default_factory=list)
    ok: bool = True  # False when nothing usable could be read

    @property
    def front_matter_line(self) -> int:
        return 1


def parse_file(path: str, data: bytes) -> ParsedFile:
    result = ParsedFile(path=path)
    text = _decode(path, data, result)
    if text is None:
        result.ok = False
        return result
    # The file is never split into lines: lines are found where they matter (front
    # matter, fences, headings) and sections are slices of the text, which is the hot
    # path's main saving (a file has ~170 lines and ~20 sections).
    close = _front_matter_end(path, text, result)
    if close is None:
        result.ok = False
        return result
    first_nl, close_start, close_end = close
    _read_front_matter(path, text[first_nl + 1:close_start - 1], result)
    body_first_line = text.count("\n", 0, close_start) + 2
    _read_body(path, text, close_end + 1 if close_end < len(text) else None, body_first_line, result)
    return result


def _decode(path: str, data: bytes, result: ParsedFile) -> str | None:
    if len(data) > MAX_FILE_BYTES:
        result.problems.append(
            error(path, None, "file-too-large", f"file is {len(data) / 1048576:.1f} MB; the limit is "
                  f"{MAX_FILE_BYTES // 1048576} MB per file (move attachments elsewhere)")
        )
        return None
    if data.find(b"\x00", 0, 8192) >= 0:
        result.problems.append(error(path, None, "binary-file", "file looks binary (it contains NUL bytes), not Markdown"))
        return None
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = data[: exc.start].count(b"\n") + 1
        result.problems.append(
            error(path, line, "invalid-utf8", f"invalid UTF-8 at byte {exc.start} (save the file as UTF-8)")
        )
        return None
    if text.startswith("\ufeff"):
        text = text[1:]
    if "\r" in text:
        text = text.replace("\r\n", "\n").replace("\r", "\n")
    if not text or text.isspace():
        result.problems.append(error(path, None, "empty-file", "file is empty; it needs front matter with at least a name"))
        return None
    return text


def _front_matter_end(path: str, text: str, result: ParsedFile) -> tuple[int, int, int] | None:
    """(end of the first line, start and end of the closing line); ends are the index
    of the line's newline or len(text)."""
    first_nl = text.find("\n")
    if (text if first_nl < 0 else text[:first_nl]).rstrip() != "---":
        result.problems.append(
            error(path, 1, "no-front-matter", "file must start with '---' and YAML front matter (at least 'name:')")
        )
        return None
    close = _FRONT_MATTER_CLOSE.search(text, first_nl) if first_nl >= 0 else None
    if close is None:
        result.problems.append(
            error(path, 1, "front-matter-not-closed", "front matter opened here is never closed with a '---' line")
        )
        return None
    return first_nl, close.start() + 1, close.end()


def _read_front_matter(path: str, yaml_text: str, result: ParsedFile) -> None:
    from . import yamlsafe  # PyYAML on first use: a command that parses nothing never imports it

    loaded = yamlsafe.load(yaml_text, first_line=2)
    for issue in loaded.issues:
        line = issue.line if issue.line is not None else 1
        result.problems.append(
            error(path, line, issue.code, issue.message)
            if issue.severity == "error"
            else warning(path, line, issue.code, issue.message)
        )
    if not loaded.ok:
        result.ok = False
        return
    if loaded.data is None:
        return
    if not isinstance(loaded.data, dict):
        result.problems.append(
            error(path, 2, "front-matter-not-mapping",
                  f"front matter must be 'key: value' lines, not a {_yaml_kind(loaded.data)}")
        )
        result.ok = False
        return
    result.meta = {str(k): v for k, v in loaded.data.items()}
    result.lines = loaded.lines


def _yaml_kind(value: object) -> str:
    if isinstance(value, list):
        return "list"
    if isinstance(value, str):
        return "plain text"
    return type(value).__name__


def split_sections(lines: list[str]) -> tuple[list[str], list[list[str]]]:
    """The body's summary lines, then each dated section's lines (its heading first).

    A `## ` heading starts a section only when it begins with a date and is not inside
    a fenced code block. crm fmt splits with this too; parse_file finds the same
    headings in the text without splitting it (_heading_spans), and a property test
    keeps the two in step.
    """
    summary: list[str] = []
    sections: list[list[str]] = []
    current = summary
    fence: str | None = None
    for line in lines:
        fence_match = _FENCE.match(line)
        if fence_match:
            fence = _fence_after(fence, fence_match.group(1))
        elif fence is None and line.startswith("## ") and _DATE_LIKE.match(line[3:].strip()):
            current = [line]
            sections.append(current)
            continue
        current.append(line)
    return summary, sections


Span = tuple[int, int, str, "re.Match[str] | None"]


def _heading_spans(text: str, start: int) -> list[Span]:
    """(start, end, text after "## " stripped, its _PLAIN_HEADING match) of each
    section heading line in text[start:], by split_sections' rules; only lines that
    start like a fence or a "## " heading are looked at. text[start - 1] must be a
    newline."""
    spans: list[Span] = []
    plain_heading = _PLAIN_HEADING.fullmatch
    fence: str | None = None
    for candidate in _FENCE_OR_HEADING.finditer(text, start - 1):
        heading = candidate.group(1)
        if heading is not None:  # a "## " line, never a fence
            if fence is None:
                rest = heading.strip()
                plain = plain_heading(rest)
                if plain or _DATE_LIKE.match(rest):
                    spans.append((candidate.start() + 1, candidate.end(), rest, plain))
            continue
        line_start = candidate.start() + 1
        line_end = text.find("\n", line_start)
        fence_match = _FENCE.match(text[line_start:line_end if line_end >= 0 else len(text)])
        if fence_match:
            fence = _fence_after(fence, fence_match.group(1))
    return spans


def _fence_after(fence: str | None, marker: str) -> str | None:
    """The open code fence after a fence line (marker: its ``` or ~~~ run): it opens one
    when none is open, closes the open one when it is at least as long, else changes
    nothing."""
    if fence is None:
        return marker[0] * 3
    return None if marker.startswith(fence) else fence


def _block(text: str, start: int, end: int) -> tuple[str, int]:
    """The lines text[start:end] as parse_file keeps them: joined and stripped of
    blank lines at both ends ("\n".join(lines).strip("\n")), and how many blank lines
    led (all of them when every line is blank). start > end means no lines at all."""
    if start > end:
        return "", 0
    first = start
    while first < end and text[first] == "\n":
        first += 1
    if first == end:  # only blank lines: end - start newlines between end - start + 1 of them
        return "", end - start + 1
    last = end
    while text[last - 1] == "\n":
        last -= 1
    return text[first:last], first - start


def _read_body(path: str, text: str, start: int | None, first_line: int, result: ParsedFile) -> None:
    """start: where the body's first line starts in text; None when it has no lines."""
    if start is None:
        result.summary_line = first_line
        return
    spans = _heading_spans(text, start)
    end = spans[0][0] - 1 if spans else len(text)
    result.summary, blank = _block(text, start, end)
    result.summary_line = first_line + blank
    line_no = first_line + text.count("\n", start, spans[0][0]) if spans else first_line
    count = text.count
    sections = result.sections
    after_last = len(text) + 1
    for i, span in enumerate(spans, 1):
        next_start = spans[i][0] if i < len(spans) else after_last
        section = _section(path, text, span, next_start, line_no, result)
        if section is not None:
            sections.append(section)
        line_no += count("\n", span[0], next_start)


# Memos of values that recur across files; bounded, so a long `crm serve` cannot grow them
# without end.
_MEMO_LIMIT = 100_000
_DATES: dict[str, date] = {}  # "2026-01-05" -> its date: the same few thousand days recur
_KINDS: dict[str, str] = {}  # kind as written -> lower-case, interned


def _section(path: str, text: str, span: Span, next_start: int, line: int, result: ParsedFile) -> Section | None:
    """The section whose heading is span, at file line line, up to next_start (the
    next heading's start, or len(text) + 1); None when its date is impossible."""
    heading_end, rest, plain = span[1], span[2], span[3]
    # The body: _block(text, heading_end + 1, next_start - 1), inlined (hot path).
    first = heading_end + 1
    end = next_start - 1
    if first > end:
        body, body_line = "", line + 1
    else:
        while first < end and text[first] == "\n":
            first += 1
        if first == end:
            body, body_line = "", line + 1 + end - heading_end
        else:
            last = end
            while text[last - 1] == "\n":
                last -= 1
            body, body_line = text[first:last], line + first - heading_end
    when = (_DATES.get(rest[:10]) or _plain_date(plain)) if plain else None
    if when is not None:
        written_kind, title = plain.group(4, 6)  # type: ignore[union-attr]
        kind = _KINDS.get(written_kind) or _KINDS.setdefault(written_kind, sys.intern(written_kind))
        title = title or ""
    else:  # not the usual form, or an impossible date: the problems come from here
        parsed = _parse_heading_generally(path, line, rest, result)
        if parsed is None:
            return None
        when, kind, title = parsed
    # Topics of title + "\n" + body are those of the title then those of the body: the
    # newline neither blocks a topic nor is part of one.
    topics = TOPIC.findall(title) if "#" in title else []
    if "#" in body:
        topics += TOPIC.findall(body)
    return Section(
        when,
        kind,
        title,
        line,
        body,
        body_line,
        tuple(dict.fromkeys(MENTION.findall(rest))) if "@" in rest else (),
        tuple(dict.fromkeys(MENTION.findall(body))) if "@" in body else (),
        tuple(map(_TOPIC_NAMES.__getitem__, topics)) if topics else (),
    )


class _TopicNames(dict[str, str]):
    """Topic as written -> lower-case, interned: shared by many sections, and looked
    up in C (map over __getitem__) once seen."""

    def __missing__(self, written: str) -> str:
        name = sys.intern(written.lower())
        if len(self) < _MEMO_LIMIT:
            self[written] = name
        return name


_TOPIC_NAMES = _TopicNames()


def _plain_date(plain: re.Match[str]) -> date | None:
    """The date of a usual heading seen for the first time; None if impossible."""
    try:
        when = date(int(plain.group(1)), int(plain.group(2)), int(plain.group(3)))
    except ValueError:
        return None
    if len(_DATES) < _MEMO_LIMIT:
        _DATES[plain.string[:10]] = when
    return when


def _parse_heading_generally(path: str, line: int, rest: str, result: ParsedFile) -> tuple[date, str, str] | None:
    """Date, kind and title of any heading, with its problems; None if it has no date."""
    m = _DATE_LIKE.match(rest)
    assert m is not None
    written = m.group(0)
    when = _DATES.get(written)
    if when is None:
        try:
            when = date(int(m.group(1)), int(m.group(2)), int(m.group(3)))
        except ValueError as exc:
            result.problems.append(
                error(path, line, "invalid-heading-date", f"impossible date '{written}' in section heading ({exc})")
            )
            return None
        if len(_DATES) < _MEMO_LIMIT:
            _DATES[written] = when
    if len(written) != 10:  # a one-digit month or day (the year is always four digits)
        result.problems.append(
            warning(path, line, "heading-date-format", f"write the date as {when.isoformat()} (YYYY-MM-DD)")
        )
    after = rest[m.end():].strip()
    kind = "note"
    kind_match = _KIND.match(after)
    if kind_match:
        written_kind = kind_match.group(1)
        kind = _KINDS.get(written_kind) or _KINDS.setdefault(written_kind, sys.intern(written_kind.lower()))
        after = after[kind_match.end():].strip()
    if after.startswith("@"):
        after = _LEADING_PARTICIPANTS.sub("", after)  # "@ada @bob: Kickoff" -> ": Kickoff"
    return when, kind, after[1:].strip() if after.startswith(":") else after
