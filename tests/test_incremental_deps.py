"""incremental.remembered_parts: after any sequence of edits, the same page dependency
parts and namers as a full computation (what `crm serve` keeps between saves)."""

from __future__ import annotations

import shutil
import sys
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from site_builder import incremental
from site_builder.loader import LoadMemory, load

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / "benchmarks"))
import generate  # noqa: E402

sys.path.insert(0, str(REPO / "tests"))
from test_incremental import (op_add, op_add_note, op_break, op_change_org, op_config, op_delete,  # noqa: E402
                              op_edit_name, op_edit_org, op_org_parent, op_rename, contacts_of)


def op_unmention(root: Path, pick: int) -> None:
    """A file stops naming anyone: the pages it named lose a namer."""
    path = contacts_of(root)[pick % len(contacts_of(root))]
    head, sep, body = path.read_text(encoding="utf-8")[4:].partition("\n---\n")
    path.write_text("---\n" + head + sep + body.replace("@", "at "), encoding="utf-8")


def op_contact_named_like_an_org(root: Path, pick: int) -> None:
    """A contact file with an org's slug: both files count towards that slug."""
    orgs = sorted((root / "orgs").glob("*.md"))
    template = contacts_of(root)[pick % len(contacts_of(root))].read_text(encoding="utf-8")
    (root / "contacts" / orgs[pick % len(orgs)].name).write_text(template, encoding="utf-8")


def op_mention_self_and_org(root: Path, pick: int) -> None:
    people = contacts_of(root)
    orgs = sorted((root / "orgs").glob("*.md"))
    path = people[pick % len(people)]
    with path.open("a", encoding="utf-8") as handle:
        handle.write(f"\n## 2026-11-0{1 + pick % 9} call @{path.stem} @{orgs[pick % len(orgs)].stem}: Self {pick}\n")


CONTACT_OPERATIONS = [op_edit_name, op_add_note, op_change_org, op_break, op_add, op_rename, op_delete,
                      op_unmention, op_mention_self_and_org]
OPERATIONS = [*CONTACT_OPERATIONS, op_org_parent, op_edit_org, op_config, op_contact_named_like_an_org]


def corpus(root: Path) -> Path:
    shutil.rmtree(root, ignore_errors=True)
    generate.generate(root, contacts=24, sections=4, seed=11)
    return root


def full(root: Path) -> tuple[dict[str, bytes], dict[str, set[str]], incremental.DependencyMap]:
    crm = (loaded := load(root, cache=False)).crm
    deps = incremental.DependencyMap.of(crm)
    return incremental.dependency_parts(crm, loaded.digests, deps), deps.named_by, deps


def without_empty(named_by: dict[str, set[str]]) -> dict[str, set[str]]:
    return {slug: keys for slug, keys in named_by.items() if keys}


def check_sequence(root: Path, operations: list[tuple[object, int]], stored: bool = False) -> list[str]:
    """Apply the operations one by one; after each, the remembered parts must equal a
    full computation. Returns how each was made. stored: the memory goes through
    .crm-cache/deps.bin between computations and each load is a fresh one (as between
    two `crm build` runs); else it stays in this process (as in `crm serve`)."""
    files, memory = (None if stored else LoadMemory()), incremental.DependencyMemory()
    loaded = load(root, memory=files)
    incremental.remembered_parts(loaded.crm, loaded.digests, memory)
    modes = []
    for operation, pick in operations:
        if stored:
            incremental.write_dependencies(root, memory)
        operation(root, pick)  # type: ignore[operator]
        loaded = load(root, memory=files)
        if stored:
            memory = incremental.read_dependencies(loaded.crm)
            assert memory.deps is not None
        parts, named_by = incremental.remembered_parts(loaded.crm, loaded.digests, memory)
        want_parts, want_named_by, want = full(root)
        assert parts == want_parts, (operation, pick)
        assert without_empty(named_by) == without_empty(want_named_by), (operation, pick)
        assert memory.deps is not None  # the whole map stays the one a full computation makes
        assert memory.deps.refs == want.refs, (operation, pick)
        assert without_empty(memory.deps.members) == without_empty(want.members), (operation, pick)
        assert without_empty(memory.deps.children) == without_empty(want.children), (operation, pick)
        modes.append(memory.last)
    return modes


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow,
                                                                  HealthCheck.function_scoped_fixture])
