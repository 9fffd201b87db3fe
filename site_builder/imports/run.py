"""The import API (the edge): read import files, plan against the CRM, write or not."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

from .. import fs
from ..loader import load_crm
from ..problems import Problem, error, sorted_problems
from .apply import PHOTO_DIR, ImportPlan, plan_import, write_plan
from .csvfile import AUTO, read_contacts_csv
from .record import ImportedContact
from .vcard import read_vcards

MAX_IMPORT_BYTES = 200 * 1024 * 1024  # a phone's full export with photos is tens of MB


@dataclass(slots=True)
class ImportResult:
    plan: ImportPlan
    dry_run: bool
    written: list[str] = field(default_factory=list)

    @property
    def problems(self) -> list[Problem]:
        return sorted_problems(self.plan.problems)


def import_vcards(root: Path | str, files: list[Path], *, dry_run: bool = False, create_orgs: bool = True,
                  photos: bool = True) -> ImportResult:
    """`crm import vcard FILE...`: every card of every file, in order."""
    return _run(Path(root), files, lambda name, data: read_vcards(name, data), dry_run, create_orgs, photos)


def import_csv(root: Path | str, file: Path, source: str = AUTO, *, dry_run: bool = False,
               create_orgs: bool = True) -> ImportResult:
    """`crm import csv FILE --from google|outlook|linkedin|auto`."""
    return _run(Path(root), [file], lambda name, data: read_contacts_csv(name, data, source), dry_run,
                create_orgs, False)


def _run(root: Path, files: list[Path], reader, dry_run: bool, create_orgs: bool, photos: bool) -> ImportResult:  # type: ignore[no-untyped-def]
    crm = load_crm(root, cache=not dry_run)  # a dry run writes nothing, not even the parse cache
    records: list[ImportedContact] = []
    problems: list[Problem] = []
    for file in files:
        name = str(file)
        try:
            if file.stat().st_size > MAX_IMPORT_BYTES:
                problems.append(error(name, None, "import-too-large",
                                      f"file is larger than {MAX_IMPORT_BYTES // 1048576} MB; split it"))
                continue
            data = file.read_bytes()
        except OSError as exc:
            problems.append(error(name, None, "unreadable", f"cannot read: {exc.strerror or exc}"))
            continue
        found, file_problems = reader(name, data)
        records.extend(found)
        problems.extend(file_problems)
    plan = plan_import(crm, records, _reader(crm.root), existing_paths(crm.root), create_orgs=create_orgs,
                       photos=photos)
    plan.problems[:0] = problems
    result = ImportResult(plan, dry_run)
    if not dry_run:
        result.written = write_plan(plan)
    return result


def _reader(root: Path):  # type: ignore[no-untyped-def]
    def read(rel: str) -> bytes | None:
        return fs.read_optional(root / rel, root)

    return read


def existing_paths(root: Path) -> set[str]:
    """Every file name already in contacts/, orgs/ and contacts/photos/ (to never reuse one)."""
    found: set[str] = set()
    for folder in ("contacts", "orgs", PHOTO_DIR):
        directory = root / folder
        if directory.is_dir():
            found.update(f"{folder}/{name}" for name in os.listdir(directory))
    return found
