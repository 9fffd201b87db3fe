"""`crm touch`: add one dated section to a file, changing nothing else.

The new section is spliced into the file's own bytes (its BOM, line ends and every other
line stay as they were), so the git diff shows only added lines. Its place follows the
file's own order: newest first (the documented order), or oldest first for a file that
is written that way, so that touching never mixes the two.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path

from . import fs
from .config import CONFIG_FILE, parse_config
from .model import NOTE_KIND, Config
from .parse import Section, parse_file
from .problems import Problem, error, warning

_KIND = re.compile(r"^[A-Za-z][A-Za-z0-9_-]*$")
_DATED_HEADING = re.compile(r"^## \d{4}-\d{1,2}-\d{1,2}(?=$|[\s:])")
_LINE = re.compile(r"[^\r\n]*(?:\r\n|\r|\n)|[^\r\n]+$")  # the parser's idea of a line
SCISSORS = "# ------------------------ >8 ------------------------"


@dataclass(frozen=True, slots=True)
class NewSection:
    when: date
    kind: str
    title: str = ""
    text: str = ""
    participants: tuple[str, ...] = ()

    def heading(self) -> str:
        parts = [f"## {self.when.isoformat()}", self.kind, *(f"@{p}" for p in self.participants)]
        heading = " ".join(parts)
        return f"{heading}: {self.title}" if self.title else heading


@dataclass(slots=True)
class TouchResult:
    path: str | None  # relative to the root; None when nothing was written
    line: int | None = None  # line of the new heading
    heading: str = ""
    problems: list[Problem] = field(default_factory=list)


# --- pure: where and how the section goes -----------------------------------------


def split_lines(text: str) -> list[str]:
    """Lines with their ends kept, split where parse.py splits (\\r\\n, \\r or \\n)."""
    return _LINE.findall(text)


def _newline_of(lines: list[str]) -> str:
    for line in lines:
        if line.endswith("\r\n"):
            return "\r\n"
        if line.endswith("\n"):
            return "\n"
        if line.endswith("\r"):
            return "\r"
    return "\n"


def is_oldest_first(sections: list[Section]) -> bool:
    """True when the file's sections mostly go forward in time."""
    dates = [s.date for s in sorted(sections, key=lambda s: s.line)]
    forward = sum(a < b for a, b in zip(dates, dates[1:]))
    backward = sum(a > b for a, b in zip(dates, dates[1:]))
    return forward > backward


def insertion_line(sections: list[Section], when: date) -> int | None:
    """1-based line of the heading the new section goes above; None for the end.

    Newest first: above the first section not newer than it (so a section of the same
    date goes above the existing ones of that date). Oldest first: above the first
    section newer than it (below the ones of that date).
    """
    in_file_order = sorted(sections, key=lambda s: s.line)
    if is_oldest_first(sections):
        after = [s for s in in_file_order if s.date > when]
    else:
        after = [s for s in in_file_order if s.date <= when]
    return after[0].line if after else None


def section_lines(section: NewSection, newline: str) -> list[str]:
    lines = [section.heading()]
    text = section.text.replace("\r\n", "\n").replace("\r", "\n").strip("\n")
    if text:
        lines += ["", *text.split("\n")]
    return [line + newline for line in lines]


def insert_section(data: bytes, path: str, section: NewSection) -> tuple[bytes, int] | list[Problem]:
    """The file's bytes with the section added, and the new heading's line; or the
    problems that keep us from touching the file."""
    parsed = parse_file(path, data)
    if not parsed.ok:
        return parsed.problems or [error(path, None, "unreadable", "cannot read this file")]
    text = data.decode("utf-8")  # parse_file succeeded, so this is valid UTF-8
    bom = "\ufeff" if text.startswith("\ufeff") else ""
    lines = split_lines(text[len(bom):])
    newline = _newline_of(lines)
    block = section_lines(section, newline)
    target = insertion_line(parsed.sections, section.when)
    if target is None:  # at the end, after one blank line
        if lines and not lines[-1].endswith(("\n", "\r")):
            lines[-1] += newline  # unavoidable: the last line had no line end
        if lines and lines[-1].strip():
            block = [newline, *block]
        index = len(lines)
    else:
        index = target - 1
        block = [*block, newline]
        if index > 0 and lines[index - 1].strip():
            block = [newline, *block]
    new_lines = [*lines[:index], *block, *lines[index:]]
    heading_line = index + 1 + (1 if block[0] == newline else 0)
    return (bom + "".join(new_lines)).encode("utf-8"), heading_line


