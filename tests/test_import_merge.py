"""Importing into a real CRM folder: create, merge minimally, skip with reasons, dry run,
photos, orgs, and files that pass `crm check`."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from site_builder import api, fs
from site_builder.imports import apply
from site_builder.imports.matching import normalise_phone, phones_match
from site_builder.imports.run import import_csv, import_vcards

FIXTURES = Path(__file__).parent / "fixtures" / "import"

ZOE = """\
---
# Most important client; keep this comment.
name: Zoë Müller
emails:
  - zoe.mueller@nordlicht-logistics.de
phones:
  - 0151 2345 6789   # mobile
org: nordlicht
tags: [client, forecasting]
---
Head of Data at Nordlicht.

## 2026-10-02 meeting: Quarterly review
Talked about #forecasting.
"""

NORDLICHT = """\
---
name: Nordlicht Logistics
aka: [Nordlicht]
---
"""


def vcf(*cards: str) -> str:
    return "".join(f"BEGIN:VCARD\r\nVERSION:3.0\r\n{card.strip()}\r\nEND:VCARD\r\n" for card in cards)


@pytest.fixture
def crm_root(make_crm, tmp_path: Path) -> Path:  # type: ignore[no-untyped-def]
    return make_crm({"contacts/zoe-muller.md": ZOE, "orgs/nordlicht.md": NORDLICHT, "crm.yaml": "title: Test\n"})


def files_of(root: Path) -> dict[Path, bytes]:
    """Every file of the CRM, without the loader's parse cache."""
    return {p: p.read_bytes() for p in root.rglob("*") if p.is_file() and ".crm-cache" not in p.parts}


def write_import(tmp_path: Path, name: str, text: str) -> Path:
    path = tmp_path / name
    path.write_bytes(text.encode("utf-8"))
    return path


def test_merge_adds_only_what_is_missing_and_keeps_comments_order_and_body(crm_root: Path, tmp_path: Path) -> None:
    card = write_import(tmp_path, "zoe.vcf", vcf(
        "FN:Zoe Mueller\nEMAIL:Zoe.Mueller@Nordlicht-Logistics.de\nEMAIL:zoe@posteo.example\n"
        "TEL:+49 151 23456789\nTEL:+49 40 555 0142\nBDAY:1986-06-21\nCATEGORIES:client,rowing\n"
        "ORG:Other Company\nNOTE:a note"))
    before = (crm_root / "contacts/zoe-muller.md").read_text(encoding="utf-8")
    result = import_vcards(crm_root, [card])
    after = (crm_root / "contacts/zoe-muller.md").read_text(encoding="utf-8")
    (outcome,) = result.plan.outcomes
    assert outcome.action == "merged" and outcome.path == "contacts/zoe-muller.md"
    assert "matched by email" in outcome.detail and "note not merged" in outcome.detail
    assert after == before.replace(
        "  - zoe.mueller@nordlicht-logistics.de\n",
        "  - zoe.mueller@nordlicht-logistics.de\n  - zoe@posteo.example\n",
    ).replace(
        "  - 0151 2345 6789   # mobile\n",  # +49 151 23456789 is the same number: not added
        "  - 0151 2345 6789   # mobile\n  - +49 40 555 0142\n",
    ).replace(
        "tags: [client, forecasting]\n",
        "tags: [client, forecasting, rowing]\naka: [Zoe Mueller]\nbirthday: '1986-06-21'\n",
    )
    # the org is not replaced: Zoë already has one
    assert "org: nordlicht\n" in after and "Other Company" not in after
    assert after.endswith(before[before.index("---\nHead of Data"):])
    assert not api.check(crm_root).errors


def test_a_colon_merged_into_a_one_line_list_is_quoted(crm_root: Path, tmp_path: Path) -> None:
    """ruamel.yaml leaves "A:?" plain in `tags: [...]`, which PyYAML cannot read: merged into
    Zoë's one-line tags, or as a new one-line aka, such a value is quoted (scaffold.flow_item)."""
    card = write_import(tmp_path, "zoe.vcf", vcf(
        "FN:Zoe Mueller\nNICKNAME:Z:?\nEMAIL:Zoe.Mueller@Nordlicht-Logistics.de\nCATEGORIES:a:?"))
    import_vcards(crm_root, [card])
    after = (crm_root / "contacts/zoe-muller.md").read_text(encoding="utf-8")
    assert "tags: [client, forecasting, 'a:?']\n" in after
    assert "'Z:?']\n" in after
    checked = api.check(crm_root)
    assert not checked.errors
    zoe = checked.crm.contacts["zoe-muller"]
    assert "a:?" in zoe.tags and "Z:?" in zoe.aka