@given(st.lists(st.tuples(st.sampled_from(OPERATIONS), st.integers(0, 60)), min_size=1, max_size=6))
def test_remembered_parts_equal_a_full_computation(tmp_path_factory, operations) -> None:  # type: ignore[no-untyped-def]
    check_sequence(corpus(tmp_path_factory.mktemp("crm")), operations)


@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.too_slow,
                                                                  HealthCheck.function_scoped_fixture])
@given(st.lists(st.tuples(st.sampled_from(OPERATIONS), st.integers(0, 60)), min_size=1, max_size=6))
def test_parts_remembered_in_deps_bin_equal_a_full_computation(tmp_path_factory, operations) -> None:  # type: ignore[no-untyped-def]
    check_sequence(corpus(tmp_path_factory.mktemp("crm")), operations, stored=True)


def test_every_contact_operation_is_worked_out_incrementally(tmp_path: Path) -> None:
    """The oracle above cannot pass by always computing in full: contact edits take the
    incremental path (each checked against a full computation)."""
    root = corpus(tmp_path / "crm")
    operations = [(op, pick) for pick in (0, 7, 13) for op in CONTACT_OPERATIONS]
    modes = check_sequence(root, operations)
    assert modes == ["incremental"] * len(operations)


def test_org_families_with_a_cycle_of_parents(tmp_path: Path) -> None:
    """Org pages gather their family's people and namers: with parents set (a chain, then
    a cycle, where families are not symmetric), contact edits must still reach every org
    page they change."""
    root = corpus(tmp_path / "crm")
    orgs = sorted((root / "orgs").glob("*.md"))
    setup = [(op_org_parent, 0), (op_org_parent, 1)]  # a -> b -> c
    cycle = [(op_org_parent, 2)]  # c -> a
    edits = [(op, pick) for pick in (1, 5, 9, 14) for op in (op_change_org, op_add_note, op_edit_name, op_delete,
                                                          op_add, op_unmention, op_mention_self_and_org)]
    assert len(orgs) >= 3
    modes = check_sequence(root, [*setup, *edits, *cycle, *edits])
    assert modes.count("incremental") == 2 * len(edits)


def test_org_edits_and_slugs_shared_with_an_org_are_worked_out_in_full(tmp_path: Path) -> None:
    root = corpus(tmp_path / "crm")
    modes = check_sequence(root, [(op_edit_org, 1), (op_add_note, 2), (op_org_parent, 3),
                                  (op_contact_named_like_an_org, 4), (op_config, 5)])
    assert modes == ["full", "incremental", "full", "full", "incremental"]


def test_a_failed_update_is_forgotten(tmp_path: Path) -> None:
    """A memory that an exception left half updated is never trusted again."""
    root = corpus(tmp_path / "crm")
    memory = incremental.DependencyMemory()
    loaded = load(root)
    incremental.remembered_parts(loaded.crm, loaded.digests, memory)
    op_add_note(root, 3)
    loaded = load(root)
    broken = {path: digest for path, digest in loaded.digests.items()}
    try:
        incremental.remembered_parts(None, broken, memory)  # type: ignore[arg-type]
    except AttributeError:
        pass
    assert memory.deps is None and memory.parts == {}
    parts, _ = incremental.remembered_parts(loaded.crm, loaded.digests, memory)
    assert memory.last == "full" and parts == full(root)[0]


# --- a CRM made by hand, where each rule is the only one reaching a page ----------------------------


def write_entity(root: Path, folder: str, slug: str, front: str, body: str = "") -> None:
    (root / folder).mkdir(parents=True, exist_ok=True)
    (root / folder / f"{slug}.md").write_text(f"---\nname: {slug.title()}\n{front}---\n{body}", encoding="utf-8")


