"""Imported records -> a plan of file changes: new contact (and org) files, minimal
merges into existing ones, photos; then the plan is shown as a diff or written.

Planning is pure apart from reading the files it merges into (through a `read`
callable), so tests and --dry-run see exactly what a real run would write. Writing uses
fs.write_atomic per file: an interrupted import leaves every file either as it was or
complete.

Merging never changes a value that is there: it appends missing list items (emails,
phones, addresses, aka, tags), adds missing links, and adds missing keys at the end of
the front matter, through ruamel.yaml's round-trip mode so comments, order and quoting
stay. The Markdown body is written back byte for byte.
"""

from __future__ import annotations

import difflib
import io
import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

from ruamel.yaml import YAML
from ruamel.yaml.comments import CommentedMap, CommentedSeq
from ruamel.yaml.error import YAMLError

from .. import fs
from ..model import CRM, Contact, Org, build_contact, build_org
from ..parse import ParsedFile, parse_file
from ..problems import Problem, warning
from ..scaffold import flow_item
from ..slugify import slugify, unique_slug
from ..validate import EMAIL, ENTITY_CHECKS
from .matching import ContactIndex, normalise_email, normalise_name, phones_match
from .record import ImportedContact, add_link, clean_tag

CREATED, MERGED, SKIPPED = "created", "merged", "skipped"
PHOTO_DIR = "contacts/photos"

Reader = Callable[[str], "bytes | None"]


@dataclass(slots=True)
class Outcome:
    action: str  # created | merged | skipped
    origin: str  # FILE:LINE of the card or row ("" for orgs created on the way)
    name: str
    path: str | None = None  # the contact (or org) file created or merged into
    detail: str = ""  # merged: what was added; skipped: why; created: notes

    def to_dict(self) -> dict[str, Any]:
        return {"action": self.action, "origin": self.origin, "name": self.name, "path": self.path,
                "detail": self.detail}


@dataclass(slots=True)
class ImportPlan:
    root: Path
    changes: dict[str, bytes] = field(default_factory=dict)  # rel path -> new bytes, in plan order
    originals: dict[str, bytes | None] = field(default_factory=dict)  # None: a new file
    outcomes: list[Outcome] = field(default_factory=list)
    problems: list[Problem] = field(default_factory=list)

    def count(self, action: str, kind: str = "contacts/") -> int:
        return sum(1 for o in self.outcomes if o.action == action and (o.path or "contacts/").startswith(kind))

    def diff(self) -> str:
        """The whole plan as a unified diff (photos as one line each)."""
        chunks: list[str] = []
        for rel, new in self.changes.items():
            old = self.originals.get(rel)
            if rel.startswith(PHOTO_DIR + "/"):
                chunks.append(f"Binary file b/{rel} ({len(new):,} bytes) would be written\n")
                continue
            old_lines = old.decode("utf-8", "replace").splitlines(keepends=True) if old is not None else []
            new_lines = new.decode("utf-8").splitlines(keepends=True)
            chunks.extend(difflib.unified_diff(old_lines, new_lines, "/dev/null" if old is None else f"a/{rel}",
                                               f"b/{rel}"))
        return "".join(line if line.endswith("\n") else line + "\n\\ No newline at end of file\n" for line in chunks)


def write_plan(plan: ImportPlan) -> list[str]:
    """Write every changed file atomically; returns the paths written. Refuses (and
    reports) any path that would lead out of the root through a symlinked folder."""
    written: list[str] = []
    for rel, data in plan.changes.items():
        target = plan.root / rel
        existing = next(p for p in (target.parent, *target.parent.parents) if p.exists())
        if not fs.is_inside(existing, plan.root) or not fs.is_inside(target.parent, plan.root):
            plan.problems.append(warning(rel, None, "symlink-outside-root",
                                         "not written: the folder is a link to a place outside the CRM"))
            continue
        fs.write_atomic(target, data)  # creates contacts/photos/ when needed
        written.append(rel)
    return written


class MergeError(Exception):
    """This file cannot be merged into without rewriting more than what is added."""


# --- YAML -------------------------------------------------------------------------------


def _yaml(sequence: int = 4, offset: int = 2) -> YAML:
    yaml = YAML()  # round-trip mode: keeps comments, order, quotes and flow style
    yaml.preserve_quotes = True
    yaml.width = 4096  # never re-wrap a long value
    yaml.indent(mapping=2, sequence=sequence, offset=offset)
    return yaml


