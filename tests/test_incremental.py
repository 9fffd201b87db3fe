"""Incremental builds: byte-identical to a clean build, whatever happened in between."""

from __future__ import annotations

import os
import shutil
import sys
import tempfile
from datetime import date
from typing import Any
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from site_builder import incremental
from site_builder.build import BuildError, build_site

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / "benchmarks"))
import generate  # noqa: E402

TODAY = date(2026, 11, 22)


def tree(folder: Path) -> dict[str, bytes]:
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


def small_corpus(root: Path) -> Path:
    generate.generate(root, contacts=14, sections=3, seed=5)
    return root


def assert_same_as_clean(root: Path, out: Path, scratch: Path, today: date = TODAY) -> None:
    clean = scratch / "clean"
    shutil.rmtree(clean, ignore_errors=True)
    build_site(root, clean, today, cache=False)
    got, want = tree(out), tree(clean)
    assert sorted(got) == sorted(want)
    different = [rel for rel in want if got[rel] != want[rel]]
    assert different == []


# --- operations a user does between two builds ---------------------------------------------------------


def contacts_of(root: Path) -> list[Path]:
    return sorted((root / "contacts").glob("*.md"))


def op_edit_name(root: Path, pick: int) -> None:
    path = contacts_of(root)[pick % len(contacts_of(root))]
    text = path.read_text(encoding="utf-8")
    start = text.index("\nname: ") + 1
    end = text.index("\n", start)
    path.write_text(text[:start] + f'name: "Renamed {pick}"' + text[end:], encoding="utf-8")


def op_edit_title(root: Path, pick: int) -> None:
    """A field the directory shows and no figure reads: only the file's digest tells."""
    path = contacts_of(root)[pick % len(contacts_of(root))]
    text = path.read_text(encoding="utf-8")
    lines = [line for line in text.split("\n") if not line.startswith("title:")]
    lines.insert(lines.index("---", 1), f"title: Head of {pick}")
    path.write_text("\n".join(lines), encoding="utf-8")


def op_add_note(root: Path, pick: int) -> None:
    people = contacts_of(root)
    path, other = people[pick % len(people)], people[(pick * 7 + 3) % len(people)]
    with path.open("a", encoding="utf-8") as handle:
        handle.write(f"\n## 2026-11-{10 + pick % 15:02d} meeting @{other.stem}: Catch-up {pick}\n\n"
                     f"Talked with @{other.stem} about #budget.\n")


def op_note_words(root: Path, pick: int) -> None:
    """Words in the newest note and nothing else: no figure, event or due item moves
    (`crm serve` keeps its calendar text and due items through it)."""
    path = contacts_of(root)[pick % len(contacts_of(root))]
    text = path.read_text(encoding="utf-8")
    at = text.find("\n## ")
    body = text.find("\n\n", at + 1) + 2 if at >= 0 else 1  # the note's first line, after its heading
    end = text.find("\n", body)
    if at < 0 or body < 2 or end < 0 or text.startswith("## ", body):
        return
    path.write_text(text[:end] + f" Also said {pick} things." + text[end:], encoding="utf-8")


def _mentioning_section(text: str) -> tuple[int, str] | None:
    """(where its heading starts, its date) of the first section that names someone."""
    import re
    for match in re.finditer(r"^## (\d{4}-\d{2}-\d{2})[^\n]*\n(?:(?!## )[^\n]*\n?)*", text, re.M):
        if "@" in match.group(0):
            return match.start(), match.group(1)
    return None


def op_note_before_a_mention(root: Path, pick: int) -> None:
    """A note naming no one, on the day of a note that names someone and before it in
    the file: the named pages' backlinks show that note with another id (note-DAY-2)."""
    path = contacts_of(root)[pick % len(contacts_of(root))]
    text = path.read_text(encoding="utf-8")
    found = _mentioning_section(text)
    if found is not None:
        at, day = found
        path.write_text(text[:at] + f"## {day} note: Aside {pick}\n\nNothing to add.\n\n" + text[at:],
                        encoding="utf-8")


def op_retitle_a_mention(root: Path, pick: int) -> None:
    """The title of a note that names someone: shown in the named pages' backlinks."""
    path = contacts_of(root)[pick % len(contacts_of(root))]
    text = path.read_text(encoding="utf-8")
    found = _mentioning_section(text)
    if found is not None:
        at = found[0]
        end = text.index("\n", at)
        heading = text[at:end]
        title = heading.split(":", 1)
        path.write_text(text[:at] + (f"{title[0]}: Retitled {pick}" if len(title) == 2 else f"{heading}: Retitled {pick}")
                        + text[end:], encoding="utf-8")


