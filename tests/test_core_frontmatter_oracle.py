"""Our front-matter splitter against python-frontmatter, the reference implementation.

We split front matter ourselves (parse.py) to keep every key's line, accept a BOM and
stay fast; python-frontmatter is the oracle that says we split the same way.
"""

from __future__ import annotations

from pathlib import Path

import frontmatter
import pytest

from site_builder.parse import parse_file

REPO = Path(__file__).resolve().parent.parent
SAMPLE_FILES = sorted([*REPO.glob("contacts/*.md"), *REPO.glob("orgs/*.md")])


def _reference_body_first_line(text: str) -> int:
    """File line of the first line of python-frontmatter's content (it strips leading blanks)."""
    lines = text.split("\n")
    first = lines.index("---", 1) + 1
    while first < len(lines) and not lines[first].strip():
        first += 1
    return first + 1


@pytest.mark.parametrize("path", SAMPLE_FILES, ids=[p.name for p in SAMPLE_FILES])
def test_same_keys_and_body_as_python_frontmatter(path: Path) -> None:
    text = path.read_text(encoding="utf-8")
    reference = frontmatter.loads(text)
    ours = parse_file(f"{path.parent.name}/{path.name}", text.encode("utf-8"))
    assert ours.ok and not ours.problems
    assert list(ours.meta) == list(reference.metadata)
    content = reference.content
    content_lines = content.splitlines()
    offset = _reference_body_first_line(text)
    assert content.startswith(ours.summary)
    for section in ours.sections:  # every section's heading at its line, its text in the body
        assert content_lines[section.line - offset].startswith("## " + section.date.isoformat())
        assert section.body in content


def test_a_bom_defeats_python_frontmatter_but_not_us() -> None:
    data = b"\xef\xbb\xbf---\nname: Ada\n---\nHello\n"
    assert frontmatter.loads(data.decode("utf-8")).metadata == {}
    assert parse_file("contacts/ada.md", data).meta == {"name": "Ada"}