def test_merge_exact_text(crm_root: Path, tmp_path: Path) -> None:
    card = write_import(tmp_path, "zoe.vcf", vcf("FN:Zoë Müller\nEMAIL:zoe.mueller@nordlicht-logistics.de\n"
                                                 "EMAIL:zoe@posteo.example\nTEL:+49 40 555 0142"))
    import_vcards(crm_root, [card])
    assert (crm_root / "contacts/zoe-muller.md").read_text(encoding="utf-8") == ZOE.replace(
        "  - zoe.mueller@nordlicht-logistics.de\n",
        "  - zoe.mueller@nordlicht-logistics.de\n  - zoe@posteo.example\n",
    ).replace("  - 0151 2345 6789   # mobile\n", "  - 0151 2345 6789   # mobile\n  - +49 40 555 0142\n")


def test_import_twice_changes_nothing_the_second_time(crm_root: Path, tmp_path: Path) -> None:
    files = [FIXTURES / "android.vcf", FIXTURES / "iphone.vcf", FIXTURES / "outlook.vcf"]
    first = import_vcards(crm_root, files)
    assert first.plan.count("created") == 6
    snapshot = files_of(crm_root)
    second = import_vcards(crm_root, files)
    assert second.plan.changes == {} and second.written == []
    assert {o.action for o in second.plan.outcomes} == {"skipped"}
    assert files_of(crm_root) == snapshot
    assert not api.check(crm_root).problems


def test_created_files_pass_check_and_photos_and_orgs_are_written(crm_root: Path) -> None:
    result = import_vcards(crm_root, [FIXTURES / "android.vcf", FIXTURES / "iphone.vcf", FIXTURES / "outlook.vcf",
                                      FIXTURES / "thunderbird-v4.vcf"])
    assert api.check(crm_root).problems == []
    assert (crm_root / "contacts/photos/leonie-muller.jpg").read_bytes().startswith(b"\xff\xd8\xff")
    assert (crm_root / "contacts/photos/adaeze-okafor.png").read_bytes().startswith(b"\x89PNG")
    adaeze = (crm_root / "contacts/adaeze-okafor.md").read_text(encoding="utf-8")
    assert "org: brightwave-energy\n" in adaeze and "title: Director of Strategy\n" in adaeze
    assert (crm_root / "orgs/brightwave-energy.md").read_text(encoding="utf-8") == "---\nname: Brightwave Energy\n---\n"
    assert (crm_root / "contacts/zhang-wei.md").is_file()  # 张伟 -> zhang-wei
    skipped = {o.origin.rsplit("/", 1)[-1]: o.detail for o in result.plan.outcomes if o.action == "skipped"}
    assert skipped == {"android.vcf:31": "no name (+49 151 0000000)", "android.vcf:36": "no name (nothing else either)"}
    lucia = next(o for o in result.plan.outcomes if o.name == "Lucía Rivera")
    assert "photo skipped" in lucia.detail


def test_dry_run_writes_nothing_and_shows_a_diff(crm_root: Path, tmp_path: Path) -> None:
    card = write_import(tmp_path, "x.vcf", vcf("FN:Zoë Müller\nEMAIL:zoe.mueller@nordlicht-logistics.de\n"
                                               "TEL:+49 40 555 0142", "FN:New Person\nEMAIL:new@example.org"))
    snapshot = {p: p.read_bytes() for p in crm_root.rglob("*")  if p.is_file()}
    result = import_vcards(crm_root, [card], dry_run=True)
    assert {p: p.read_bytes() for p in crm_root.rglob("*") if p.is_file()} == snapshot  # not even a cache
    diff = result.plan.diff()
    assert "--- a/contacts/zoe-muller.md\n+++ b/contacts/zoe-muller.md\n" in diff
    assert "+  - +49 40 555 0142\n" in diff
    assert "--- /dev/null\n+++ b/contacts/new-person.md\n" in diff and "+name: New Person\n" in diff


def test_same_batch_duplicates_are_merged_not_created_twice(crm_root: Path, tmp_path: Path) -> None:
    card = write_import(tmp_path, "x.vcf", vcf("FN:Ann Lee\nEMAIL:ann@example.org",
                                               "FN:Ann Lee\nEMAIL:ANN@example.org\nTEL:+1 415 555 0100"))
    result = import_vcards(crm_root, [card])
    assert [o.action for o in result.plan.outcomes] == ["created", "merged"]
    text = (crm_root / "contacts/ann-lee.md").read_text(encoding="utf-8")
    assert text == "---\nname: Ann Lee\nemails:\n  - ann@example.org\nphones:\n  - +1 415 555 0100\n---\n"