def op_summary_mention(root: Path, pick: int) -> None:
    """An @mention in a file's summary: the named page's backlinks say "in the summary"."""
    people = contacts_of(root)
    path, other = people[pick % len(people)], people[(pick * 5 + 1) % len(people)]
    text = path.read_text(encoding="utf-8")
    end = text.index("\n---", 3) + len("\n---\n")
    path.write_text(text[:end] + f"Knows @{other.stem} well.\n" + text[end:], encoding="utf-8")


def op_change_org(root: Path, pick: int) -> None:
    path = contacts_of(root)[pick % len(contacts_of(root))]
    orgs = sorted((root / "orgs").glob("*.md"))
    text = path.read_text(encoding="utf-8")
    start = text.index("\norg: ") + 1
    end = text.index("\n", start)
    path.write_text(text[:start] + f"org: {orgs[pick % len(orgs)].stem}" + text[end:], encoding="utf-8")


def op_break(root: Path, pick: int) -> None:
    """An error (unknown tier) and a mention of a file that does not exist."""
    path = contacts_of(root)[pick % len(contacts_of(root))]
    text = path.read_text(encoding="utf-8").replace("\ntier: ", "\ntier: Q\nold_tier: ", 1)
    path.write_text(text + f"\nAsked about @ghost-{pick % 3}.\n", encoding="utf-8")


def op_add(root: Path, pick: int) -> None:
    people = contacts_of(root)
    template = people[pick % len(people)].read_text(encoding="utf-8")
    (root / "contacts" / f"ghost-{pick % 3}.md").write_text(template.replace("\nname: ", "\nname: Ghost ", 1),
                                                            encoding="utf-8")


def op_rename(root: Path, pick: int) -> None:
    path = contacts_of(root)[pick % len(contacts_of(root))]
    path.rename(path.with_name(f"renamed-{pick}.md"))


def op_delete(root: Path, pick: int) -> None:
    people = contacts_of(root)
    if len(people) > 3:
        people[pick % len(people)].unlink()


def op_org_parent(root: Path, pick: int) -> None:
    orgs = sorted((root / "orgs").glob("*.md"))
    path, parent = orgs[pick % len(orgs)], orgs[(pick + 1) % len(orgs)]
    text = "\n".join(line for line in path.read_text(encoding="utf-8").split("\n") if not line.startswith("parent:"))
    path.write_text(text.replace("\nwebsite: ", f"\nparent: {parent.stem}\nwebsite: ", 1), encoding="utf-8")


def op_edit_org(root: Path, pick: int) -> None:
    orgs = sorted((root / "orgs").glob("*.md"))
    path = orgs[pick % len(orgs)]
    text = path.read_text(encoding="utf-8")
    path.write_text(text.replace("\nname: ", f"\nname: New {pick} ", 1) + f"\nWorks with @{contacts_of(root)[0].stem}.\n",
                    encoding="utf-8")


def op_config(root: Path, pick: int) -> None:
    with (root / "crm.yaml").open("a", encoding="utf-8") as handle:
        handle.write(f"touch_kinds: [workshop{pick}]\n")


OPERATIONS = [op_edit_name, op_edit_title, op_add_note, op_note_words, op_note_before_a_mention, op_retitle_a_mention,
              op_summary_mention, op_change_org, op_break, op_add, op_rename, op_delete, op_org_parent, op_edit_org, op_config]


@settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.tuples(st.sampled_from(OPERATIONS), st.integers(0, 40)), min_size=1, max_size=4))
def test_incremental_build_equals_clean_build(operations) -> None:  # type: ignore[no-untyped-def]
    with tempfile.TemporaryDirectory() as scratch_name:
        scratch = Path(scratch_name)
        root = small_corpus(scratch / "crm")
        out = scratch / "site"
        build_site(root, out, TODAY)
        for operation, pick in operations:
            operation(root, pick)
            build_site(root, out, TODAY)
        assert_same_as_clean(root, out, scratch)


@settings(max_examples=8, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.tuples(st.sampled_from(OPERATIONS), st.integers(0, 40)), min_size=1, max_size=4),
       st.lists(st.booleans(), min_size=5, max_size=5))
