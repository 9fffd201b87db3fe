"""New files: `crm new` (one contact or org) and `crm init` (a whole new CRM).

Front matter is written through ruamel.yaml, which quotes exactly the values that would
otherwise be read as something other than text ('+4940555', 'true', '12'), in the
canonical key order `crm fmt` uses, so a new file is already formatted.
"""

from __future__ import annotations

import io
import shutil
import subprocess
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Any

from ruamel.yaml import YAML
from ruamel.yaml.comments import CommentedMap, CommentedSeq
from ruamel.yaml.scalarstring import SingleQuotedScalarString

from . import fs
from .model import CONTACT_KEYS, ORG_KEYS, STATUSES, TIERS
from .parse import parse_file
from .problems import Problem, error, has_errors, warning
from .slugify import slugify, unique_slug

FLOW_LISTS = ("aka", "tags", "interests")  # short words: one line reads best


@dataclass(slots=True)
class NewContact:
    name: str
    org: str | None = None
    title: str | None = None
    emails: list[str] = field(default_factory=list)
    phones: list[str] = field(default_factory=list)
    tags: list[str] = field(default_factory=list)
    tier: str | None = None
    status: str | None = None
    since: date | None = None
    summary: str = ""


@dataclass(slots=True)
class NewOrg:
    name: str
    website: str | None = None
    industry: str | None = None
    emails: list[str] = field(default_factory=list)
    phones: list[str] = field(default_factory=list)
    tags: list[str] = field(default_factory=list)
    summary: str = ""


@dataclass(slots=True)
class CreateResult:
    path: str | None  # relative to the root; None when nothing was written
    slug: str | None
    problems: list[Problem] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return self.path is not None


# --- rendering (pure) ---------------------------------------------------------------


def _yaml() -> YAML:
    yaml = YAML()
    yaml.indent(mapping=2, sequence=4, offset=2)  # "  - item", as in docs/format.md
    yaml.width = 1_000_000  # never fold a long value onto a second line
    yaml.allow_unicode = True
    return yaml


def dump_front_matter(values: dict[str, Any], order: tuple[str, ...]) -> str:
    """YAML for the non-empty values, known keys in `order`."""
    mapping = CommentedMap()
    for key in order:
        value = values.get(key)
        if value in (None, "", []):
            continue
        if isinstance(value, list):
            flow = key in FLOW_LISTS
            seq = CommentedSeq(flow_item(item) for item in value) if flow else CommentedSeq(value)
            if flow:
                seq.fa.set_flow_style()
            value = seq
        mapping[key] = value
    buffer = io.StringIO()
    _yaml().dump(mapping, buffer)
    return buffer.getvalue()


def flow_item(item: Any) -> Any:
    """An item for ruamel.yaml to write in a one-line list, quoted when it has a ':':
    ruamel.yaml (YAML 1.2) leaves "A:?" plain there, which PyYAML, and so `crm check`,
    cannot read. For `crm new` and for what `crm import` adds to a file."""
    return SingleQuotedScalarString(item) if isinstance(item, str) and ":" in item else item


def _file_text(front_matter: str, summary: str) -> str:
    text = f"---\n{front_matter}---\n"
    summary = summary.strip("\n")
    return f"{text}{summary}\n" if summary else text


def render_contact(contact: NewContact) -> str:
    values = {
        "name": contact.name, "emails": contact.emails, "phones": contact.phones, "org": contact.org,
        "title": contact.title, "tags": contact.tags, "tier": contact.tier, "status": contact.status,
        "since": contact.since,
    }
    return _file_text(dump_front_matter(values, CONTACT_KEYS), contact.summary)


def render_org(org: NewOrg) -> str:
    values = {
        "name": org.name, "website": org.website, "industry": org.industry, "tags": org.tags,
        "emails": org.emails, "phones": org.phones,
    }
    return _file_text(dump_front_matter(values, ORG_KEYS), org.summary)


# --- creating files (the file-system edge) ----------------------------------------


def resolve_org(root: Path, value: str) -> tuple[str, bool]:
    """An org given as a slug or as a name -> (slug, whether orgs/<slug>.md exists)."""
    given = value.strip().lstrip("@")
    for slug in (given, slugify(given)):
        if slug and (root / "orgs" / f"{slug}.md").is_file():
            return slug, True
    return slugify(given), False