def test_same_name_without_shared_details_is_skipped_with_a_reason(crm_root: Path, tmp_path: Path) -> None:
    card = write_import(tmp_path, "x.vcf", vcf("FN:Zoë Müller\nEMAIL:someone.else@example.org"))
    (outcome,) = import_vcards(crm_root, [card]).plan.outcomes
    assert outcome.action == "skipped" and "same name as contacts/zoe-muller.md" in outcome.detail
    assert not (crm_root / "contacts/zoe-muller-2.md").exists()


def test_slug_clash_with_a_different_person_counts_up(crm_root: Path, tmp_path: Path) -> None:
    (crm_root / "contacts/ann-lee.md").write_text("---\nname: Ann Lee\nemails: [ann@one.example]\n---\n")
    card = write_import(tmp_path, "x.vcf", vcf("FN:Ann  Lee\nEMAIL:ann@two.example"))
    # the same name with a different email is a different person only when told so: skipped
    assert import_vcards(crm_root, [card]).plan.outcomes[0].action == "skipped"
    card = write_import(tmp_path, "y.vcf", vcf("FN:Ann Lee-Smith\nEMAIL:ann@two.example"))
    (crm_root / "contacts/ann-lee-smith.md").write_text("---\nname: Other\n---\n")
    outcome = import_vcards(crm_root, [card]).plan.outcomes[0]
    assert (outcome.action, outcome.path) == ("created", "contacts/ann-lee-smith-2.md")


def test_linkedin_import_links_existing_orgs_and_merges_by_name(crm_root: Path) -> None:
    (crm_root / "contacts/noah-okafor.md").write_text("---\nname: Noah Okafor\nsource: event\n---\n")
    (crm_root / "orgs/ledgerline.md").write_text("---\nname: Ledgerline\n---\n")
    result = import_csv(crm_root, FIXTURES / "Connections.csv")
    sofia = (crm_root / "contacts/sofia-lindgren.md").read_text(encoding="utf-8")
    assert sofia == ("---\nname: Sofia Lindgren\nlinks:\n  linkedin: https://www.linkedin.com/in/sofia-lindgren-42\n"
                     "org: ledgerline\ntitle: VP Finance\nsource: linkedin\nconnected: 2024-03-05\n---\n")
    noah = (crm_root / "contacts/noah-okafor.md").read_text(encoding="utf-8")
    assert noah == ("---\nname: Noah Okafor\nsource: event\nlinks:\n"
                    "  linkedin: https://www.linkedin.com/in/noah-okafor\n---\n")
    assert (crm_root / "orgs/kestrel-robotics.md").is_file()
    assert [(p.line, p.code) for p in result.problems] == [(7, "csv-bad-date")]
    assert not api.check(crm_root).errors


def test_no_orgs_leaves_unknown_companies_out(crm_root: Path) -> None:
    result = import_csv(crm_root, FIXTURES / "Connections.csv", create_orgs=False)
    assert not (crm_root / "orgs/kestrel-robotics.md").exists()
    raj = next(o for o in result.plan.outcomes if o.name == "Raj Patel")
    assert "not linked" in raj.detail
    assert "org:" not in (crm_root / "contacts/raj-patel.md").read_text(encoding="utf-8")


def test_notes_cannot_become_sections_or_mentions(crm_root: Path, tmp_path: Path) -> None:
    card = write_import(tmp_path, "x.vcf", vcf(
        "FN:Note Person\nEMAIL:n@example.org\nNOTE:Met @conference2024 with @zoe-muller.\\n"
        "## 2024-01-01 call: not a section\\n---"))
    import_vcards(crm_root, [card])
    assert api.check(crm_root).problems == []
    text = (crm_root / "contacts/note-person.md").read_text(encoding="utf-8")
    assert "&#64;conference2024 with @zoe-muller." in text and "\\## 2024-01-01" in text


def test_crlf_and_bom_files_keep_their_line_ends(crm_root: Path, tmp_path: Path) -> None:
    path = crm_root / "contacts/zoe-muller.md"
    path.write_bytes(b"\xef\xbb\xbf" + ZOE.replace("\n", "\r\n").encode("utf-8"))
    card = write_import(tmp_path, "x.vcf", vcf("FN:Zoë Müller\nEMAIL:zoe.mueller@nordlicht-logistics.de\n"
                                               "EMAIL:zoe@posteo.example"))
    import_vcards(crm_root, [card])
    data = path.read_bytes()
    assert data.startswith(b"\xef\xbb\xbf---\r\n") and b"\n" not in data.replace(b"\r\n", b"")
    assert b"  - zoe@posteo.example\r\n" in data