def test_builds_that_reuse_the_last_load_equal_a_clean_build(operations, let_go) -> None:  # type: ignore[no-untyped-def]
    """`crm serve` keeps what it loaded (LoadMemory) and reuses the files that did not
    change: after any edits its site is still the clean build's, byte for byte. After a
    build it may let go of the decoded sections (let_go: after which builds)."""
    from site_builder.loader import LoadMemory

    memory = LoadMemory()
    with tempfile.TemporaryDirectory() as scratch_name:
        scratch = Path(scratch_name)
        root = small_corpus(scratch / "crm")
        out = scratch / "site"
        build_site(root, out, TODAY, memory=memory)
        for (operation, pick), go in zip(operations, let_go):
            if go:
                memory.let_go_of_sections(most=0.0)
            operation(root, pick)
            build_site(root, out, TODAY, memory=memory)
            assert set(memory.files) == {p.relative_to(root).as_posix() for p in root.glob("*/*.md")}
        assert_same_as_clean(root, out, scratch)


# --- targeted cases ----------------------------------------------------------------------------------


@pytest.fixture
def corpus(tmp_path: Path) -> Path:
    return small_corpus(tmp_path / "crm")


def test_nothing_changed_rewrites_nothing_and_loads_nothing(corpus: Path, tmp_path: Path) -> None:
    out = tmp_path / "site"
    first = build_site(corpus, out, TODAY)
    assert first.changed == first.files
    stamps = {p: p.stat().st_mtime_ns for p in out.rglob("*") if p.is_file()}
    old = 1_600_000_000_000_000_000
    for path in [*corpus.glob("contacts/*.md"), *corpus.glob("orgs/*.md")]:
        os.utime(path, ns=(old, old))  # (fresh stamps are re-hashed; old ones are trusted)
    again = build_site(corpus, out, TODAY)
    assert again.changed == []
    assert again.files == first.files and again.problems == first.problems
    assert {p: p.stat().st_mtime_ns for p in out.rglob("*") if p.is_file()} == stamps


def test_one_edit_rewrites_few_files(corpus: Path, tmp_path: Path) -> None:
    out = tmp_path / "site"
    build_site(corpus, out, TODAY)
    victim = contacts_of(corpus)[4]
    with victim.open("a", encoding="utf-8") as handle:
        handle.write("\nOne more line in the last note.\n")
    result = build_site(corpus, out, TODAY)
    assert f"contacts/{victim.stem}.html" in result.changed
    assert len(result.changed) < len(result.files) // 2
    assert_same_as_clean(corpus, out, tmp_path)


def test_an_edit_that_names_no_one_new_renders_no_named_page(corpus: Path, tmp_path: Path,
                                                             monkeypatch: pytest.MonkeyPatch) -> None:
    """A note's words edited, or a note added that names no one: the pages of the people
    the file names show nothing of that (naming_face), so they are not rendered again.
    A title changed in a note that names them is on those pages: they are."""
    from site_builder import build as build_mod
    from site_builder.loader import load

    out = tmp_path / "site"
    build_site(corpus, out, TODAY)
    crm = load(corpus, cache=False).crm

    def people_named_in_notes(contact: Any) -> set[str]:
        return {slug for s in contact.sections for slug in (*s.participants, *s.mentions)
                if slug in crm.contacts and slug != contact.slug}

    victim = next(c for c in crm.contacts.values() if people_named_in_notes(c))
    family = incremental.DependencyMap.of(crm).family(victim.org) if victim.org else set()
    named = sorted(people_named_in_notes(victim))
    rendered: list[str] = []
    real = build_mod.render_page
    monkeypatch.setattr(build_mod, "render_page", lambda env, page: rendered.append(page.path) or real(env, page))
    path = corpus / victim.path
    for change in ("words", "note"):
        text = path.read_text(encoding="utf-8")
        path.write_text(text + ("\nOne more line in the last note.\n" if change == "words" else
                                "\n## 2026-11-19 note: Quiet\n\nNobody named here.\n"), encoding="utf-8")
        rendered.clear()
        build_site(corpus, out, TODAY, workers=1)
        entity_pages = {p for p in rendered if p.startswith(("contacts/", "orgs/"))}
        assert f"contacts/{victim.slug}.html" in entity_pages, change
        assert entity_pages <= {f"contacts/{victim.slug}.html", *(f"orgs/{o}.html" for o in family)}, change
        assert_same_as_clean(corpus, out, tmp_path)
    lines = path.read_text(encoding="utf-8").split("\n")
    section = next(s for s in victim.sections if s.participants or s.mentions)
    assert lines[section.line - 1].startswith(f"## {section.date.isoformat()}")  # its heading
    lines[section.line - 1] += " (retitled)"
    path.write_text("\n".join(lines), encoding="utf-8")
    rendered.clear()
    build_site(corpus, out, TODAY, workers=1)
    shown = {*section.participants, *section.mentions} & set(named)
    assert shown and {f"contacts/{slug}.html" for slug in shown} <= set(rendered)
    assert_same_as_clean(corpus, out, tmp_path)
    # Its summary comes to name someone a note of it names already (nothing else changes
    # in whom it names): that page's backlinks gain "in the summary".
    text = path.read_text(encoding="utf-8")
    end = text.index("\n---", 3) + len("\n---\n")
    path.write_text(text[:end] + f"Knows @{sorted(shown)[0]} well.\n" + text[end:], encoding="utf-8")
    rendered.clear()
    build_site(corpus, out, TODAY, workers=1)
    assert f"contacts/{sorted(shown)[0]}.html" in rendered
    assert_same_as_clean(corpus, out, tmp_path)


