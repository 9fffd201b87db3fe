"""Loading runs with the cyclic garbage collector paused (cache.gc_paused): whatever the
parser leaves in a reference cycle stays in memory until a collection, which a one-shot
command never runs and `crm serve` runs every so many builds. So parsing must leave no
cycles behind. The fast YAML path once did (its recursive closure held libyaml's loader,
about 30 KB a file): 300 MB at 10,000 contacts, and `crm serve` over 600 MB after a
program upgrade."""

from __future__ import annotations

import gc
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from parse_reference_v0.tricky import tricky_files
from site_builder import fs, loader, parse, yamlsafe

REPO = Path(__file__).resolve().parent.parent


@contextmanager
def cyclic_garbage() -> Iterator[Counter[str]]:
    """The types of the objects left in unreachable cycles by the block (collector off)."""
    found: Counter[str] = Counter()
    gc.collect()
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield found
    finally:
        gc.set_debug(gc.DEBUG_SAVEALL)
        try:
            gc.collect()
            found.update(type(o).__name__ for o in gc.garbage)
            gc.garbage.clear()
        finally:
            gc.set_debug(0)
            if was_enabled:
                gc.enable()


def test_the_fast_yaml_path_leaves_no_cycles() -> None:
    text = "name: Ada Lovelace\ntier: A\ntags: [math, engines]\nphones:\n  - '+44 20 7946 0000'\n"
    with cyclic_garbage() as found:
        for _ in range(20):
            assert yamlsafe.load(text).ok
    assert not found, found


def test_parsing_tricky_files_leaves_no_cycles() -> None:
    # Bad YAML, deep nesting, duplicate keys, odd headings... but no anchors: an alias
    # inside its own anchor (`&a [*a]`) is a cycle in the document itself, and refused.
    files = [(rel, data) for rel, data in tricky_files(400, seed=5) if b"&" not in data]
    assert len(files) > 200
    with cyclic_garbage() as found:
        for rel, data in files:
            parse.parse_file(rel, data)
    assert not found, found


def test_loading_the_sample_crm_leaves_no_cycles() -> None:
    files, _ = fs.discover(REPO)
    with cyclic_garbage() as found:
        results = loader.parse_many(files, workers=1)
    assert len(results) == len(files) and not found, found


def test_computing_the_stats_leaves_no_cycles(tmp_path: Path) -> None:
    """The stats' computations freeze what they made (stats.freeze_survivors): a cycle
    among it would stay frozen until `crm serve` next unfreezes. Full, and from memory
    after an edit."""
    import shutil
    from datetime import date

    from site_builder import stats, stats_incremental

    root = tmp_path / "crm"
    shutil.copytree(REPO / "contacts", root / "contacts")
    shutil.copytree(REPO / "orgs", root / "orgs")
    today = date(2026, 11, 22)
    # Cycles in the data too: two people who referred each other, two orgs each the
    # other's parent (the checks report them; the figures must still not loop).
    (root / "contacts" / "cyc-a.md").write_text("---\nname: Cyc A\nreferred_by: cyc-b\nstatus: customer\n"
                                              "org: cyc-x\n---\n## 2026-11-01 call: Hello\n", encoding="utf-8")
    (root / "contacts" / "cyc-b.md").write_text("---\nname: Cyc B\nreferred_by: cyc-a\norg: cyc-y\n---\n",
                                              encoding="utf-8")
    (root / "orgs" / "cyc-x.md").write_text("---\nname: Cyc X\nparent: cyc-y\n---\n", encoding="utf-8")
    (root / "orgs" / "cyc-y.md").write_text("---\nname: Cyc Y\nparent: cyc-x\n---\n", encoding="utf-8")
    loaded = loader.load(root, cache=False)
    memory = stats_incremental.StatsMemory()
    with cyclic_garbage() as found:
        stats.compute(loaded.crm, today)
        stats_incremental.compute(loaded.crm, today, memory, loaded.digests, signed=True)
    assert not found, found
    first = sorted((root / "contacts").glob("*.md"))[0]
    first.write_text(first.read_text(encoding="utf-8") + "\n## 2026-11-20 call: One more\n\nA call.\n", encoding="utf-8")
    loaded = loader.load(root, cache=False)
    with cyclic_garbage() as found:
        stats_incremental.compute(loaded.crm, today, memory, loaded.digests, signed=True)
    assert memory.last == "incremental" and not found, found
