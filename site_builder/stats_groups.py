"""Each org group's touches, kept between computations and moved by what changed.

An org's touch figures count every touch section of its group (the org, the orgs below
it and all their contacts), each section once however many of the group it names
(stats_touches.build_index). Worked out from the sections, that is a pass over every
file naming anyone in the group: after one contact was added to a CRM of 10,000, about
5,400 files and 0.35 s. But the group's touches are a sum over files, each file's
sections counted for the groups they reach, so they move by what the changed files
move: the changed files' touches before and after, and, when a contact came, went or
changed org, the touches of the files naming it, reaching its groups or not. This module
keeps each org's group touches as counts (day -> n, kind -> n: all the figures read)
and each file's touch sections, and works out that difference. Pure functions of the
values given; stats_incremental keeps and stores them.
"""

from __future__ import annotations

import pickle
from collections.abc import Iterable, Iterator, Mapping
from datetime import date
from typing import Any

from .model import CRM, Config, Entity

# A file's touch sections up to today, in file order: (day number, kind, the slugs its
# heading names). What a group's touches are made from.
FileTouches = tuple[tuple[int, str, tuple[str, ...]], ...]
# An org group's touches: day number -> count, kind -> count (stats.touch_figures reads
# the days sorted and the kinds counted, nothing that pairs a day with a kind).
GroupTouches = tuple[dict[int, int], dict[str, int]]

ABSENT = object()  # in Membership's overrides: not a contact in that version


class TouchesOfFiles(Mapping[str, FileTouches]):
    """Every file's touches, each made from the file when read: what a full computation
    leaves (made only when the memory is written, or for the files a change needs)."""

    def __init__(self, entities: dict[str, Entity], config: Config, today: date) -> None:
        self.entities, self.config, self.today = entities, config, today

    def __getitem__(self, path: str) -> FileTouches:
        return file_touches(self.entities[path], self.config, self.today)

    def __iter__(self) -> Iterator[str]:
        return iter(self.entities)

    def __len__(self) -> int:
        return len(self.entities)


def file_touches(entity: Entity, config: Config, today: date) -> FileTouches:
    now = today.toordinal()
    is_touch = config.is_touch
    return tuple((day, section.kind, section.participants) for section in entity.sections
                 if (day := section.date.toordinal()) <= now and is_touch(section.kind))


class Membership:
    """Which orgs' groups a contact's or an org's touches reach in one version of the CRM:
    the CRM's contacts and their orgs, but for the overrides (slug -> org, or ABSENT for
    a contact not there in that version); the orgs and their parents are the CRM's (a
    change to an org file is a full computation)."""

    def __init__(self, crm: CRM, chains: dict[str, tuple[str, ...]], overrides: dict[str, Any]) -> None:
        self.crm, self.chains, self.overrides = crm, chains, overrides

    def contact_up(self, slug: str) -> tuple[str, ...] | None:
        """The orgs a contact's touches reach (its org and those above it); None when it
        is not a contact in this version."""
        org = self.overrides.get(slug, ABSENT) if slug in self.overrides else self._org_now(slug)
        if org is ABSENT:
            return None
        return self.chains.get(org, ()) if org else ()  # type: ignore[arg-type]

    def _org_now(self, slug: str) -> Any:
        contact = self.crm.contacts.get(slug)
        return ABSENT if contact is None else contact.org

    def groups(self, own: tuple[bool, str], participants: tuple[str, ...]) -> Iterable[str]:
        """The groups one touch section reaches, each once (stats_touches.build_index's
        targets: its own file's contact or org and every contact and org its heading
        names but that one)."""
        is_contact, slug = own
        own_up = (self.contact_up(slug) if is_contact else self.chains.get(slug)) or ()
        if not participants:
            return own_up
        reached = set(own_up)
        for named in participants:
            if not (is_contact and named == slug):
                up = self.contact_up(named)
                if up:
                    reached.update(up)
            if not (not is_contact and named == slug):
                up = self.chains.get(named)
                if up:
                    reached.update(up)
        return reached


def chains_of(crm: CRM) -> dict[str, tuple[str, ...]]:
    from .stats_touches import org_chain

    return {slug: tuple(org_chain(crm, slug)) for slug in crm.orgs}


def own_of(path: str) -> tuple[bool, str]:
    """(whether the file is a contact's, its slug), from its path."""
    folder, _, name = path.partition("/")
    return folder == "contacts", name.removesuffix(".md")


def add_touches(days: dict[str, dict[int, int]], kinds: dict[str, dict[str, int]], touches: FileTouches,
                own: tuple[bool, str], membership: Membership, sign: int) -> None:
    """Add (sign 1) or take away (-1) one file's touches to the groups they reach."""
    for day, kind, participants in touches:
        for group in membership.groups(own, participants):
            group_days = days.setdefault(group, {})
            group_days[day] = group_days.get(day, 0) + sign
            group_kinds = kinds.setdefault(group, {})
            group_kinds[kind] = group_kinds.get(kind, 0) + sign


def moved(kept: GroupTouches, days: dict[int, int], kinds: dict[str, int]) -> GroupTouches:
    """kept with these differences added (counts that reach 0 dropped); ValueError when one
    would go below 0 (what was kept does not fit the files: never trusted)."""
    return _plus(kept[0], days), _plus(kept[1], kinds)


