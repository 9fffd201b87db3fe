"""Property tests: whatever text a person's name, note or email holds, a new contact file
reads back as exactly that, and a vCard written by the exporter reads back the same."""

from __future__ import annotations

from hypothesis import example, given, settings, strategies as st

from site_builder.imports.apply import new_contact_text, yaml_scalar
from site_builder.imports.vcard import read_vcards
from site_builder.exports.vcard import contact_to_vcard
from site_builder.model import build_contact
from site_builder.parse import parse_file

text = st.text(st.characters(blacklist_categories=("Cs", "Cc")), min_size=1, max_size=40).filter(
    lambda s: s.strip() == s and s)


@settings(max_examples=300, deadline=None)
@given(name=text, tags=st.lists(text, max_size=3), phone=text)
@example(name="0", tags=["A:?"], phone="0")  # "[A:?]": a ':' in a flow list is a YAML error
def test_new_contact_file_reads_back_exactly(name: str, tags: list[str], phone: str) -> None:
    data = new_contact_text(name, [("phones", [phone]), ("aka", tags)], None)
    parsed = parse_file("contacts/x.md", data.encode("utf-8"))
    assert parsed.ok and not [p for p in parsed.problems if p.severity == "error"], data
    assert parsed.meta["name"] == name
    assert parsed.meta["phones"] == [phone]
    assert parsed.meta.get("aka", []) == tags


@settings(max_examples=200, deadline=None)
@given(value=text)
def test_yaml_scalar_is_plain_only_when_safe(value: str) -> None:
    parsed = parse_file("contacts/x.md", f"---\nname: {yaml_scalar(value)}\n---\n".encode("utf-8"))
    assert parsed.meta["name"] == value


@settings(max_examples=200, deadline=None)
@given(name=text, note=st.text(max_size=200), title=text)
def test_vcard_text_round_trip(name: str, note: str, title: str) -> None:
    source = new_contact_text(name, [("title", title)], None)
    contact = build_contact(parse_file("contacts/x.md", source.encode("utf-8")))
    contact.summary = note.replace("\r", "").strip()
    for version in ("3.0", "4.0"):
        (record,), problems = read_vcards("x.vcf", contact_to_vcard(contact, version).encode("utf-8"))
        assert problems == []
        assert record.name == " ".join(name.split())
        assert record.title == " ".join(title.split())
        assert (record.note or "") == contact.summary