def _detect_indent(front: str) -> tuple[int, int]:
    """(sequence, offset) as the file writes block lists: '  - x' under 'key:' is (4, 2)."""
    lines = front.split("\n")
    for previous, current in zip(lines, lines[1:]):
        item = re.match(r"^(\s*)- ", current)
        key = re.match(r"^(\s*)[^\s#-][^:]*:\s*(#.*)?$", previous)
        if item and key:
            offset = max(0, len(item.group(1)) - len(key.group(1)))
            return offset + 2, offset
    return 4, 2


def _dump(yaml: YAML, data: Any) -> str:
    stream = io.StringIO()
    yaml.dump(data, stream)
    return stream.getvalue()


def _block(items: list[str], flow: bool = False) -> CommentedSeq:
    if not flow:
        return CommentedSeq(items)
    seq = CommentedSeq(map(flow_item, items))
    seq.fa.set_flow_style()
    return seq


# --- what a record contributes ------------------------------------------------------------


def _title(record: ImportedContact) -> str | None:
    """The job title, with the department after it unless the title already names it."""
    if record.title and record.department and record.department.casefold() not in record.title.casefold():
        return f"{record.title}, {record.department}"
    return record.title or record.department


def _fields(record: ImportedContact, org_slug: str | None) -> list[tuple[str, Any]]:
    """Front-matter keys for a record, in the order a new file lists them."""
    fields: list[tuple[str, Any]] = [
        ("aka", record.aka), ("emails", record.emails), ("phones", record.phones),
        ("addresses", record.addresses), ("links", record.links), ("org", org_slug), ("title", _title(record)),
        ("tags", [t for t in (clean_tag(t) for t in record.tags) if t]), ("source", record.source),
        ("connected", record.connected), ("birthday", record.birthday),
    ]
    return [(k, v) for k, v in fields if v]


_LIST_SAME: dict[str, Callable[[str, str], bool]] = {
    "emails": lambda a, b: normalise_email(a) == normalise_email(b),
    "phones": phones_match,
}


def _same(key: str, a: str, b: str) -> bool:
    return _LIST_SAME.get(key, lambda x, y: x.strip().casefold() == y.strip().casefold())(a, b)


def merge_front_matter(text: str, fields: list[tuple[str, Any]]) -> tuple[str, list[str]]:
    """The file text with what is missing added, and a list of what was added.

    Raises MergeError when the file cannot be merged into minimally.
    """
    bom = "\ufeff" if text.startswith("\ufeff") else ""
    newline = "\r\n" if "\r\n" in text.split("\n", 1)[0] + "\n" else "\n"
    lines = text[len(bom):].split(newline)
    if not lines or lines[0].rstrip() != "---":
        raise MergeError("the file does not start with front matter")
    close = next((i for i in range(1, len(lines)) if lines[i].rstrip() in ("---", "...")), None)
    if close is None:
        raise MergeError("its front matter is not closed with '---'")
    front = "\n".join(lines[1:close]) + "\n"
    yaml = _yaml(*_detect_indent(front))
    try:
        data = yaml.load(front)
    except YAMLError as exc:
        raise MergeError(f"its front matter is not valid YAML ({str(exc).splitlines()[0]})") from None
    if not isinstance(data, CommentedMap):
        raise MergeError("its front matter is not 'key: value' lines")
    if _dump(yaml, data) != front:
        raise MergeError("its front matter would be re-formatted by the merge")
    added: list[str] = []
    for key, value in fields:
        _merge_key(data, key, value, added)
    if not added:
        return text, []
    new_front = _dump(yaml, data).rstrip("\n").split("\n")
    return bom + newline.join([lines[0], *new_front, *lines[close:]]), added


def _merge_key(data: CommentedMap, key: str, value: Any, added: list[str]) -> None:
    current = data.get(key)
    if current is None:
        if isinstance(value, list):
            data[key] = _block(value, flow=key in ("tags", "aka"))
        elif isinstance(value, dict):
            data[key] = CommentedMap(value)
        else:
            data[key] = value
        added.append(_describe(key, value))
        return
    if isinstance(value, list) and isinstance(current, list):
        new = [v for v in value if not any(_same(key, v, str(c)) for c in current)]
        one_line = isinstance(current, CommentedSeq) and current.fa.flow_style()
        current.extend(map(flow_item, new) if one_line else new)
        if new:
            added.append(_describe(key, new))
    elif isinstance(value, dict) and isinstance(current, dict):
        links = {str(k): str(v) for k, v in current.items()}
        known = {u.rstrip("/").lower() for u in links.values()}
        for label, url in value.items():
            if url.rstrip("/").lower() not in known:
                add_link(links, url, label)
                new_label = next(k for k, v in links.items() if v == url)
                current[new_label] = url
                added.append(f"link {new_label}")
    elif isinstance(value, dict) and isinstance(current, list):
        new = [u for u in value.values() if u not in [str(c) for c in current]]
        current.extend(new)
        if new:
            added.append(_describe(key, new))


