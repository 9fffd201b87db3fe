"""Run parse -> model -> checks with a given set of modules, and turn every result into
plain nested tuples that keep types, field names and dict order (True is not 1, a
Decimal 1.50 is not 1.5), so the fast code and the frozen reference compare exactly.
Used by tests/test_parse_speed_equivalence.py and benchmarks/parse_oracle.py.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from types import ModuleType
from typing import Any

from site_builder.config import parse_config
from site_builder.problems import sorted_problems


def canon(value: Any, _active: tuple[int, ...] = ()) -> Any:
    """A comparable, picklable form that keeps types, field names and dict order; a
    container inside itself (YAML `&a [*a]`) becomes ("cycle", how many levels up)."""
    if id(value) in _active and isinstance(value, (dict, list)):
        return ("cycle", len(_active) - _active.index(id(value)))
    inner = (*_active, id(value))
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return (type(value).__name__, tuple((f.name, canon(getattr(value, f.name), inner))
                                            for f in dataclasses.fields(value)))
    if isinstance(value, tuple) and hasattr(type(value), "_fields"):  # a named tuple is a record too
        return (type(value).__name__, tuple((name, canon(getattr(value, name), inner))
                                            for name in type(value)._fields))
    if isinstance(value, dict):
        return ("dict", tuple((canon(k, inner), canon(v, inner)) for k, v in value.items()))
    if isinstance(value, (list, tuple, set, frozenset)):
        items = sorted(value, key=repr) if isinstance(value, (set, frozenset)) else value
        return (type(value).__name__, tuple(canon(v, inner) for v in items))
    return (type(value).__name__, repr(value))


def run(parse: ModuleType, model: ModuleType, validate: ModuleType,
        files: list[tuple[str, bytes]], config_bytes: bytes | None) -> dict[str, Any]:
    """What loader.assemble and api.check do, with the given modules."""
    parsed = [parse.parse_file(rel, data) for rel, data in files]
    config, problems = parse_config(config_bytes)
    contacts: dict[str, Any] = {}
    orgs: dict[str, Any] = {}
    for p in parsed:
        problems.extend(p.problems)
        if not p.ok:
            continue
        if p.path.startswith("contacts/"):
            contact = model.build_contact(p)
            contacts[contact.slug] = contact
        else:
            org = model.build_org(p)
            orgs[org.slug] = org
    crm = model.CRM(root=Path("."), config=config, contacts=dict(sorted(contacts.items())),
                    orgs=dict(sorted(orgs.items())), problems=problems)
    checked = validate.validate(crm)
    return {
        "parsed": [canon(p) for p in parsed],
        "contacts": canon(crm.contacts),
        "orgs": canon(crm.orgs),
        "checked": canon(checked),
        "sorted": canon(sorted_problems([*problems, *checked])),
    }
