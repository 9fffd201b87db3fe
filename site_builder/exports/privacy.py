"""What an export may show: `private: true` files are left out, and so are the fields a
file lists under `private_fields`, unless include_private is given.

`private_fields` takes front-matter key names (phones, addresses, birthday, family,
deals, invoices, any custom key, ...) and one more name, `notes`, for the summary and
the dated sections. Unknown names are ignored.
"""

from __future__ import annotations

import dataclasses
from typing import Any, TypeVar

from ..model import CRM, Contact, Entity, Org, as_text_list, may_have_front_matter_key

PRIVATE_FIELDS_KEY = "private_fields"
NOTES = "notes"

# key in the file -> attribute of the model, where they differ
_ATTRIBUTE = {"cadence": "cadence_days"}

E = TypeVar("E", bound=Entity)


def private_fields(entity: Entity) -> set[str]:
    if not may_have_front_matter_key(entity, PRIVATE_FIELDS_KEY):  # most files: their front matter stays packed
        return set()
    return {f.strip().lower() for f in as_text_list(entity.meta.get(PRIVATE_FIELDS_KEY))}


def redact(entity: E) -> E:
    """A copy of the entity without the fields it marks private."""
    hidden = private_fields(entity)
    if not hidden:
        return entity
    changes: dict[str, Any] = {}
    names = {f.name: f for f in dataclasses.fields(entity)}
    for key in hidden:
        attribute = _ATTRIBUTE.get(key, key)
        if key == NOTES:
            changes.update(summary="", sections=[])
        elif attribute in names and attribute not in ("slug", "path", "name", "meta", "lines", "custom", "private"):
            changes[attribute] = _empty_like(getattr(entity, attribute))
    changes["meta"] = {k: v for k, v in entity.meta.items() if k not in hidden}
    changes["custom"] = {k: v for k, v in entity.custom.items() if k not in hidden}
    changes["lines"] = {k: v for k, v in entity.lines.items() if not (k and k[0] in hidden)}
    return dataclasses.replace(entity, **changes)


def _empty_like(value: Any) -> Any:
    if isinstance(value, list):
        return []
    if isinstance(value, dict):
        return {}
    return None


def public_view(crm: CRM, include_private: bool = False) -> CRM:
    """The CRM as an export may show it. With include_private, the CRM itself."""
    if include_private:
        return crm
    orgs: dict[str, Org] = {s: redact(o) for s, o in crm.orgs.items() if not o.private}
    contacts: dict[str, Contact] = {}
    for slug, contact in crm.contacts.items():
        if contact.private:
            continue
        shown = redact(contact)
        if shown.org and shown.org not in orgs:  # do not leak a private org through a reference
            shown = dataclasses.replace(shown, org=None)
        if shown.referred_by and shown.referred_by not in crm.contacts or (
                shown.referred_by and crm.contacts[shown.referred_by].private):
            shown = dataclasses.replace(shown, referred_by=None)
        contacts[slug] = shown
    return CRM(root=crm.root, config=crm.config, contacts=contacts, orgs=orgs, problems=list(crm.problems))
