"""`crm fmt`: one canonical form per file, so diffs stay small and merges clean.

- Front matter: known keys in the documented order (model.CONTACT_KEYS / ORG_KEYS),
  custom keys after them in their own order. ruamel.yaml's round-trip parser tells us
  where each top-level key starts; we then move whole blocks of the file's own text
  (a key, its value and the comment lines right above it), so quoting, flow-style lists,
  long lines, comments and indentation stay exactly as written.
- Body: the summary, then the dated sections newest first (sections of one date keep
  their order), one blank line between blocks and after each heading.
- LF line ends, one final newline, no BOM, `---` as the closing marker.

It never changes what a file means: after formatting we parse both versions and refuse
(leaving the file untouched, with an error) if the front matter, summary or sections
differ. Files with parse errors are left alone too.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ruamel.yaml import YAML
from ruamel.yaml.comments import CommentedMap
from ruamel.yaml.error import YAMLError

from . import fs
from .model import CONTACT_KEYS, ORG_KEYS
from .parse import _DATE_LIKE, ParsedFile, parse_file, split_sections  # the parser's own rules
from .problems import Problem, error, has_errors, warning


@dataclass(slots=True)
class FmtResult:
    path: str
    text: str | None  # the canonical text; None when the file cannot be formatted
    changed: bool = False
    problems: list[Problem] = field(default_factory=list)


# --- front matter -----------------------------------------------------------------


def _is_top_comment(line: str) -> bool:
    return line.startswith("#")


def _key_lines(yaml_text: str) -> list[tuple[str, int]] | None:
    """(key, 0-based line) of every top-level key in file order; None when the keys
    cannot be told apart by line (a one-line flow mapping, merge keys)."""
    loader = YAML(typ="rt")
    loader.allow_duplicate_keys = True  # parse.py has already reported duplicates
    data = loader.load(yaml_text)
    if data is None:
        return []
    if not isinstance(data, CommentedMap):
        return None
    try:
        keys = [(str(k), data.lc.key(k)[0]) for k in data]
    except (KeyError, TypeError):
        return None
    lines = [line for _, line in keys]
    if any(a >= b for a, b in zip(lines, lines[1:])):
        return None
    return keys


@dataclass(slots=True)
class _Block:
    key: str
    lines: list[str]
    blank_before: bool


def _strip_blank_tail(lines: list[str]) -> list[str]:
    end = len(lines)
    while end and not lines[end - 1].strip():
        end -= 1
    return lines[:end]


def _canonical_key_order(keys: list[str], known: tuple[str, ...]) -> list[str]:
    rank = {k: i for i, k in enumerate(known)}
    known_keys = sorted((k for k in keys if k in rank), key=rank.__getitem__)
    return [*known_keys, *(k for k in keys if k not in rank)]


def keys_in_place(parsed: ParsedFile, known: tuple[str, ...]) -> list[tuple[str, int]] | None:
    """(key, 0-based front-matter line) from the parse we already have, when the keys
    are already in canonical order (no reordering, so no need for a second, slower
    YAML parser); None otherwise."""
    keys = list(parsed.meta)
    top_level = [path for path in parsed.lines if len(path) == 1]
    if len(top_level) != len(keys) or keys != _canonical_key_order(keys, known):
        return None
    try:
        lines = [parsed.lines[(key,)] - 2 for key in keys]  # the front matter starts on file line 2
    except KeyError:
        return None
    if any(a >= b for a, b in zip(lines, lines[1:])):
        return None
    return list(zip(keys, lines))


def reorder_front_matter(yaml_lines: list[str], known: tuple[str, ...],
                         keys: list[tuple[str, int]] | None = None) -> list[str] | None:
    """The front matter's lines with top-level keys in canonical order; None when
    ruamel cannot read it or the keys cannot be separated by line. `keys` are the
    key lines when already known (see keys_in_place)."""
    if keys is None:
        try:
            keys = _key_lines("\n".join(yaml_lines))
        except YAMLError:
            return None
    if keys is None:
        return None
    if not keys:
        return _strip_blank_tail(_drop_blank_head(yaml_lines))
    starts: list[int] = []
    previous_end = 0
    for _, key_line in keys:
        start = key_line
        while start - 1 >= previous_end and _is_top_comment(yaml_lines[start - 1]):
            start -= 1  # comment lines right above a key travel with it
        starts.append(start)
        previous_end = key_line + 1
    header = _strip_blank_tail(_drop_blank_head(yaml_lines[: starts[0]]))
    blocks: list[_Block] = []
    for i, (key, _) in enumerate(keys):
        end = starts[i + 1] if i + 1 < len(keys) else len(yaml_lines)
        before = yaml_lines[starts[i] - 1] if starts[i] > 0 else ""
        blocks.append(_Block(key, _strip_blank_tail(yaml_lines[starts[i]:end]),
                             blank_before=starts[i] > 0 and not before.strip()))
    by_key = {b.key: b for b in blocks}
    out = list(header)
    for key in _canonical_key_order([b.key for b in blocks], known):
        block = by_key[key]
        # A comment ending the previous block would otherwise read as this key's comment.
        separate = block.blank_before or (bool(out) and _is_top_comment(out[-1]))
        if out and separate:
            out.append("")
        out.extend(block.lines)
    return out


def _drop_blank_head(lines: list[str]) -> list[str]:
    start = 0
    while start < len(lines) and not lines[start].strip():
        start += 1
    return lines[start:]


# --- body ---------------------------------------------------------------------------


def _trim_empty(lines: list[str]) -> list[str]:
    """Drop empty lines at both ends, as parse.py's strip("\\n") does."""
    start, end = 0, len(lines)
    while start < end and lines[start] == "":
        start += 1
    while end > start and lines[end - 1] == "":
        end -= 1
    return lines[start:end]