def _target(root: Path, folder: str, name: str, fallback: str) -> tuple[Path, str] | Problem:
    directory = root / folder
    if directory.exists() and not fs.is_inside(directory, root):
        return error(folder, None, "outside-root", f"{folder}/ leads outside the CRM; refusing to write there")
    base = slugify(name)
    if base == "contact" and fallback != "contact":
        base = fallback
    slug = unique_slug(base, taken_slugs(root))
    return directory / f"{slug}.md", slug


def taken_slugs(root: Path) -> set[str]:
    """Every contact's and org's slug: @mentions share one namespace, so a new contact
    must not take an org's slug either."""
    slugs: set[str] = set()
    for folder in fs.ENTITY_DIRS:
        directory = root / folder
        if directory.is_dir():
            slugs.update(p.name[: -len(".md")] for p in directory.iterdir() if p.name.endswith(".md"))
    return slugs


def _write_new(root: Path, folder: str, name: str, text: str, fallback: str,
               problems: list[Problem]) -> CreateResult:
    if not name.strip():
        return CreateResult(None, None, [*problems, error(folder, None, "missing-name", "a name is required")])
    target = _target(root, folder, name, fallback)
    if isinstance(target, Problem):
        return CreateResult(None, None, [*problems, target])
    path, slug = target
    rel = f"{folder}/{slug}.md"
    parsed = parse_file(rel, text.encode("utf-8"))
    if not parsed.ok or has_errors(parsed.problems):  # a value we could not write safely
        return CreateResult(None, None, [*problems, *parsed.problems])
    fs.write_atomic(path, text)
    return CreateResult(rel, slug, problems)


def create_contact(root: Path, contact: NewContact) -> CreateResult:
    problems: list[Problem] = []
    if contact.tier is not None and contact.tier.upper() not in TIERS:
        problems.append(error("contacts", None, "invalid-tier", f"tier must be one of {', '.join(TIERS)}"))
    if contact.status is not None and contact.status.lower() not in STATUSES:
        problems.append(error("contacts", None, "invalid-status", f"status must be one of {', '.join(STATUSES)}"))
    if has_errors(problems):
        return CreateResult(None, None, problems)
    org_given, org_exists = contact.org, True
    if contact.org:
        contact.org, org_exists = resolve_org(root, contact.org)
    text = render_contact(contact)
    result = _write_new(root, "contacts", contact.name, text, "contact", problems)
    if result.path and not org_exists:
        org_line = parse_file(result.path, text.encode("utf-8")).lines.get(("org",))
        result.problems.append(warning(result.path, org_line, "unknown-org",
                                       f"no org '{contact.org}' yet (orgs/{contact.org}.md does not exist); "
                                       f"create it with: crm new --org \"{_shell_text(org_given or '')}\""))
    return result


def create_org(root: Path, org: NewOrg) -> CreateResult:
    return _write_new(root, "orgs", org.name, render_org(org), "org", [])


def _shell_text(value: str) -> str:
    return value.replace('"', '\\"')


# --- crm init ----------------------------------------------------------------------

CONFIG_TEMPLATE = """\
# Settings for this CRM. Every key is optional; see docs/format.md.
title: {title}

# Keep-in-touch interval for contacts without their own `cadence`: 30, 2w, 3m, 1y.
default_cadence: 3m

# Extra section kinds that count as being in touch
# (on top of call, email, meeting, message, visit, social).
# touch_kinds:
#   - workshop

# Link every page to your editor or your Git host, for example:
# edit_url: vscode://file/{{abs_path}}
"""

GITIGNORE_LINES = ("output/", ".crm-cache/")

PRE_COMMIT_CONFIG = """\
# Run `pre-commit install` once; then every commit is checked and formatted.
# The hooks run the `crm` you have installed. To pin a version instead, use
#   - repo: <URL of the crm repository>
#     rev: <tag>
#     hooks: [{id: crm-check}, {id: crm-fmt}]
repos:
  - repo: local
    hooks:
      - id: crm-fmt
        name: crm fmt (canonical form for clean diffs)
        entry: crm fmt
        language: system
        files: ^(contacts|orgs)/.*\\.md$
      - id: crm-check
        name: crm check (validate every contact and org)
        entry: crm check
        language: system
        files: ^((contacts|orgs)/.*\\.md|crm\\.yaml)$
        pass_filenames: false
"""