def test_hand_edited_or_deleted_output_is_restored(corpus: Path, tmp_path: Path) -> None:
    out = tmp_path / "site"
    build_site(corpus, out, TODAY)
    page = out / "contacts" / f"{contacts_of(corpus)[0].stem}.html"
    page.write_text("scribbled over", encoding="utf-8")
    (out / "index.html").unlink()
    (out / "stray.txt").write_text("not ours", encoding="utf-8")
    build_site(corpus, out, TODAY)
    assert_same_as_clean(corpus, out, tmp_path)


def test_template_change_rerenders_everything(corpus: Path, tmp_path: Path) -> None:
    out = tmp_path / "site"
    build_site(corpus, out, TODAY)
    (corpus / "templates").mkdir()
    shutil.copy(REPO / "templates" / "base.html", corpus / "templates" / "base.html")
    with (corpus / "templates" / "base.html").open("a", encoding="utf-8") as handle:
        handle.write("<!-- customised -->\n")
    result = build_site(corpus, out, TODAY)
    assert all(f in result.changed for f in result.files if f.endswith(".html"))
    assert_same_as_clean(corpus, out, tmp_path)


def test_another_day_rerenders(corpus: Path, tmp_path: Path) -> None:
    out = tmp_path / "site"
    build_site(corpus, out, TODAY)
    build_site(corpus, out, date(2026, 12, 24))
    clean = tmp_path / "clean"
    build_site(corpus, clean, date(2026, 12, 24), cache=False)
    assert tree(out) == tree(clean)


def test_failed_incremental_build_leaves_the_site_and_its_record(corpus: Path, tmp_path: Path) -> None:
    out = tmp_path / "site"
    build_site(corpus, out, TODAY)
    before = tree(out)
    victim = contacts_of(corpus)[2]
    (corpus / "templates").mkdir()
    (corpus / "templates" / "contact.html").write_text(
        '{% extends "base.html" %}{% block main %}{% if contact.slug == "' + victim.stem + '" %}'
        '{{ contact.missing_method() }}{% endif %}{% endblock %}', encoding="utf-8")
    with pytest.raises(BuildError):
        build_site(corpus, out, TODAY)
    assert tree(out) == before
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".site")] == []
    shutil.rmtree(corpus / "templates")
    build_site(corpus, out, TODAY)
    assert_same_as_clean(corpus, out, tmp_path)


