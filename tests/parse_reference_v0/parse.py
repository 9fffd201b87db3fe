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
from typing import Any

from . import yamlsafe
from site_builder.problems import Problem, error, warning

MAX_FILE_BYTES = 2 * 1024 * 1024  # a contact file is a few KB; 2 MiB is a pasted mistake

_DATE_LIKE = re.compile(r"^(\d{4})-(\d{1,2})-(\d{1,2})(?=$|[\s:])")
_KIND = re.compile(r"^([A-Za-z][A-Za-z0-9_-]*)(?=$|[\s:])")
# @slug not preceded by a word character, so email addresses are not mentions.
MENTION = re.compile(r"(?<![\w@./])@([a-z0-9][a-z0-9-]*[a-z0-9]|[a-z0-9])(?![\w-])")
# #topic not preceded by a word character or '&' (HTML entities) or '/' (URL fragments).
TOPIC = re.compile(r"(?<![\w&/#])#([^\W\d_][\w-]*)")
_LEADING_PARTICIPANTS = re.compile(r"^(?:@[a-z0-9][a-z0-9-]*\s*)+(?=:|$)")
_FENCE = re.compile(r"^ {0,3}(`{3,}|~{3,})")


@dataclass(slots=True)
class Section:
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
    lines = text.split("\n")
    close = _front_matter_end(path, lines, result)
    if close is None:
        result.ok = False
        return result
    _read_front_matter(path, lines[1:close], result)
    _read_body(path, lines[close + 1 :], close + 2, result)
    return result


def _decode(path: str, data: bytes, result: ParsedFile) -> str | None:
    if len(data) > MAX_FILE_BYTES:
        result.problems.append(
            error(path, None, "file-too-large", f"file is {len(data) / 1048576:.1f} MB; the limit is "
                  f"{MAX_FILE_BYTES // 1048576} MB per file (move attachments elsewhere)")
        )
        return None
    if b"\x00" in data[:8192]:
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
    if not text.strip():
        result.problems.append(error(path, None, "empty-file", "file is empty; it needs front matter with at least a name"))
        return None
    return text


def _front_matter_end(path: str, lines: list[str], result: ParsedFile) -> int | None:
    if lines[0].rstrip() != "---":
        result.problems.append(
            error(path, 1, "no-front-matter", "file must start with '---' and YAML front matter (at least 'name:')")
        )
        return None
    for i in range(1, len(lines)):
        if lines[i].rstrip() in ("---", "..."):
            return i
    result.problems.append(
        error(path, 1, "front-matter-not-closed", "front matter opened here is never closed with a '---' line")
    )
    return None


def _read_front_matter(path: str, yaml_lines: list[str], result: ParsedFile) -> None:
    loaded = yamlsafe.load("\n".join(yaml_lines), first_line=2)
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
    a fenced code block. crm fmt splits with this too, so both always agree.
    """
    summary: list[str] = []
    sections: list[list[str]] = []
    current = summary
    fence: str | None = None
    for line in lines:
        fence_match = _FENCE.match(line)
        if fence_match:
            marker = fence_match.group(1)
            if fence is None:
                fence = marker[0] * 3
            elif marker.startswith(fence):
                fence = None
        elif fence is None and line.startswith("## ") and _DATE_LIKE.match(line[3:].strip()):
            current = [line]
            sections.append(current)
            continue
        current.append(line)
    return summary, sections


def _read_body(path: str, lines: list[str], first_line: int, result: ParsedFile) -> None:
    summary, blocks = split_sections(lines)
    result.summary = "\n".join(summary).strip("\n")
    result.summary_line = first_line + _leading_blank_lines(summary)
    line_no = first_line + len(summary)
    for block in blocks:
        body_lines = block[1:]
        body_line = line_no + 1 + _leading_blank_lines(body_lines)
        section = _parse_heading(path, line_no, block[0][3:].strip(), "\n".join(body_lines).strip("\n"),
                                 body_line, result)
        if section is not None:
            result.sections.append(section)
        line_no += len(block)


def _leading_blank_lines(lines: list[str]) -> int:
    count = 0
    for line in lines:
        if line:  # matches str.strip("\n"), which is what trims the text
            break
        count += 1
    return count


def _parse_heading(path: str, line: int, rest: str, body: str, body_line: int,
                   result: ParsedFile) -> Section | None:
    m = _DATE_LIKE.match(rest)
    assert m is not None
    try:
        when = date(int(m.group(1)), int(m.group(2)), int(m.group(3)))
    except ValueError as exc:
        result.problems.append(
            error(path, line, "invalid-heading-date", f"impossible date '{m.group(0)}' in section heading ({exc})")
        )
        return None
    if len(m.group(2)) != 2 or len(m.group(3)) != 2:
        result.problems.append(
            warning(path, line, "heading-date-format", f"write the date as {when.isoformat()} (YYYY-MM-DD)")
        )
    after = rest[m.end():].strip()
    kind = "note"
    kind_match = _KIND.match(after)
    if kind_match:
        kind = sys.intern(kind_match.group(1).lower())  # a few kinds shared by 100,000s of sections
        after = after[kind_match.end():].strip()
    after = _LEADING_PARTICIPANTS.sub("", after)  # "@ada @bob: Kickoff" -> ": Kickoff"
    title = after[1:].strip() if after.startswith(":") else after
    return Section(
        date=when,
        kind=kind,
        title=title,
        line=line,
        body=body,
        body_line=body_line,
        participants=tuple(dict.fromkeys(MENTION.findall(rest))),
        mentions=tuple(dict.fromkeys(MENTION.findall(body))),
        topics=tuple(sys.intern(t.lower()) for t in TOPIC.findall(title + "\n" + body)),  # interned: see kind
    )