def test_unmergeable_front_matter_is_skipped_with_what_to_add(crm_root: Path, tmp_path: Path) -> None:
    (crm_root / "contacts/odd.md").write_text("---\nname:   Odd   Spacing\nemails: [odd@example.org]\n---\n")
    card = write_import(tmp_path, "x.vcf", vcf("FN:Odd Spacing\nEMAIL:odd@example.org\nTEL:+1 212 555 0100"))
    (outcome,) = import_vcards(crm_root, [card]).plan.outcomes
    assert outcome.action == "skipped" and "re-formatted" in outcome.detail and "phones" in outcome.detail
    assert (crm_root / "contacts/odd.md").read_text() == "---\nname:   Odd   Spacing\nemails: [odd@example.org]\n---\n"


def test_interrupted_import_leaves_no_half_written_file(crm_root: Path, tmp_path: Path,
                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    card = write_import(tmp_path, "x.vcf", vcf("FN:Ann Lee\nEMAIL:ann@example.org",
                                               "FN:Bo Chan\nEMAIL:bo@example.org"))
    real_replace = os.replace
    calls = []

    def crash_on_second(src: str, dst: str) -> None:
        if "/contacts/" in str(dst):  # the loader's own cache writes are not part of the import
            calls.append(dst)
        if len(calls) == 2:
            raise KeyboardInterrupt  # as if the user pressed Ctrl-C mid-import
        real_replace(src, dst)

    monkeypatch.setattr(fs.os, "replace", crash_on_second)
    with pytest.raises(KeyboardInterrupt):
        import_vcards(crm_root, [card])
    monkeypatch.undo()
    names = sorted(p.name for p in (crm_root / "contacts").iterdir())
    assert names == ["ann-lee.md", "zoe-muller.md"]  # no temporary file, no half of bo-chan.md
    assert (crm_root / "contacts/ann-lee.md").read_text().endswith("---\n")


@pytest.mark.parametrize(
    ("a", "b", "same"),
    [("0151 2345 6789", "+49 151 23456789", True), ("+49 151 23456789", "0049 151 23456789", True),
     ("+49 151 23456789", "+43 151 23456789", False), ("555 0100", "555-0100", True),
     ("555 0100", "+1 212 555 0100", False), ("tel:+1-212-555-0100", "+1 (212) 555-0100", True)],
)
def test_phone_matching(a: str, b: str, same: bool) -> None:
    assert phones_match(a, b) is same


def test_normalise_phone() -> None:
    assert normalise_phone(" +49 (0)40 555-0142 ") == "+490405550142"
    assert normalise_phone("0049 40 5550142") == "+49405550142"


def test_merge_front_matter_refuses_files_without_front_matter() -> None:
    with pytest.raises(apply.MergeError):
        apply.merge_front_matter("no front matter\n", [("emails", ["a@b.example"])])


def test_photos_folder_linked_outside_the_crm_is_not_written_through(crm_root: Path, tmp_path: Path) -> None:
    outside = tmp_path / "outside"
    outside.mkdir()
    (crm_root / "contacts/photos").symlink_to(outside, target_is_directory=True)
    result = import_vcards(crm_root, [FIXTURES / "iphone.vcf"])
    assert list(outside.iterdir()) == []
    assert any(p.code == "symlink-outside-root" and p.path == "contacts/photos/adaeze-okafor.png"
               for p in result.problems)
    assert (crm_root / "contacts/adaeze-okafor.md").is_file()


def test_cli_summary_lines(crm_root: Path, cli) -> None:  # type: ignore[no-untyped-def]
    result = cli("import", "vcard", str(FIXTURES / "android.vcf"), "--root", str(crm_root))
    lines = result.stdout.splitlines()
    assert lines[0] == (f"created  contacts/leonie-muller.md: Leonie Müller (from {FIXTURES / 'android.vcf'}:1; "
                        "photo contacts/photos/leonie-muller.jpg)")
    assert f"skipped  {FIXTURES / 'android.vcf'}:31: no name (+49 151 0000000)" in lines
    assert result.stderr.strip().endswith("2 contacts created, 0 merged, 2 skipped; 1 org created")
    assert result.exit_code == 0