def _describe(key: str, value: Any) -> str:
    if isinstance(value, (list, dict)):
        return f"{key} +{len(value)}" if len(value) != 1 else f"{key} +1"
    return key


_PLAIN = re.compile(r"^[^\s\-?:,\[\]{}#&*!|>'\"%@`+.0-9~=\\][^\n\t]*$")
# In a flow list ([a, b]) a ":" makes an item a mapping ("a: b") or a syntax error ("A:?"): such items are quoted.
_FLOW_UNSAFE = re.compile(r"[,\[\]{}:]")
_DATE_VALUE = re.compile(r"^(?:\d{4}|-)-\d{2}-\d{2}$")
_RESERVED = {"true", "false", "yes", "no", "on", "off", "null", "y", "n", "~"}


def yaml_scalar(value: str, *, flow: bool = False) -> str:
    """A string as a YAML scalar that every YAML reader takes as that same string: plain
    when nothing in it could mean something else (no indicator first, no ': ' or ' #', not
    a YAML 1.1 boolean or null, not a number or date; in a flow list, no ',', ':' or
    bracket), else double-quoted (JSON's escapes are valid YAML)."""
    plain = (_PLAIN.match(value) is not None and value == value.strip() and ": " not in value
             and " #" not in value and not value.endswith(":") and value.lower() not in _RESERVED
             and not (flow and _FLOW_UNSAFE.search(value)))
    return value if plain else json.dumps(value, ensure_ascii=False)


def new_contact_text(name: str, fields: list[tuple[str, Any]], note: str | None) -> str:
    """A new contact file in the style of the format's examples. Written by hand rather
    than through ruamel.yaml: ten times faster, and the output is checked by parsing it."""
    lines = ["---", f"name: {yaml_scalar(name)}"]
    for key, value in fields:
        if isinstance(value, list) and key in ("tags", "aka"):
            lines.append(f"{key}: [{', '.join(yaml_scalar(v, flow=True) for v in value)}]")
        elif isinstance(value, list):
            lines.append(f"{key}:")
            lines.extend(f"  - {yaml_scalar(v)}" for v in value)
        elif isinstance(value, dict):
            lines.append(f"{key}:")
            lines.extend(f"  {yaml_scalar(k)}: {yaml_scalar(v)}" for k, v in value.items())
        elif _DATE_VALUE.match(str(value)):
            lines.append(f"{key}: {value}")  # dates plain, as people write them (the format reads them as text)
        else:
            lines.append(f"{key}: {yaml_scalar(str(value))}")
    lines.append("---")
    body = f"{note}\n" if note else ""
    return "\n".join(lines) + "\n" + body


def new_org_text(name: str) -> str:
    return f"---\nname: {yaml_scalar(name)}\n---\n"


_SECTION_LIKE = re.compile(r"^(\s{0,3})(##\s+\d)", re.MULTILINE)
_MENTION_LIKE = re.compile(r"(?<![\w@./])@([a-z0-9][a-z0-9-]*)")
_FENCE_LIKE = re.compile(r"^(\s{0,3})(---+|\.\.\.)\s*$", re.MULTILINE)


def safe_note(note: str, known: Callable[[str], bool] = lambda slug: False) -> str:
    """A note from an import as Markdown body text that reads as the person wrote it but
    does not become a dated section or an @mention of a contact that does not exist."""
    text = note.replace("\r\n", "\n").replace("\r", "\n").strip()
    text = _SECTION_LIKE.sub(r"\1\\\2", text)
    # '&#64;' renders as '@' but is not a mention; mentions of known slugs stay mentions
    text = _MENTION_LIKE.sub(lambda m: m.group(0) if known(m.group(1).rstrip("-")) else "&#64;" + m.group(1), text)
    return _FENCE_LIKE.sub(lambda m: m.group(1) + "\\" + m.group(2), text)


# --- the planner --------------------------------------------------------------------------