def _plus(kept: dict[Any, int], difference: dict[Any, int]) -> dict[Any, int]:
    result = dict(kept)
    for key, n in difference.items():
        if n:
            total = result.get(key, 0) + n
            if total < 0:
                raise ValueError("an org group's kept touches do not fit the files")
            if total:
                result[key] = total
            else:
                del result[key]
    return result


def counted(group_days: list[int], group_kinds: list[str]) -> GroupTouches:
    """An org's group touches as build_index lists them, counted."""
    days: dict[int, int] = {}
    for day in group_days:
        days[day] = days.get(day, 0) + 1
    kinds: dict[str, int] = {}
    for kind in group_kinds:
        kinds[kind] = kinds.get(kind, 0) + 1
    return days, kinds


def listed(touches: GroupTouches) -> tuple[list[int], list[str]]:
    """The counts as build_index lists them (days sorted; kinds in any order)."""
    days, kinds = touches
    return (sorted(day for day, n in days.items() for _ in range(n)),
            [kind for kind, n in kinds.items() for _ in range(n)])


def encode(entries: Mapping[str, Any]) -> bytes | None:
    """One part's entries (path -> FileTouches, or org slug -> GroupTouches) as a blob of
    the stats' memory; None for none."""
    return pickle.dumps(dict(entries), protocol=5) if entries else None


def decode_file_touches(blob: bytes | None) -> dict[str, FileTouches]:
    found = _decode(blob)
    for path, touches in found.items():
        if not (type(path) is str and type(touches) is tuple and all(
                type(t) is tuple and len(t) == 3 and type(t[0]) is int and type(t[1]) is str
                and type(t[2]) is tuple for t in touches)):
            raise ValueError("a file's touches in .crm-cache/figures-XX.bin are not of their shape")
    return found


def decode_group_touches(blob: bytes | None) -> dict[str, GroupTouches]:
    found = _decode(blob)
    for slug, touches in found.items():
        if not (type(slug) is str and type(touches) is tuple and len(touches) == 2
                and all(type(counts) is dict for counts in touches)):
            raise ValueError("an org group's touches in .crm-cache/figures-XX.bin are not of their shape")
    return found


def _decode(blob: bytes | None) -> dict[str, Any]:
    if blob is None:
        return {}
    from . import cache

    found = cache._decode_kept(blob)
    if type(found) is not dict:
        raise ValueError("a part of .crm-cache/figures-XX.bin does not read back")
    return found  # type: ignore[no-any-return]


class KeptParts(Mapping[str, Any]):
    """A per-key table of the stats' memory (path -> FileTouches, or org slug ->
    GroupTouches): a base (a dict with every entry, or the stored parts' blobs, each
    decoded when a key of its part is first read) with this process's changes over it
    (a value, or None for an entry gone). Only the parts a change touches are encoded
    again when the memory is written (parts_to_encode)."""

    def __init__(self, part_of: Any, decode: Any, base: Mapping[str, Any] | None = None,
                 fetch: Any = None, changes: dict[str, Any] | None = None) -> None:
        self._part_of, self._decode = part_of, decode
        self.base = base  # every entry (a full computation's), or None: the stored blobs hold them
        self.fetch = fetch  # part number -> its blob as stored (with base None)
        self._decoded: dict[int, dict[str, Any]] = {}
        self.changes: dict[str, Any] = changes if changes is not None else {}

    def with_changes(self, changes: dict[str, Any]) -> KeptParts:
        """These entries over this table's (the decoded parts shared)."""
        other = KeptParts(self._part_of, self._decode, self.base, self.fetch, {**self.changes, **changes})
        other._decoded = self._decoded
        return other

    def parts(self, numbers: Iterable[int]) -> dict[int, dict[str, Any]]:
        """Every entry of each of these parts, the changes applied."""
        wanted = set(numbers)
        if self.base is not None:  # one pass over every entry
            found: dict[int, dict[str, Any]] = {number: {} for number in wanted}
            for key, value in self.base.items():
                entries = found.get(self._part_of(key))
                if entries is not None:
                    entries[key] = value
        else:
            found = {number: dict(self._stored_part(number)) for number in wanted}
        for key, value in self.changes.items():
            entries = found.get(self._part_of(key))
            if entries is not None:
                if value is None:
                    entries.pop(key, None)
                else:
                    entries[key] = value
        return found

    def _stored_part(self, number: int) -> dict[str, Any]:
        found = self._decoded.get(number)
        if found is None:
            if self.fetch is None:
                raise KeyError(number)
            found = self._decoded[number] = self._decode(self.fetch(number))
        return found

    def changed_parts(self) -> set[int]:
        return {self._part_of(key) for key in self.changes}

    def __getitem__(self, key: str) -> Any:
        if key in self.changes:
            value = self.changes[key]
            if value is None:
                raise KeyError(key)
            return value
        if self.base is not None:
            return self.base[key]
        return self._stored_part(self._part_of(key))[key]

    def __iter__(self) -> Any:
        raise TypeError("a KeptParts table is read by key (part() gives a part's entries)")

    def __len__(self) -> int:
        raise TypeError("a KeptParts table is read by key")