def small_world(root: Path) -> Path:
    """Orgs a <- b (b's parent is a), c, d; x works at b; y works at c and names x;
    z works nowhere, names x and names org d; w names no one."""
    write_entity(root, "orgs", "a", "")
    write_entity(root, "orgs", "b", "parent: a\n")
    write_entity(root, "orgs", "c", "")
    write_entity(root, "orgs", "d", "")
    write_entity(root, "contacts", "x", "org: b\n")
    write_entity(root, "contacts", "y", "org: c\n", "\n## 2026-01-05 note: Lunch\n\nSaw @x.\n")
    write_entity(root, "contacts", "z", "", "\n## 2026-01-06 call @x: Call\n\nAbout @d.\n")
    write_entity(root, "contacts", "w", "")
    return root


def op_x_moves_to_c(root: Path, pick: int) -> None:
    """x leaves b (the pages of a and b lose a person) for c."""
    write_entity(root, "contacts", "x", "org: c\n")


def op_rename_x(root: Path, pick: int) -> None:
    """y (at c) and z (naming d) name x: the pages of c and d show x's name."""
    write_entity(root, "contacts", "x", "org: b\n", "\nRenamed.\n")
    path = root / "contacts" / "x.md"
    path.write_text(path.read_text(encoding="utf-8").replace("name: X", "name: Xavier"), encoding="utf-8")


def op_w_names_d(root: Path, pick: int) -> None:
    write_entity(root, "contacts", "w", "", "\nMet someone from @d.\n")


def op_delete_x(root: Path, pick: int) -> None:
    (root / "contacts" / "x.md").unlink()


@pytest.mark.parametrize("stored", [False, True])
def test_each_rule_reaches_the_pages_only_it_reaches(tmp_path: Path, stored: bool) -> None:
    for operation in (op_x_moves_to_c, op_rename_x, op_w_names_d, op_delete_x):
        root = small_world(tmp_path / operation.__name__)
        assert check_sequence(root, [(operation, 0)], stored) == ["incremental"], operation


def test_stored_contact_edits_are_worked_out_incrementally(tmp_path: Path) -> None:
    root = corpus(tmp_path / "crm")
    operations = [(op, pick) for pick in (0, 7) for op in CONTACT_OPERATIONS]
    assert check_sequence(root, operations, stored=True) == ["incremental"] * len(operations)


@pytest.mark.parametrize("damage", ["garbage", "truncated", "wrong-shape"])
def test_a_damaged_deps_bin_is_never_trusted(tmp_path: Path, damage: str) -> None:
    from site_builder import cache

    root = corpus(tmp_path / "crm")
    loaded = load(root)
    memory = incremental.DependencyMemory()
    incremental.remembered_parts(loaded.crm, loaded.digests, memory)
    incremental.write_dependencies(root, memory)
    path = cache.cache_dir(root) / incremental.DEPS_FILE
    if damage == "garbage":
        path.write_bytes(b"not a cache file")
    elif damage == "truncated":
        path.write_bytes(path.read_bytes()[:-40])
    else:
        cache.write_blob(path, incremental.DEPS_KIND, cache.program_fingerprint(incremental.all_modules()),
                         ({}, {"c:x": ["not", "a", "set"]}, {}, {}, {}))
    op_add_note(root, 3)
    loaded = load(root)
    read = incremental.read_dependencies(loaded.crm)
    assert read.deps is None
    parts, _ = incremental.remembered_parts(loaded.crm, loaded.digests, read)
    assert read.last == "full" and parts == full(root)[0]