def split_body(lines: list[str]) -> tuple[list[str], list[list[str]]]:
    """(summary lines, [section lines]) split exactly where parse.py splits."""
    return split_sections(lines)


def _section_date(section: list[str]) -> tuple[int, int, int]:
    m = _DATE_LIKE.match(section[0][3:].strip())
    assert m is not None  # split_body only starts sections at dated headings
    return int(m.group(1)), int(m.group(2)), int(m.group(3))


def canonical_section(section: list[str]) -> list[str]:
    body = _trim_empty(section[1:])
    return [section[0].rstrip(), *([""] + body if body else [])]


def canonical_body(lines: list[str]) -> list[str]:
    summary, sections = split_body(lines)
    ordered = sorted(sections, key=_section_date, reverse=True)  # stable: same-date order kept
    out = _trim_empty(summary)
    for section in ordered:
        out += ["", *canonical_section(section)]
    return out


# --- whole files ----------------------------------------------------------------------


def _meaning(parsed: ParsedFile) -> tuple[Any, ...]:
    sections = sorted(
        ((s.date, s.kind, s.title, s.body, s.participants, s.mentions, s.topics) for s in parsed.sections),
        key=repr,
    )
    return (parsed.meta, parsed.summary, sections)


def _closing_line(lines: list[str]) -> int | None:
    for i in range(1, len(lines)):
        if lines[i].rstrip() in ("---", "..."):
            return i
    return None


def format_file(path: str, data: bytes) -> FmtResult:
    """Pure: a file's bytes -> its canonical text, or the problems that prevent it."""
    parsed = parse_file(path, data)
    blocking = [p for p in parsed.problems if p.severity == "error"]
    if not parsed.ok or blocking:
        return FmtResult(path, None, problems=blocking or parsed.problems or
                         [error(path, None, "unreadable", "cannot read this file")])
    text = data.decode("utf-8").removeprefix("\ufeff").replace("\r\n", "\n").replace("\r", "\n")
    lines = text.split("\n")
    close = _closing_line(lines)
    assert close is not None  # parse_file found it
    known = ORG_KEYS if path.startswith("orgs/") else CONTACT_KEYS
    problems: list[Problem] = []
    yaml_lines = reorder_front_matter(lines[1:close], known, keys_in_place(parsed, known))
    if yaml_lines is None:
        yaml_lines = lines[1:close]
        problems.append(warning(path, 2, "fmt-front-matter-kept",
                                "front matter left in its own order (it is one flow mapping, or uses "
                                "merge keys, or ruamel.yaml cannot read it)"))
    new_text = "\n".join(["---", *yaml_lines, "---", *canonical_body(lines[close + 1:])]) + "\n"
    if new_text.encode("utf-8") == data:  # already canonical: nothing to verify
        return FmtResult(path, new_text, changed=False, problems=problems)
    after = parse_file(path, new_text.encode("utf-8"))
    if not after.ok or has_errors(after.problems) or _meaning(after) != _meaning(parsed):
        return FmtResult(path, None, problems=[error(
            path, None, "fmt-would-change-meaning",
            "left untouched: reordering this file would change what it says (an unclosed code fence, "
            "an anchor used before its definition, or a block scalar that keeps trailing lines)")])
    return FmtResult(path, new_text, changed=new_text.encode("utf-8") != data, problems=problems)


def format_paths(root: Path, rels: list[str], write: bool) -> list[FmtResult]:
    """Format each file (relative to root); with write, rewrite the changed ones atomically."""
    results: list[FmtResult] = []
    for rel in rels:
        path = root / rel
        if not fs.is_inside(path, root):
            results.append(FmtResult(rel, None, problems=[error(rel, None, "outside-root",
                                                                "this file leads outside the CRM; not touched")]))
            continue
        try:
            data = path.read_bytes()
        except OSError as exc:
            results.append(FmtResult(rel, None, problems=[error(rel, None, "unreadable",
                                                                f"cannot read: {exc.strerror or exc}")]))
            continue
        result = format_file(rel, data)
        if write and result.changed and result.text is not None:
            fs.write_atomic(path, result.text)
        results.append(result)
    return results


def _relative_to_root(given: Path, root: Path) -> str | None:
    """given as a path relative to root, or None when it is outside. Lexically first, so
    a linked file keeps its own name (where it leads is checked before writing); then
    resolved, for a working folder reached through a link (/tmp -> /private/tmp)."""
    absolute = Path(os.path.abspath(given))
    if not fs.is_inside(absolute, root):
        return None
    for candidate in (absolute, absolute.resolve()):
        try:
            return candidate.relative_to(root).as_posix()
        except ValueError:
            continue
    return None


def select_files(root: Path, paths: list[Path]) -> tuple[list[str], list[Problem]]:
    """Every contact and org file (no paths), or the given files and folders, as paths
    relative to the root."""
    files, problems = fs.discover(root)
    if not paths:
        return [f.rel for f in files], problems
    known = {f.rel for f in files}
    chosen: list[str] = []
    problems = []
    for given in paths:
        rel = _relative_to_root(given, root)
        if rel is None:
            problems.append(error(str(given), None, "outside-root", f"{given} is not inside the CRM at {root}"))
        elif Path(os.path.abspath(given)).is_dir():
            prefix = "" if rel == "." else f"{rel}/"
            chosen.extend(r for r in sorted(known) if r.startswith(prefix))
        elif rel in known:
            chosen.append(rel)
        else:
            problems.append(error(str(given), None, "not-an-entity-file",
                                  f"{given} is not a contact or org file (contacts/*.md, orgs/*.md)"))
    return list(dict.fromkeys(chosen)), problems
