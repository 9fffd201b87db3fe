"""benchmarks/hugo_compare.py: skips cleanly without Hugo; with Hugo, its site renders a corpus."""

from __future__ import annotations

import re
import shutil
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / "benchmarks"))
import hugo_compare  # noqa: E402


def test_without_hugo_it_says_so_and_measures_nothing(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    corpora = tmp_path / "corpora"
    code = hugo_compare.main(["--hugo", "no-such-hugo-binary", "--sizes", "10", "--corpus-dir", str(corpora)])
    assert code == 0
    assert "skipped" in capsys.readouterr().err
    assert not corpora.exists()


@pytest.mark.skipif(shutil.which("hugo") is None, reason="hugo is not installed")
def test_hugo_renders_one_page_per_contact_and_org(tmp_path: Path) -> None:
    results = tmp_path / "report.md"
    code = hugo_compare.main(["--sizes", "30", "--sections", "2", "--repeat", "1",
                              "--corpus-dir", str(tmp_path), "--results", str(results)])
    assert code == 0
    corpus = tmp_path / "30x2"
    out = tmp_path / "hugo-work" / "30x2" / "public"
    for section in ("contacts", "orgs"):
        sources = {p.stem for p in (corpus / section).glob("*.md")}
        assert {p.stem for p in (out / section).glob("*.html")} == sources
    # The heading is the contact's name (its `title` is a job title), escaped by html/template.
    page = (out / "contacts" / f"{sorted(corpus.glob('contacts/*.md'))[0].stem}.html").read_text(encoding="utf-8")
    assert re.search(r"<h1>[^<]+</h1>", page)
    assert "| HTML pages |" in results.read_text(encoding="utf-8")
    # The site folder is a copy: Hugo's build lock never lands in the repository.
    assert not (REPO / "benchmarks" / "hugo" / ".hugo_build.lock").exists()