def test_crm_build_keeps_the_memory_and_serve_starts_from_it(tmp_path: Path) -> None:
    """A cold `crm build` writes deps.bin; a rebuild after an edit works out the parts
    from it, and so does the first build of a long-running process."""
    from datetime import date

    from site_builder.build import build_site
    from site_builder import cache

    root, out = corpus(tmp_path / "crm"), tmp_path / "site"
    build_site(root, out, date(2026, 11, 22))
    path = cache.cache_dir(root) / incremental.DEPS_FILE
    assert path.is_file()
    op_add_note(root, 5)
    loaded = load(root)
    assert incremental.read_dependencies(loaded.crm).digests != loaded.digests
    build_site(root, out, date(2026, 11, 22))
    assert incremental.read_dependencies(load(root).crm).digests == load(root).digests
    op_edit_name(root, 2)
    files = LoadMemory()
    build_site(root, out, date(2026, 11, 22), memory=files)
    assert files.dependencies.last == "incremental"


NAMES = st.sets(st.sampled_from(["a", "b", "c-d", "x\0y", "", "\0"]), max_size=4)
JOINED_OPERATIONS = st.lists(st.tuples(st.sampled_from(["get", "item", "set", "pop", "del", "add", "in", "pickle"]),
                                       st.sampled_from(["k1", "k2", "k3", "k4"]), NAMES), max_size=20)


@settings(max_examples=200, deadline=None)
@given(st.dictionaries(st.sampled_from(["k1", "k2", "k3"]), NAMES), st.booleans(), JOINED_OPERATIONS)
def test_joined_sets_behave_as_the_dict_they_stand_for(start, default, operations) -> None:  # type: ignore[no-untyped-def]
    """JoinedSets (the dependency map's references and namers, stored joined and read
    lazily) against a dict, or a defaultdict(set) with default: any names (a separator
    in one keeps the set as it is), reads in any order, writes, and pickling between."""
    import pickle
    from collections import defaultdict

    model: dict[str, set[str]] = defaultdict(set) if default else {}
    model.update({key: set(names) for key, names in start.items()})
    sets = incremental.JoinedSets.of({key: set(names) for key, names in start.items()}, default=default)
    sets = pickle.loads(pickle.dumps(sets))  # as deps.bin, or the forked job's answer
    for operation, key, names in operations:
        if operation == "get":
            assert sets.get(key) == model.get(key) and sets.get(key, ()) == model.get(key, ())
        elif operation == "item":
            if default or key in model:
                assert sets[key] == model[key]
            else:
                with pytest.raises(KeyError):
                    sets[key]
        elif operation == "set":
            sets[key], model[key] = set(names), set(names)
        elif operation == "pop":
            assert sets.pop(key, None) == model.pop(key, None)
        elif operation == "del" and key in model:
            del sets[key], model[key]
        elif operation == "add" and (default or key in model):
            sets[key].update(names)
            model[key].update(names)
        elif operation == "in":
            assert (key in sets) == (key in model)
        elif operation == "pickle":
            sets = pickle.loads(pickle.dumps(sets))
        assert len(sets) == len(model) and sorted(sets) == sorted(model)
        assert dict(sets.items()) == dict(model) and sets == model
        assert incremental.JoinedSets(sets.joined()) == model


def test_deps_bin_keeps_the_names_joined(tmp_path: Path) -> None:
    """The references and namers are stored as one string per file or slug (reading
    300,000 names as sets cost an edit's build 95 ms at 10,000 contacts), and read back
    lazily: a fresh read decodes none of them."""
    from site_builder import cache

    root = corpus(tmp_path / "crm")
    loaded = load(root)
    memory = incremental.DependencyMemory()
    incremental.remembered_parts(loaded.crm, loaded.digests, memory)
    incremental.write_dependencies(root, memory)
    payload = cache.read_blob(cache.cache_dir(root) / incremental.DEPS_FILE, incremental.DEPS_KIND,
                              cache.program_fingerprint(incremental.all_modules()))
    _, refs, named_by, *_ = payload  # type: ignore[misc]
    assert refs and named_by and {type(v) for v in (*refs.values(), *named_by.values())} == {str}
    read = incremental.read_dependencies(loaded.crm)
    assert read.deps is not None and isinstance(read.deps.refs, incremental.JoinedSets)
    assert read.deps.refs._sets == {} and read.deps.named_by._sets == {}  # type: ignore[attr-defined]
    assert read.deps.refs == memory.deps.refs  # type: ignore[union-attr]
