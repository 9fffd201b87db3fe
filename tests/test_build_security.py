"""Hostile input never becomes markup: every user value is escaped in HTML and in the
search data, Markdown is rendered safely, and unsafe URLs never become links."""

from __future__ import annotations

import json
import re
from html.parser import HTMLParser
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from conftest import TODAY
from site_builder.build import build_site
from site_builder.render import markdown_to_html
from site_builder.site_data import SEARCH_DATA_FILE, parse_search_data_js, safe_json

PAYLOADS = (
    "<script>alert(1)</script>",
    '"><img src=x onerror=alert(1)>',
    "</script><script>alert(1)</script>",
    "javascript:alert(1)",
    "' onmouseover='alert(1)",
    "\u2028</textarea><svg onload=alert(1)>",
)
UNSAFE_SCHEMES = ("javascript:", "data:", "vbscript:")


class Attributes(HTMLParser):
    """Every tag's attributes, to look for event handlers and unsafe URLs."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.found: list[tuple[str, str, str | None]] = []
        self.scripts = 0
        self.text: list[str] = []
        self.h1: list[str] = []
        self._in_h1 = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.scripts += tag == "script"
        self._in_h1 = self._in_h1 or tag == "h1"
        self.found += [(tag, name, value) for name, value in attrs]

    def handle_endtag(self, tag: str) -> None:
        if tag == "h1":
            self._in_h1 = False

    def handle_data(self, data: str) -> None:
        self.text.append(data)
        if self._in_h1:
            self.h1.append(data)


def scan(path: Path) -> Attributes:
    parser = Attributes()
    parser.feed(path.read_text(encoding="utf-8"))
    parser.close()
    return parser


def yaml_text(value: str) -> str:
    """A YAML double-quoted scalar holding exactly value (a JSON string, with YAML's own
    line breaks escaped too, and astral characters left as they are: YAML cannot read
    JSON's surrogate-pair escapes)."""
    text = json.dumps(value, ensure_ascii=False)
    for char in ("\u0085", "\u2028", "\u2029", "\ufeff"):
        text = text.replace(char, f"\\u{ord(char):04x}")
    return text


def hostile_contact(value: str) -> str:
    v = yaml_text(value)
    return f"""---
name: {v}
aka: [{v}]
pronouns: {v}
emails: [{v}]
phones: [{v}]
addresses: [{v}]
links:
  site: {yaml_text("javascript:alert(1)")}
  other: {v}
  {v}: https://example.com/
org: {v}
title: {v}
tags: [{v}, safe-tag]
source: {v}
location: {v}
timezone: {v}
trivia: {v}
interests: [{v}]
family:
  {v}: {v}
deals:
  - title: {v}
    stage: won
    amount: 10
    currency: EUR
    lost_to: {v}
invoices:
  - number: {v}
    date: 2026-01-01
    amount: 5
    currency: EUR
{v}: {v}
nested_custom:
  list: [{v}, {{deep: {v}}}]
---
{value}

[click](javascript:alert(1)) [data](data:text/html,<script>alert(1)</script>) ![x](javascript:alert(1))
<a href="javascript:alert(1)">raw link</a> <iframe src="https://evil.example"></iframe>

## 2026-11-01 call @other: {value}

{value} #topic @other
"""


def all_files(out: Path) -> list[Path]:
    return [p for p in sorted(out.rglob("*")) if p.is_file() and p.suffix in (".html", ".js")]


def assert_no_markup_from_user(out: Path, builtin_scripts: dict[str, int]) -> None:
    for path in all_files(out):
        text = path.read_text(encoding="utf-8")
        rel = path.relative_to(out).as_posix()
        if path.suffix == ".js":
            if path.name == SEARCH_DATA_FILE:
                assert "<" not in text and ">" not in text, rel
            continue
        parsed = scan(path)
        # Contact and org pages load site-status.js (the problem banner): one script each.
        entity_page = rel.startswith(("contacts/", "orgs/")) and rel.endswith(".html")
        assert parsed.scripts == builtin_scripts.get(rel, 1 if entity_page else 0), f"{rel}: a <script> from user input"
        for tag, name, value in parsed.found:
            assert not name.startswith("on"), f"{rel}: event handler {name}= on <{tag}>"
            assert tag not in ("iframe", "img", "textarea", "object", "embed"), f"{rel}: <{tag}>"
            assert tag != "svg" or rel == "dashboard.html", f"{rel}: <svg>"
            if (tag, name, value) == ("link", "href", "data:,"):
                continue  # our own empty favicon, so the browser asks for none
            if name in ("href", "src", "action", "formaction", "xlink:href") and value:
                cleaned = re.sub(r"[\s\x00-\x1f]", "", value).lower()
                assert not cleaned.startswith(UNSAFE_SCHEMES), f"{rel}: {name}={value!r}"


def test_hostile_values_are_escaped_everywhere(make_crm, tmp_path: Path) -> None:
    files: dict[str, str | bytes] = {
        f"contacts/evil-{i}.md": hostile_contact(payload).encode("utf-8") for i, payload in enumerate(PAYLOADS)
    }
    files["contacts/other.md"] = "---\nname: Other\n---\n"
    files["orgs/evil-org.md"] = hostile_contact(PAYLOADS[0]).replace("org: ", "industry: ").encode("utf-8")
    files["crm.yaml"] = f"title: {yaml_text(PAYLOADS[2])}\nowner: {yaml_text(PAYLOADS[1])}\nedit_url: javascript:alert(1)//{{path}}\n"
    root = make_crm(files)
    out = tmp_path / "site"
    build_site(root, out, TODAY)
    assert_no_markup_from_user(out, {"index.html": 2})
    for i, payload in enumerate(PAYLOADS):
        page = scan(out / "contacts" / f"evil-{i}.html")
        assert "".join(page.h1).strip() == payload.strip()
        assert payload.strip() in "".join(page.text)
    index = (out / "index.html").read_text(encoding="utf-8")
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in index
    data = parse_search_data_js((out / SEARCH_DATA_FILE).read_text(encoding="utf-8"))
    names = {row[1] for row in data["rows"]}
    assert set(p.strip() for p in PAYLOADS) <= names


# Text with every kind of character a user can type (no control characters: the core
# rejects those with a clear error, and they are tested there).
user_text = st.text(
    alphabet=st.characters(blacklist_categories=("Cc", "Cs", "Co", "Cn")),
    min_size=1, max_size=40,
).filter(lambda s: s.strip() != "")
hostile_text = st.one_of(user_text, st.sampled_from(PAYLOADS),
                         st.tuples(user_text, st.sampled_from(PAYLOADS)).map("".join))


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(name=hostile_text, title=hostile_text, tag=hostile_text, custom=hostile_text, note=hostile_text)
def test_property_user_text_never_becomes_markup(make_crm, tmp_path: Path, name: str, title: str, tag: str,
                                                custom: str, note: str) -> None:
    root = make_crm({
        "contacts/someone.md": (
            f"---\nname: {yaml_text(name)}\ntitle: {yaml_text(title)}\ntags: [{yaml_text(tag)}]\n"
            f"custom_field: {yaml_text(custom)}\nnested: {{inner: [{yaml_text(custom)}]}}\n---\n"
            f"{note}\n\n## 2026-11-01 call: {note.splitlines()[0] if note.splitlines() else ''}\n\n{note}\n"
        ).encode("utf-8"),
    })
    out = tmp_path / "site"
    build_site(root, out, TODAY)
    assert_no_markup_from_user(out, {"index.html": 2})
    page = scan(out / "contacts" / "someone.html")
    assert "".join(page.h1).strip() == name.strip()
    text = "".join(page.text)
    assert title.strip() in text and custom.strip() in text
    data = parse_search_data_js((out / SEARCH_DATA_FILE).read_text(encoding="utf-8"))
    assert data["rows"][0][1] == name.strip()


# --- the pieces ----------------------------------------------------------------------------------------


def test_markdown_drops_raw_html_and_unsafe_links() -> None:
    html = str(markdown_to_html(
        "Text <script>alert(1)</script> <b onclick=x>b</b> [a](javascript:alert(1)) [d](data:text/html,x) "
        "[v](vbscript:x) [ok](https://example.com/)\n\n<div>block</div>\n\n<script>alert(2)</script>\n"
    ))
    assert "<script" not in html and "<b" not in html and "<div" not in html and "onclick" not in html
    assert "javascript:" not in html and "data:" not in html and "vbscript:" not in html
    assert '<a href="https://example.com/">ok</a>' in html


def test_markdown_images_never_load() -> None:
    html = str(markdown_to_html('![chart](https://example.com/x.png "t") ![local](img.png) ![bad](javascript:x)'))
    assert "<img" not in html
    assert '<a class="image-link" href="https://example.com/x.png">[image: chart]</a>' in html
    assert "[image: local]" in html and "javascript" not in html


def test_mentions_and_topics_are_never_html_from_user_text() -> None:
    def mention(slug: str) -> str | None:
        return f"../contacts/{slug}.html" if slug in ("ada", "bob") else None

    html = str(markdown_to_html(
        "@ada, @ghost, mail bob@example.com, #topic_x and #ÜBER; `@bob #code`\n\n```\n@bob #fenced\n```\n",
        mention, lambda t: f"../index.html#topic={t}"))
    assert '<a href="../contacts/ada.html">@ada</a>' in html
    assert "@ghost" in html and "ghost.html" not in html
    assert 'href="mailto:bob@example.com"' in html and "contacts/bob.html" not in html
    assert '<a href="../index.html#topic=topic_x">#topic_x</a>' in html
    assert "<code>@bob #code</code>" in html and "@bob #fenced" in html


def test_safe_json_escapes_everything_that_could_end_a_script() -> None:
    text = safe_json({"a": "</script><!-- & \u2028 \u2029 >"})
    for bad in ("<", ">", "&", "\u2028", "\u2029"):
        assert bad not in text
    assert json.loads(text) == {"a": "</script><!-- & \u2028 \u2029 >"}
