"""The fast parser, model builders and checks give exactly what the code before the speed
work (issue 7) gave: the same parsed files, model and problems, for tricky inputs too.

The oracle is a frozen copy of that code (tests/parse_reference_v0); results are
compared as nested tuples that keep types and order (compare.canon).
benchmarks/parse_oracle.py runs the same comparison on whole corpora.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import parse_reference_v0.model as ref_model
import parse_reference_v0.parse as ref_parse
import parse_reference_v0.validate as ref_validate
from parse_reference_v0.compare import canon, run
from parse_reference_v0.tricky import BODY, FRONT, HEADINGS, WHOLE_FRONT, tricky_files
from site_builder import fs, model, parse, validate, yamlsafe
from site_builder.config import CONFIG_FILE

REPO = Path(__file__).resolve().parent.parent
REFERENCE = (ref_parse, ref_model, ref_validate)
FAST = (parse, model, validate)


def _files_of(root: Path) -> tuple[list[tuple[str, bytes]], bytes | None]:
    files, _ = fs.discover(root)
    return [(f.rel, fs.read_bytes(f)) for f in files], fs.read_optional(root / CONFIG_FILE, root)


def _assert_same(files: list[tuple[str, bytes]], config: bytes | None = None) -> None:
    expected = run(*REFERENCE, files, config)
    actual = run(*FAST, files, config)
    for part in expected:  # one part at a time, so a failure shows where
        if part == "parsed":
            for (rel, _), want, got in zip(files, expected[part], actual[part]):
                assert got == want, rel
        assert actual[part] == expected[part], part


@pytest.mark.parametrize("where", ["", "tests/fixtures/bad-crm", "tests/fixtures/stats"])
def test_sample_and_fixture_crms(where: str) -> None:
    _assert_same(*_files_of(REPO / where))


def test_generated_corpus(tmp_path: Path) -> None:
    subprocess.run([sys.executable, str(REPO / "benchmarks/generate.py"), str(tmp_path), "--contacts", "60",
                    "--sections", "8"], check=True, capture_output=True)
    _assert_same(*_files_of(tmp_path))


def test_tricky_files() -> None:
    _assert_same(tricky_files(1500, seed=11))


# --- properties: files put together from fragments and arbitrary text -----------------

_text = st.text(st.characters(blacklist_categories=("Cs",)), max_size=40)
_front_line = st.one_of(st.sampled_from(FRONT), _text.map(lambda t: "k: " + t), _text)
_body_line = st.one_of(st.sampled_from(HEADINGS), st.sampled_from(BODY), _text,
                       _text.map(lambda t: "## 2026-01-05 " + t), _text.map(lambda t: "@" + t),
                       _text.map(lambda t: "#" + t))


@st.composite
def _file(draw: st.DrawFn) -> bytes:
    if draw(st.integers(0, 15)) == 0:
        front = draw(st.sampled_from(WHOLE_FRONT))
    else:
        front = "\n".join(draw(st.lists(_front_line, max_size=8)))
    body = "\n".join(draw(st.lists(_body_line, max_size=14)))
    text = "---\n" + front + "\n---\n" + body
    newline = draw(st.sampled_from(["\n", "\r\n", "\r"]))
    return (draw(st.sampled_from(["", "\ufeff"])) + text.replace("\n", newline)).encode("utf-8")


@settings(max_examples=400, suppress_health_check=[HealthCheck.too_slow], deadline=None)
@given(st.lists(_file(), min_size=1, max_size=4), st.lists(st.sampled_from(["contacts", "orgs"]), min_size=4,
                                                           max_size=4))
def test_any_files_parse_build_and_check_like_the_reference(datas: list[bytes], folders: list[str]) -> None:
    names = ["ada", "acme", "b", "x"]
    _assert_same([(f"{folder}/{name}.md", data) for folder, name, data in zip(folders, names, datas)])


@settings(max_examples=300, suppress_health_check=[HealthCheck.too_slow], deadline=None)
@given(st.binary(max_size=300))
def test_any_bytes(data: bytes) -> None:
    assert canon(parse.parse_file("contacts/x.md", data)) == canon(ref_parse.parse_file("contacts/x.md", data))


@settings(max_examples=300, suppress_health_check=[HealthCheck.too_slow], deadline=None)
@given(st.text(max_size=200), st.integers(1, 5))
def test_any_yaml_text(text: str, first_line: int) -> None:
    from parse_reference_v0 import yamlsafe as ref_yamlsafe

    assert canon(yamlsafe.load(text, first_line)) == canon(ref_yamlsafe.load(text, first_line))


@settings(max_examples=300, suppress_health_check=[HealthCheck.too_slow], deadline=None)
@given(st.lists(_body_line, max_size=20))
def test_any_body_splits_like_the_reference(lines: list[str]) -> None:
    assert parse.split_sections(lines) == ref_parse.split_sections(lines)


_heading = st.tuples(
    st.sampled_from(["2026-01-05", "2026-1-05", "2026-02-30", "1999-12-31", "2026-01-05:", "٢٠٢٦-01-05"]),
    st.sampled_from(["", " ", "  ", "\t", ":", "\u00a0"]),
    st.sampled_from(["call", "Call", "e-mail", "x1_", "", "1abc", "note", "a"]),
    st.lists(st.sampled_from([" @a", " @a-", "@b", " @A", "  @c", " @d@e", " @"]), max_size=3).map("".join),
    st.sampled_from(["", ": ", ":", " : ", ":  ", ": \t", " "]),
    _text,
).map("".join)


@settings(max_examples=500, suppress_health_check=[HealthCheck.too_slow], deadline=None)
@given(st.lists(_heading, min_size=1, max_size=4), st.lists(_body_line, max_size=4))
def test_any_heading_like_the_reference(headings: list[str], body: list[str]) -> None:
    text = "---\nname: A\n---\n" + "\n".join(f"## {h}\n" + "\n".join(body) for h in headings)
    data = text.encode("utf-8")
    for _ in range(2):  # the second time, dates seen before take the fast path
        assert canon(parse.parse_file("contacts/a.md", data)) == canon(ref_parse.parse_file("contacts/a.md", data))


def test_ordinary_front_matter_takes_the_fast_yaml_path() -> None:
    """Not a behaviour (both paths give the same), but the speed of every cold load:
    the sample CRM's front matter must not fall back to PyYAML's constructor."""
    files, _ = _files_of(REPO)
    for rel, data in files:
        text = data.decode("utf-8").split("\n---\n", 1)[0].removeprefix("---\n")
        loader = yamlsafe._Loader(text)
        try:
            node = loader.get_single_node()
            assert "&" in text or yamlsafe._fast_document(loader, node, 1) is not None, rel
        finally:
            loader.dispose()