EXAMPLE_SUMMARY = """\
This is an example contact: edit it, or delete it once you have your own.
Every contact is a file like this one: YAML front matter between the `---`
lines, a free summary (this text), then dated notes, newest first.
Add a note from the terminal with `crm touch ada-lovelace call -m "..."`."""


def example_contact(today: date) -> str:
    contact = NewContact(
        name="Ada Lovelace", emails=["ada@example.com"], title="Mathematician",
        tags=["example"], tier="B", status="lead", since=today, summary=EXAMPLE_SUMMARY,
    )
    section = (f"## {today.isoformat()} note: Started this CRM\n\n"
               "Created with crm init. A word like #onboarding is a topic: the site lists every note about it.\n")
    return f"{render_contact(contact)}\n{section}"


@dataclass(slots=True)
class InitResult:
    root: Path
    created: list[str] = field(default_factory=list)
    updated: list[str] = field(default_factory=list)
    kept: list[str] = field(default_factory=list)
    git: str = ""  # what happened about git, in words
    problems: list[Problem] = field(default_factory=list)


def init_crm(directory: Path, today: date, title: str | None = None, use_git: bool = True) -> InitResult:
    """Create a new CRM in directory (created when missing). Never overwrites: an
    existing CRM is refused, an existing .gitignore only gains the missing lines."""
    root = directory.resolve()
    result = InitResult(root)
    if root.exists() and not root.is_dir():
        result.problems.append(error(str(directory), None, "not-a-folder", f"{directory} exists and is not a folder"))
        return result
    existing = [n for n in ("contacts", "orgs", "crm.yaml") if (root / n).exists()]
    if existing:
        result.problems.append(error(str(directory), None, "already-a-crm",
                                     f"{directory} already holds a CRM ({', '.join(existing)}); nothing changed"))
        return result
    root.mkdir(parents=True, exist_ok=True)
    for folder in fs.ENTITY_DIRS:
        (root / folder).mkdir()
        result.created.append(f"{folder}/")
    _write_if_missing(root, "crm.yaml", CONFIG_TEMPLATE.format(title=_yaml_text(title or "Contacts")), result)
    _write_if_missing(root, ".pre-commit-config.yaml", PRE_COMMIT_CONFIG, result)
    _write_if_missing(root, "contacts/ada-lovelace.md", example_contact(today), result)
    _update_gitignore(root, result)
    if use_git:
        result.git = _git_init(root)
    return result


def _yaml_text(value: str) -> str:
    buffer = io.StringIO()
    _yaml().dump({"v": value}, buffer)
    return buffer.getvalue().split(":", 1)[1].strip()


def _write_if_missing(root: Path, rel: str, text: str, result: InitResult) -> None:
    path = root / rel
    if path.exists():
        result.kept.append(rel)
        return
    fs.write_atomic(path, text)
    result.created.append(rel)


def _update_gitignore(root: Path, result: InitResult) -> None:
    path = root / ".gitignore"
    if not path.exists():
        fs.write_atomic(path, "".join(f"{line}\n" for line in GITIGNORE_LINES))
        result.created.append(".gitignore")
        return
    text = path.read_text(encoding="utf-8", errors="replace")
    present = {line.strip() for line in text.splitlines()}
    missing = [line for line in GITIGNORE_LINES if line not in present and line.rstrip("/") not in present]
    if not missing:
        result.kept.append(".gitignore")
        return
    separator = "" if not text or text.endswith("\n") else "\n"
    fs.write_atomic(path, text + separator + "".join(f"{line}\n" for line in missing))
    result.updated.append(".gitignore")


def _git_init(root: Path) -> str:
    git = shutil.which("git")
    if git is None:
        return "git is not installed; no repository created"
    inside = subprocess.run([git, "-C", str(root), "rev-parse", "--is-inside-work-tree"],
                            capture_output=True, text=True)
    if inside.returncode == 0 and inside.stdout.strip() == "true":
        return "already inside a git repository; no new repository created"
    done = subprocess.run([git, "init", "-q", str(root)], capture_output=True, text=True)
    if done.returncode != 0:
        return f"git init failed: {done.stderr.strip()}"
    return "created a git repository (nothing committed yet)"
