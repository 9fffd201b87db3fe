"""Root folder -> CRM: discover files, read each once, parse, build the model.

The only stage that touches the file system on the way in. Validation is a separate
stage (validate.py) so that callers that only need data, such as the benchmarks, can
skip it.
"""

from __future__ import annotations

from pathlib import Path

from . import fs
from .config import CONFIG_FILE, parse_config
from .model import CRM, Contact, Org, build_contact, build_org
from .parse import ParsedFile, parse_file
from .problems import Problem, error


def parse_source(file: fs.SourceFile) -> ParsedFile:
    try:
        data = fs.read_bytes(file)
    except OSError as exc:
        parsed = ParsedFile(path=file.rel, ok=False)
        parsed.problems.append(error(file.rel, None, "unreadable", f"cannot read file: {exc.strerror or exc}"))
        return parsed
    return parse_file(file.rel, data)


def assemble(root: Path, config_bytes: bytes | None, parsed_files: list[ParsedFile],
             extra_problems: list[Problem]) -> CRM:
    """Pure: parsed files -> CRM. Files that could not be read at all are left out."""
    config, problems = parse_config(config_bytes)
    problems = [*extra_problems, *problems]
    contacts: dict[str, Contact] = {}
    orgs: dict[str, Org] = {}
    for parsed in parsed_files:
        problems.extend(parsed.problems)
        if not parsed.ok:
            continue
        if parsed.path.startswith("contacts/"):
            contact = build_contact(parsed)
            contacts[contact.slug] = contact
        else:
            org = build_org(parsed)
            orgs[org.slug] = org
    return CRM(root=root, config=config, contacts=dict(sorted(contacts.items())),
               orgs=dict(sorted(orgs.items())), problems=problems)


def load_crm(root: Path) -> CRM:
    root = fs.find_root(root)
    files, problems = fs.discover(root)
    parsed = [parse_source(f) for f in files]
    return assemble(root, fs.read_optional(root / CONFIG_FILE, root), parsed, problems)
