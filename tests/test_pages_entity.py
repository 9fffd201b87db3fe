"""Contact and org page contexts: the work shared by all entity pages (backlink index,
org members) gives the same pages whether done once up front or per group of pages."""

from __future__ import annotations

import pickle
import sys
from pathlib import Path

from hypothesis import given, settings
from hypothesis import strategies as st

from conftest import SAMPLE_ROOT, TODAY
from site_builder.loader import load
from site_builder.model import CRM
from site_builder.pages import (BacklinkPositions, SiteInput, backlink_index, backlink_positions, make_backlinks,
                                mention_count, mentioning_files, plan_pages, prepare_entity_pages)
from site_builder.parse import MENTION
from site_builder.render import MENTION_SCAN

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "benchmarks"))
import generate  # noqa: E402


def sample_site() -> SiteInput:
    crm = load(SAMPLE_ROOT, cache=False, workers=1).crm
    return SiteInput(crm=crm, problems=[], today=TODAY)


def entity_paths(site: SiteInput) -> list[str]:
    return [f"contacts/{s}.html" for s in site.crm.contacts] + [f"orgs/{s}.html" for s in site.crm.orgs]


def test_backlinks_for_a_few_slugs_are_those_of_the_whole_index() -> None:
    crm = sample_site().crm
    full = backlink_index(crm)
    assert any(full.values())
    for slug in [*crm.contacts, *crm.orgs]:
        few = backlink_index(crm, {slug, "zoe-muller"})
        assert make_backlinks(slug, few, "../") == make_backlinks(slug, full, "../")


def test_backlinks_looked_for_in_the_files_naming_them_only_are_the_same() -> None:
    from site_builder.incremental import DependencyMap

    crm = sample_site().crm
    full, namers = backlink_index(crm), DependencyMap.of(crm).named_by
    for slug in [*crm.contacts, *crm.orgs]:
        few = backlink_index(crm, {slug, "zoe-muller"}, namers)
        assert make_backlinks(slug, few, "../") == make_backlinks(slug, full, "../")


def test_prepared_entity_pages_have_the_same_contexts() -> None:
    site, prepared = sample_site(), sample_site()
    prepare_entity_pages(prepared)
    paths = entity_paths(site)
    for chunk in (paths[:5], paths[5:]):  # as forked workers render them, a chunk at a time
        plain = plan_pages(site, chunk, site_pages=False)
        shared = plan_pages(prepared, chunk, site_pages=False)
        assert [p.path for p in plain] == [p.path for p in shared] == chunk
        for a, b in zip(plain, shared):
            assert a.context == b.context, a.path


def test_mention_scan_finds_what_parse_finds() -> None:
    texts = [p.read_text(encoding="utf-8") for p in sorted((SAMPLE_ROOT / "contacts").glob("*.md"))]
    texts += ["@a @b-c x@y @-z @z- (@ok) a/@no .@no @@no @yes.", "@ada#x @1 @a_b @é"]
    for text in texts:
        assert MENTION_SCAN.findall(text) == MENTION.findall(text)


@settings(max_examples=2000, deadline=None)
@given(text=st.text(alphabet="@a1-./_é#x \n", max_size=20))
def test_mention_scan_is_parses_mention_on_any_text(text: str) -> None:
    assert MENTION_SCAN.findall(text) == MENTION.findall(text)


def generated_crm(scratch: Path) -> CRM:
    generate.generate(scratch / "crm", contacts=40, sections=6, seed=5)
    return load(scratch / "crm", cache=False, workers=1).crm


def test_backlink_positions_read_back_as_the_backlink_index(tmp_path: Path) -> None:
    """backlink_positions (made in a forked process and sent back as bytes) read back by
    BacklinkPositions give every slug's entries as backlink_index does, the same count
    and the files that mention it once per run, in order."""
    for crm in (sample_site().crm, generated_crm(tmp_path)):
        full = backlink_index(crm)
        read = BacklinkPositions(crm, pickle.loads(pickle.dumps(backlink_positions(crm))))
        slugs = [*crm.contacts, *crm.orgs, "nobody-at-all"]
        assert sum(mention_count(full, s) for s in slugs) > 10
        for slug in slugs:
            assert read.get(slug, []) == full.get(slug, [])
            assert mention_count(read, slug) == mention_count(full, slug) == len(full.get(slug, []))
            namers = mentioning_files(read, slug)
            assert namers == mentioning_files(full, slug)
            assert len(namers) == len({id(e) for e in namers})  # each file once: its mentions are one run
            assert make_backlinks(slug, read, "../") == make_backlinks(slug, full, "../")


def test_backlink_positions_number_each_day_s_notes(make_crm) -> None:  # type: ignore[no-untyped-def]
    """The note ids that backlink_positions sends along count the day's sections of the
    mentioning file in file order, as the page that shows them numbers them."""
    root = make_crm({
        "contacts/ann.md": """
            ---
            name: Ann
            ---
            ## 2026-03-01 call
            First call.
            ## 2026-02-01 email
            About @bob.
            ## 2026-03-01 meeting @bob
            Second that day.
            ## 2026-03-01 note
            Third that day, for @bob again.
            """,
        "contacts/bob.md": "---\nname: Bob\n---\n",
    })
    crm = load(root, cache=False, workers=1).crm
    read = BacklinkPositions(crm, backlink_positions(crm))
    assert sorted(note_id for _, _, note_id in read.get("bob", [])) == [
        "note-2026-02-01-1", "note-2026-03-01-2", "note-2026-03-01-3"]
    assert read.get("bob") == backlink_index(crm)["bob"]