def test_parallel_rendering_gives_the_same_site(corpus: Path, tmp_path: Path,
                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(incremental, "PARALLEL_MIN_PAGES", 1)
    monkeypatch.setattr(incremental, "_PAGES_PER_TASK", 4)
    out = tmp_path / "site"
    build_site(corpus, out, TODAY, workers=2)
    assert_same_as_clean(corpus, out, tmp_path)


def test_corrupt_build_record_is_discarded(corpus: Path, tmp_path: Path) -> None:
    out = tmp_path / "site"
    build_site(corpus, out, TODAY)
    for record in (corpus / ".crm-cache").glob("build-*.bin"):
        record.write_bytes(record.read_bytes()[:100])
    op_add_note(corpus, 3)
    build_site(corpus, out, TODAY)
    assert_same_as_clean(corpus, out, tmp_path)


@pytest.mark.parametrize("plant", ["old-shape", "keys-differ", "digest-not-text", "stamp-too-long"])
def test_a_build_record_of_the_wrong_shape_is_not_used(corpus: Path, tmp_path: Path, plant: str) -> None:
    """A record written with a valid checksum but the wrong shape (the manifest as an
    older program kept it, stamps and digests of other files, values of another type)
    is not trusted: the build goes on as without one, and its site is a clean build's."""
    out = tmp_path / "site"
    build_site(corpus, out, TODAY)
    target = out.resolve()
    state = incremental.load_state(corpus, target)
    assert state is not None
    manifest, digests = dict(state.manifest), dict(state.digests)
    first = next(iter(manifest))
    if plant == "old-shape":
        manifest = {rel: (*stamp, digests[rel]) for rel, stamp in manifest.items()}
    elif plant == "keys-differ":
        del digests[first]
    elif plant == "digest-not-text":
        digests[first] = digests[first].encode()
    else:
        manifest[first] = (*manifest[first], 0)
    planted = incremental.BuildState(state.fingerprint, state.tree_key, state.shared, state.signatures,
                                     manifest, digests, state.result, state.head)
    incremental.save_state(corpus, target, planted)
    assert incremental.load_state(corpus, target) is None
    op_add_note(corpus, 3)
    build_site(corpus, out, TODAY)
    assert_same_as_clean(corpus, out, tmp_path)


def _git(root: Path, *args: str) -> None:
    import subprocess

    env = {**os.environ, "GIT_AUTHOR_NAME": "T", "GIT_AUTHOR_EMAIL": "t@example.com", "GIT_COMMITTER_NAME": "T",
           "GIT_COMMITTER_EMAIL": "t@example.com", "GIT_AUTHOR_DATE": "2026-11-20T10:00:00",
           "GIT_COMMITTER_DATE": "2026-11-20T10:00:00"}
    subprocess.run(["git", "-C", str(root), *args], check=True, capture_output=True, env=env)


@pytest.mark.skipif(shutil.which("git") is None, reason="needs git")
def test_new_commits_show_up_in_an_incremental_build(corpus: Path, tmp_path: Path) -> None:
    _git(corpus, "init", "-q")
    _git(corpus, "add", "contacts", "orgs", "crm.yaml")
    _git(corpus, "commit", "-q", "-m", "first")
    out = tmp_path / "site"
    build_site(corpus, out, TODAY)
    op_add_note(corpus, 5)
    _git(corpus, "commit", "-q", "-am", "a note")
    build_site(corpus, out, TODAY)
    assert_same_as_clean(corpus, out, tmp_path)
    op_edit_name(corpus, 2)  # edited, not yet committed
    old = 1_600_000_000_000_000_000
    for path in [*corpus.glob("contacts/*.md"), *corpus.glob("orgs/*.md")]:
        os.utime(path, ns=(old, old))  # trusted stamps: the no-op path is open
    build_site(corpus, out, TODAY)
    assert build_site(corpus, out, TODAY).changed == []
    _git(corpus, "commit", "-q", "-am", "the rename")  # no file changes, but new history
    assert "changes.html" in build_site(corpus, out, TODAY).changed
    assert_same_as_clean(corpus, out, tmp_path)


@pytest.mark.skipif(shutil.which("git") is None, reason="needs git")
def test_the_changes_page_is_signed_without_its_context(corpus: Path, tmp_path: Path,
                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    """changes.html is signed from each commit and the path, slug and name of the files
    it touched (pages.changes_page_signature): an edit that leaves those as they were
    keeps the page without making its context; a name it shows, changed, renders it."""
    from site_builder import pages

    made: list[int] = []
    real = pages.changes_context
    monkeypatch.setattr(pages, "changes_context", lambda site: made.append(1) or real(site))
    _git(corpus, "init", "-q")
    _git(corpus, "add", "contacts", "orgs", "crm.yaml")
    _git(corpus, "commit", "-q", "-m", "first")
    out = tmp_path / "site"
    build_site(corpus, out, TODAY, workers=1)
    assert made == [1]
    op_add_note(corpus, 5)  # not committed: the history is the same
    result = build_site(corpus, out, TODAY, workers=1)
    assert made == [1] and "changes.html" not in result.changed
    assert_same_as_clean(corpus, out, tmp_path)
    op_edit_name(corpus, 2)  # the name is on the page, in the first commit's rows
    result = build_site(corpus, out, TODAY, workers=1)
    assert made == [1, 1] and "changes.html" in result.changed
    assert "Renamed 2" in (out / "changes.html").read_text(encoding="utf-8")
    assert_same_as_clean(corpus, out, tmp_path)
    made.clear()
    (out / "changes.html").write_text("spoilt", encoding="utf-8")  # not trusted: made again
    build_site(corpus, out, TODAY, workers=1)
    assert made == [1]
    assert_same_as_clean(corpus, out, tmp_path)


def test_signatures_depend_on_values_not_on_how_objects_were_loaded(corpus: Path) -> None:
    """A CRM parsed afresh and the same CRM unpickled from the cache (or from the parse
    workers) share their strings differently; a signature must not notice, or the first
    rebuild after a cold build re-renders thousands of unchanged pages."""
    from site_builder import cache as cache_mod
    from site_builder.loader import load
    from site_builder.stats import compute

    def signatures(loaded) -> dict[str, str]:  # type: ignore[no-untyped-def]
        crm = loaded.crm
        problems = cache_mod.validate_cached(crm, loaded.digests)
        return incremental.page_signatures(crm, loaded.digests, compute(crm, TODAY), problems, "shared")

    fresh = signatures(load(corpus, cache=False))
    load(corpus)  # fills the cache
    assert signatures(load(corpus)) == fresh


def test_another_day_trusts_the_recorded_output_and_still_finds_a_page_changed_by_hand(
        corpus: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The last build's record of the output holds on another day (another fingerprint):
    the files are not all read and hashed again, and one changed by hand is rewritten."""
    from site_builder import incremental

    out = tmp_path / "site"
    build_site(corpus, out, TODAY, workers=1)
    states: list[bool] = []
    real = incremental.trusted_output

    def trusted_output(state, target, on_disk=None):  # type: ignore[no-untyped-def]
        states.append(state is not None)
        return real(state, target, on_disk)

    monkeypatch.setattr(incremental, "trusted_output", trusted_output)
    page = next((out / "contacts").glob("*.html"))
    page.write_text("changed by hand", encoding="utf-8")
    later = date(2026, 11, 25)
    build_site(corpus, out, later, workers=1)
    assert states == [True]
    assert page.read_text(encoding="utf-8") != "changed by hand"
    assert_same_as_clean(corpus, out, tmp_path, later)


def forked_jobs_counted(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """With this small CRM counted as large: the number of jobs of each ForkedJobs started
    (0 when it could not start), in order."""
    from site_builder import incremental

    monkeypatch.setattr(incremental, "PARALLEL_MIN_PAGES", 1)
    forks: list[int] = []
    real = incremental.ForkedJobs.start

    def start(jobs):  # type: ignore[no-untyped-def]
        started = real(jobs)
        forks.append(len(jobs) if started is not None else 0)
        return started

    monkeypatch.setattr(incremental.ForkedJobs, "start", start)
    return forks


def test_a_full_render_works_out_the_dependency_parts_in_a_forked_process(
        corpus: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """When every page is rendered (a large CRM's first build, another day), the checks,
    every page's backlinks, the dependency parts (the map of every file's references)
    and calendar.ics are made in one process forked after loading, not in the main one;
    after an edit, the checks and the parts. The site is the clean build's either way."""
    forks = forked_jobs_counted(monkeypatch)
    out = tmp_path / "site"
    build_site(corpus, out, TODAY, workers=2)
    assert forks == [5]  # the first build renders every page (the fifth job: the cache writes)
    assert (out / "calendar.ics").read_text(encoding="utf-8").startswith("BEGIN:VCALENDAR")
    later = date(2026, 11, 25)
    build_site(corpus, out, later, workers=2)
    assert forks == [5, 5]
    assert_same_as_clean(corpus, out, tmp_path, later)
    op_add_note(corpus, 3)  # an edit: checks and parts forked, the calendar made here
    build_site(corpus, out, later, workers=2)
    assert forks == [5, 5, 3]
    assert_same_as_clean(corpus, out, tmp_path, later)



def test_a_long_running_process_renders_every_page_as_a_one_shot_build_does(
        corpus: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """`crm serve` (a LoadMemory kept between builds) works out the checks, the
    dependency parts, the backlinks and calendar.ics of a build that renders every page
    (its first, another day) in the forked process too, not in its own (its peak memory);
    its next save starts from what that process wrote. Every site is the clean build's."""
    from site_builder.loader import LoadMemory

    forks = forked_jobs_counted(monkeypatch)
    memory = LoadMemory()
    out = tmp_path / "site"
    build_site(corpus, out, TODAY, workers=2, memory=memory)
    assert forks == [5] and memory.dependencies is None and memory.checks is None
    op_add_note(corpus, 3)  # a save: worked out here, from what the forked process wrote
    build_site(corpus, out, TODAY, workers=2, memory=memory)
    assert forks == [5] and memory.dependencies is not None and memory.checks is not None
    assert_same_as_clean(corpus, out, tmp_path, TODAY)
    later = date(2026, 11, 25)
    op_edit_name(corpus, 5)
    build_site(corpus, out, later, workers=2, memory=memory)
    assert forks == [5, 5] and memory.dependencies is None  # what it kept is of the day before
    assert_same_as_clean(corpus, out, tmp_path, later)
    op_add_note(corpus, 7)
    build_site(corpus, out, later, workers=2, memory=memory)
    assert forks == [5, 5]
    assert_same_as_clean(corpus, out, tmp_path, later)


def test_a_file_history_signs_by_its_dates_and_each_commit() -> None:
    """file_history_sign stands for everything of a FileHistory a page can show: equal
    histories (other objects, equal values) sign alike; any change of a date or of a
    commit's sha, date, author, subject or paths signs otherwise."""
    import dataclasses

    from site_builder.history import Commit, FileHistory, file_history_sign

    assert [f.name for f in dataclasses.fields(FileHistory)] == ["created", "last_changed", "commits"], \
        "a new field of FileHistory must be signed too"
    assert [f.name for f in dataclasses.fields(Commit)] == ["sha", "date", "author", "subject", "paths"]

    def make(**changes: object) -> FileHistory:
        commit = {"sha": "a" * 40, "date": date(2026, 1, 2), "author": "Sam", "subject": "Add",
                  "paths": ("contacts/ada.md", "contacts/bob.md")}
        dates = {"created": date(2026, 1, 2), "last_changed": date(2026, 3, 4)}
        for key, value in changes.items():
            (dates if key in dates else commit)[key] = value
        return FileHistory(dates["created"], dates["last_changed"], [Commit(**commit)])  # type: ignore[arg-type]

    def sign(history: FileHistory | None) -> bytes:
        return file_history_sign(history, {})

    assert sign(make()) == sign(make())
    assert sign(None) != sign(make())
    for change in ({"created": date(2026, 1, 1)}, {"last_changed": date(2026, 3, 5)}, {"sha": "b" * 40},
                   {"date": date(2026, 1, 3)}, {"author": "Ann"}, {"subject": "Added"},
                   {"paths": ("contacts/ada.md",)}):
        assert sign(make(**change)) != sign(make()), change
    shared: dict[int, tuple[object, bytes]] = {}
    one = make()
    assert file_history_sign(one, shared) == file_history_sign(FileHistory(one.created, one.last_changed,
                                                                            list(one.commits)), shared)


@pytest.mark.parametrize("writer", ["here", "forked"])
def test_a_rebuild_writes_the_stats_memory_while_the_site_wide_pages_render(
        corpus: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, writer: str) -> None:
    """After an edit the stats' memory is written once, after the site-wide pages were
    forked (not before) and before they are done: by this process once it has rendered
    its pages, or by the forked one once it has rendered its own, whichever is free first
    (write_site's idle jobs; each case is made to happen by holding the other process
    until the work is taken). It holds the edit."""
    import os
    import time

    from site_builder import build as build_mod
    from site_builder import stats_incremental
    from site_builder.cache import digest_bytes

    out = tmp_path / "site"
    build_site(corpus, out, TODAY, workers=2)
    log = tmp_path / "events.txt"  # a file: the forked process may be the one that writes
    here = os.getpid()
    claims: list[incremental.Claim] = []

    class KnownClaim(incremental.Claim):
        def __init__(self) -> None:
            super().__init__()
            claims.append(self)

    def event(text: str) -> None:
        with log.open("a", encoding="utf-8") as handle:
            handle.write(text + "\n")

    def wait_until_taken() -> None:
        deadline = time.monotonic() + 60
        while not all(claim.taken for claim in claims):
            assert time.monotonic() < deadline, "the other process never took the shared work"
            time.sleep(0.01)

    real_write, real_fork = stats_incremental.write_memory, incremental.render_forked
    real_rows, real_calendar = build_mod._render_row_pages, build_mod.write_calendar

    def write_memory(root, memory):  # type: ignore[no-untyped-def]
        event(f"stats written {'here' if os.getpid() == here else 'forked'}")
        real_write(root, memory)

    def render_forked(job, writer):  # type: ignore[no-untyped-def]
        event("site-wide forked")
        forked = real_fork(job, writer)
        real_result = forked.result

        def result():  # type: ignore[no-untyped-def]
            done = real_result()
            event("site-wide done")
            return done

        forked.result = result
        return forked

    def rows(*args):  # type: ignore[no-untyped-def]
        if writer == "here":
            wait_until_taken()
        real_rows(*args)

    def calendar(*args, **kwargs):  # type: ignore[no-untyped-def]
        if writer == "forked":
            wait_until_taken()
        real_calendar(*args, **kwargs)

    monkeypatch.setattr(incremental, "Claim", KnownClaim)
    monkeypatch.setattr(stats_incremental, "write_memory", write_memory)
    monkeypatch.setattr(incremental, "render_forked", render_forked)
    monkeypatch.setattr(build_mod, "_render_row_pages", rows)
    monkeypatch.setattr(build_mod, "write_calendar", calendar)
    op_add_note(corpus, 3)
    build_site(corpus, out, TODAY, workers=2)
    assert len(claims) == len(build_mod.LIST_PAGE_GROUPS) + 1  # the list pages' groups and the stats' memory
    assert log.read_text(encoding="utf-8").split("\n")[:-1] == [
        "site-wide forked", f"stats written {writer}", "site-wide done"]
    edited = contacts_of(corpus)[3]
    assert stats_incremental.read_memory(corpus).digests[f"contacts/{edited.name}"] == digest_bytes(edited.read_bytes())
    assert_same_as_clean(corpus, out, tmp_path)


def _set_line(path: Path, key: str, line: str | None) -> None:
    """path's `key:` line replaced by line (None: removed), or line added after its name."""
    lines = path.read_text(encoding="utf-8").split("\n")
    at = next((i for i, text in enumerate(lines) if text.startswith(f"{key}:")), None)
    if at is None:
        if line is not None:
            lines.insert(next(i for i, text in enumerate(lines) if text.startswith("name:")) + 1, line)
    elif line is None:
        del lines[at]
    else:
        lines[at] = line
    path.write_text("\n".join(lines), encoding="utf-8")


def _calendar_changes(root: Path, step: int) -> None:
    people = contacts_of(root)
    pick = people[(step * 5 + 2) % len(people)]
    kind = step % 8
    if kind == 0:
        _set_line(pick, "follow_up", "follow_up: 2026-12-01")  # a new event date
    elif kind == 1:
        _set_line(pick, "birthday", "birthday: 1980-11-30")
    elif kind == 2:
        _set_line(pick, "private", "private: true")  # out of the calendar
    elif kind == 3:
        op_add(root, step)  # a new file in it, in its place
    elif kind == 4:
        people[-1].unlink()  # the last one out
    elif kind == 5:
        _set_line(pick, "name", f'name: "Zoë Ünïcode {step} — renamed"')  # events' text, other lengths
    elif kind == 6:
        _set_line(pick, "private", None)
        _set_line(people[0], "follow_up", None)
    else:  # "ada-2" sorts after "ada" in the CRM (by slug), before it by path
        (root / "contacts" / f"{pick.stem}-2.md").write_text(pick.read_text(encoding="utf-8"), encoding="utf-8")


def test_calendar_ics_is_spliced_for_a_few_changed_files(corpus: Path, tmp_path: Path,
                                                           monkeypatch: pytest.MonkeyPatch) -> None:
    """A few files whose events changed, came or went: their pieces are put in the last
    calendar.ics in place of theirs (build._calendar_spliced), not the calendar made from
    every file's pieces; the site is the clean build's every time."""
    from site_builder import build as build_mod

    made: list[int] = []
    real = build_mod.calendar_text
    monkeypatch.setattr(build_mod, "calendar_text", lambda *a, **k: made.append(1) or real(*a, **k))
    spliced: list[int] = []
    real_splice = build_mod._calendar_spliced
    monkeypatch.setattr(build_mod, "_calendar_spliced",
                        lambda *a, **k: (found := real_splice(*a, **k)) and spliced.append(1) or found)
    out = tmp_path / "site"
    build_site(corpus, out, TODAY, workers=1)
    assert made == [1]
    changed = 0
    for step in range(16):
        _calendar_changes(corpus, step)
        made.clear()
        result = build_site(corpus, out, TODAY, workers=1)
        assert made == [], step
        changed += "calendar.ics" in result.changed
        assert_same_as_clean(corpus, out, tmp_path)
    assert changed >= 9 and len(spliced) >= changed  # (a spliced calendar may come out the same)


def test_a_calendar_not_as_recorded_is_made_in_full(corpus: Path, tmp_path: Path,
                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    from site_builder import build as build_mod

    made: list[int] = []
    real = build_mod.calendar_text
    monkeypatch.setattr(build_mod, "calendar_text", lambda *a, **k: made.append(1) or real(*a, **k))
    out = tmp_path / "site"
    build_site(corpus, out, TODAY, workers=1)
    head = corpus / ".crm-cache" / build_mod.CALENDAR_HEAD
    for spoil in ("calendar", "head", "shard"):
        if spoil == "calendar":  # another text, its stamp another one: not trusted
            (out / "calendar.ics").write_bytes((out / "calendar.ics").read_bytes().replace(b"BEGIN:VEVENT", b"X", 1))
        elif spoil == "head":
            head.write_bytes(b"damaged")
        else:  # a shard written by another: its stamp is not the head's
            shard = next((corpus / ".crm-cache").glob("calendar-0*.bin"))
            shard.write_bytes(shard.read_bytes())
        _calendar_changes(corpus, 0 if spoil != "head" else 3)
        made.clear()
        build_site(corpus, out, TODAY, workers=1)
        assert made == [1], spoil
        assert_same_as_clean(corpus, out, tmp_path)