def check_section(section: NewSection, config: Config, known_slugs: set[str], path: str) -> list[Problem]:
    """Problems with what we were asked to add (before reading the file)."""
    problems: list[Problem] = []
    if not _KIND.match(section.kind):
        problems.append(error(path, None, "invalid-kind",
                              f"kind '{section.kind}' must be one word of letters, digits, '-' or '_'"))
    elif section.kind != NOTE_KIND and not config.is_touch(section.kind):
        problems.append(warning(path, None, "unknown-kind",
                                f"kind '{section.kind}' is not a touch kind ({', '.join(config.touch_kinds)}) "
                                f"so it counts as a note; add it to touch_kinds in {CONFIG_FILE} to count it"))
    if "\n" in section.title or "\r" in section.title:
        problems.append(error(path, None, "invalid-title", "the title must be one line"))
    for slug in section.participants:
        if slug not in known_slugs:
            problems.append(error(path, None, "unknown-contact",
                                  f"--with {slug}: no contacts/{slug}.md or orgs/{slug}.md"))
    for number, line in enumerate(section.text.split("\n"), start=1):
        if _DATED_HEADING.match(line):
            problems.append(error(path, None, "heading-in-text",
                                  f"line {number} of the text starts a new dated section ('{line[:20]}...'); "
                                  "indent it or use ### for a heading inside the note"))
    return problems


def strip_editor_template(text: str) -> str:
    """What the user wrote in $EDITOR: everything above the scissors line, trimmed."""
    return text.split(SCISSORS, 1)[0].replace("\r\n", "\n").strip()


def editor_template(path: str, section: NewSection) -> str:
    return (f"\n\n{SCISSORS}\n# Write the note for `{section.heading()}` in {path} above this line.\n"
            "# Everything below it is ignored. Save an empty note to cancel.\n")


# --- the file-system edge ---------------------------------------------------------


def find_entity(root: Path, slug: str) -> str | None:
    for folder in fs.ENTITY_DIRS:
        rel = f"{folder}/{slug}.md"
        if (root / rel).is_file():
            return rel
    return None


def known_slugs(root: Path) -> set[str]:
    files, _ = fs.discover(root)
    return {f.rel.rsplit("/", 1)[1][:-3] for f in files}


def load_config(root: Path) -> Config:
    config, _ = parse_config(fs.read_optional(root / CONFIG_FILE, root))
    return config


def touch(root: Path, slug: str, section: NewSection) -> TouchResult:
    """Add the section to contacts/<slug>.md (or orgs/<slug>.md). Writes nothing when
    there is an error; warnings (an unknown kind) are reported and the note is added."""
    root = fs.find_root(root)
    if not slug or slug.startswith(".") or "/" in slug or "\\" in slug:
        return TouchResult(None, problems=[error(slug or "?", None, "invalid-slug",
                                                 f"'{slug}' is not a slug (the file name without .md)")])
    rel = find_entity(root, slug)
    if rel is None:
        return TouchResult(None, problems=[error(f"contacts/{slug}.md", None, "unknown-contact",
                                                 f"no contacts/{slug}.md or orgs/{slug}.md")])
    path = root / rel
    if not fs.is_inside(path, root):
        return TouchResult(None, problems=[error(rel, None, "outside-root", "this file leads outside the CRM")])
    problems = check_section(section, load_config(root), known_slugs(root), rel)
    if any(p.severity == "error" for p in problems):
        return TouchResult(None, problems=problems)
    inserted = insert_section(path.read_bytes(), rel, section)
    if isinstance(inserted, list):
        return TouchResult(None, problems=[*problems, *inserted])
    data, line = inserted
    fs.write_atomic(path, data)
    return TouchResult(rel, line, section.heading(), problems)