class _Planner:
    def __init__(self, crm: CRM, read: Reader, existing: set[str], *, create_orgs: bool, photos: bool) -> None:
        self.crm = crm
        self.read = read
        self.existing = existing  # rel paths of files already in contacts/, orgs/, contacts/photos/
        self.create_orgs = create_orgs
        self.photos = photos
        self.plan = ImportPlan(crm.root)
        self.texts: dict[str, str] = {}  # current text of every file the plan touches
        self._last_parsed: tuple[tuple[str, str], tuple[ParsedFile, Contact | Org | None]] | None = None
        self.taken: dict[str, set[str]] = {
            folder: {p[len(folder) + 1:-3] for p in existing
                     if p.startswith(folder + "/") and p.endswith(".md") and p.count("/") == 1}
            for folder in ("contacts", "orgs")
        }
        self.contacts: dict[str, Contact] = dict(crm.contacts)
        self.orgs: dict[str, Org] = dict(crm.orgs)
        self.index = ContactIndex()
        for contact in crm.contacts.values():
            self.index.add(contact.slug, names=[contact.name, *contact.aka], emails=contact.emails,
                           phones=contact.phones)
        self.org_names: dict[str, str] = {}
        for org in crm.orgs.values():
            for name in (org.name, *org.aka, org.slug):
                self.org_names.setdefault(normalise_name(name), org.slug)

    # -- one record

    def add(self, record: ImportedContact) -> None:
        if not record.name:
            what = ", ".join([*record.emails, *record.phones]) or "nothing else either"
            self._skip(record, f"no name ({what})")  # printed as "FILE:LINE: no name (...)"
            return
        record.emails = self._valid_emails(record)
        found = self.index.by_contact_details(record.emails, record.phones)
        if found is None:
            by_name = self.index.by_name(record.name)
            if by_name and (record.emails or record.phones):
                self._skip(record, f"same name as contacts/{by_name}.md but no email or phone in common; "
                                   "if it is the same person, add the details by hand", path=f"contacts/{by_name}.md")
                return
            found = (by_name, "name") if by_name else None
        if found is None:
            self._create(record)
        else:
            self._merge(record, *found)

    def _valid_emails(self, record: ImportedContact) -> list[str]:
        valid = []
        for email in record.emails:
            if EMAIL.match(email):
                valid.append(email)
            else:
                path, _, line = record.origin.rpartition(":")
                self.plan.problems.append(warning(path, int(line) if line.isdigit() else None, "import-bad-email",
                                                  f"'{email}' is not a valid email address; left out"))
        return valid

    def _skip(self, record: ImportedContact, reason: str, path: str | None = None) -> None:
        self.plan.outcomes.append(Outcome(SKIPPED, record.origin, record.name or "(no name)", path, reason))

    def _create(self, record: ImportedContact) -> None:
        assert record.name
        slug = unique_slug(slugify(record.name), self._taken("contacts"))
        rel = f"contacts/{slug}.md"
        org_slug, org_note = self._org_for(record)
        text = new_contact_text(record.name, _fields(record, org_slug), safe_note(record.note, self._known) if record.note else None)
        problem = self._check(rel, text, None)
        if problem:
            self._skip(record, f"the new file would not pass 'crm check': {problem}")
            return
        self._stage(rel, text, None)
        self.index.add(slug, names=[record.name, *record.aka], emails=record.emails, phones=record.phones)
        notes = [n for n in (org_note, self._photo(slug, record)[0]) if n]
        self.plan.outcomes.append(Outcome(CREATED, record.origin, record.name, rel, "; ".join(notes)))

    def _merge(self, record: ImportedContact, slug: str, matched: str) -> None:
        assert record.name
        rel = f"contacts/{slug}.md"
        original = self._current(rel)
        if original is None:
            self._skip(record, f"matches {rel} by {matched}, but that file cannot be read as UTF-8", rel)
            return
        contact = self.contacts.get(slug)
        names = [contact.name, *contact.aka] if contact else []
        fields = _fields(record, None)
        if contact is not None and not contact.org and record.org:
            org_slug, org_note = self._org_for(record)
            if org_slug:
                fields.append(("org", org_slug))
        if names and normalise_name(record.name) not in {normalise_name(n) for n in names}:
            fields.insert(0, ("aka", [record.name, *record.aka]))
        try:
            text, added = merge_front_matter(original, fields)
        except MergeError as exc:
            wanted = ", ".join(k for k, _ in fields)
            self._skip(record, f"matches {rel} by {matched}, but {exc}; add by hand: {wanted}", rel)
            return
        if added:
            problem = self._check(rel, text, original)
            if problem:
                self._skip(record, f"matches {rel} by {matched}, but the merge would add a problem: {problem}", rel)
                return
            self._stage(rel, text, original)
            self.index.add(slug, names=[record.name], emails=record.emails, phones=record.phones)
        photo_note, photo_written = self._photo(slug, record)
        if not added and not photo_written:
            self._skip(record, f"already in {rel} (matched by {matched}); nothing new", rel)
            return
        detail = f"matched by {matched}; added " + ", ".join(added) if added else f"matched by {matched}"
        notes = [detail, photo_note, "note not merged (the body is left as it is)" if record.note and added else ""]
        self.plan.outcomes.append(Outcome(MERGED, record.origin, record.name, rel, "; ".join(n for n in notes if n)))

    # -- helpers

    def _taken(self, folder: str) -> set[str]:
        return self.taken[folder]

    def _known(self, slug: str) -> bool:
        return slug in self.contacts or slug in self.orgs

    def _current(self, rel: str) -> str | None:
        if rel in self.texts:
            return self.texts[rel]
        data = self.read(rel)
        if data is None:
            return None
        try:
            text = data.decode("utf-8")
        except UnicodeDecodeError:
            return None
        self.plan.originals.setdefault(rel, data)
        self.texts[rel] = text
        return text

    def _stage(self, rel: str, text: str, original: str | None) -> None:
        if original is None:
            self.plan.originals.setdefault(rel, None)
        self.texts[rel] = text
        self.plan.changes[rel] = text.encode("utf-8")
        folder, _, file_name = rel.partition("/")
        self.taken[folder].add(file_name[:-3])
        _, entity = self._parse(rel, text)
        if isinstance(entity, Contact):
            self.contacts[entity.slug] = entity
        elif isinstance(entity, Org):
            self.orgs[entity.slug] = entity

    def _parse(self, rel: str, text: str) -> tuple[ParsedFile, Contact | Org | None]:
        """Parse and build a planned file once (checked first, then staged)."""
        if self._last_parsed is not None and self._last_parsed[0] == (rel, text):
            return self._last_parsed[1]
        parsed = parse_file(rel, text.encode("utf-8"))
        entity = (build_contact(parsed) if rel.startswith("contacts/") else build_org(parsed)) if parsed.ok else None
        self._last_parsed = ((rel, text), (parsed, entity))
        return parsed, entity

    def _check(self, rel: str, text: str, original: str | None) -> str | None:
        """The first error 'crm check' would report for this file that it did not before."""
        def errors(content: str) -> list[tuple[str, str]]:
            parsed, entity = self._parse(rel, content)
            found = [(p.code, p.message) for p in parsed.problems if p.severity == "error"]
            if entity is not None:
                view = CRM(self.crm.root, self.crm.config, self.contacts, self.orgs)
                for check in ENTITY_CHECKS:
                    found.extend((p.code, p.message) for p in check(entity, view) if p.severity == "error")
            return found

        before = set(errors(original)) if original is not None else set()
        new = [message for code, message in errors(text) if (code, message) not in before]
        return new[0] if new else None

    def _org_for(self, record: ImportedContact) -> tuple[str | None, str]:
        if not record.org:
            return None, ""
        key = normalise_name(record.org)
        if key in self.org_names:
            return self.org_names[key], ""
        if not self.create_orgs:
            return None, f"org '{record.org}' not linked (no such org file; --no-orgs)"
        slug = unique_slug(slugify(record.org), self._taken("orgs"))
        rel = f"orgs/{slug}.md"
        self._stage(rel, new_org_text(record.org), None)
        self.org_names[key] = slug
        self.plan.outcomes.append(Outcome(CREATED, record.origin, record.org, rel, "org, for " + (record.name or "")))
        return slug, ""

    def _photo(self, slug: str, record: ImportedContact) -> tuple[str, bool]:
        """(a note for the summary, whether a photo file is planned)."""
        if record.photo is None:
            return (f"photo skipped: {record.photo_skipped}" if record.photo_skipped else ""), False
        if not self.photos:
            return "photo skipped (--no-photos)", False
        prefix = f"{PHOTO_DIR}/{slug}."
        if any(p.startswith(prefix) for p in (*self.existing, *self.plan.changes)):
            return "", False  # keep the photo the contact has
        rel = f"{prefix}{record.photo.ext}"
        self.plan.originals[rel] = None
        self.plan.changes[rel] = record.photo.data
        return f"photo {rel}", True


def plan_import(crm: CRM, records: list[ImportedContact], read: Reader, existing: set[str], *,
                create_orgs: bool = True, photos: bool = True) -> ImportPlan:
    """Match every record against the CRM (and the records before it) and plan the files."""
    planner = _Planner(crm, read, existing, create_orgs=create_orgs, photos=photos)
    for record in records:
        planner.add(record)
    return planner.plan
