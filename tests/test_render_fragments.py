"""The Python-written note and backlink lists (site_builder/fragments.py) write what the
Jinja macros they replaced wrote, escape every value, and the one-pass @mention/#topic
linking gives what the two passes gave. Org pages list their people's notes as links."""

from __future__ import annotations

import functools
import re
from datetime import date, timedelta
from pathlib import Path
from urllib.parse import quote

import jinja2
from markupsafe import escape
from hypothesis import given, settings
from hypothesis import strategies as st

from conftest import TODAY
from site_builder import fragments, render
from site_builder.build import build_site
from site_builder.pages import Backlink, Note, NoteLink, people_note_links, url_slug
from site_builder.parse import MENTION, TOPIC

# The macros as they were before fragments.py (the reference for byte-identical output).
OLD_MACROS = """
{% macro day(value) -%}
{% if value %}<time datetime="{{ value }}">{{ value }}</time>{% endif %}
{%- endmacro %}

{% macro note_list(notes, show_owner=false) -%}
{% for note in notes %}
<article class="note note-{{ note.kind }}{% if note.is_touch %} touch{% endif %}" id="{{ note.id }}">
  <header class="note-head">
    <h3>
      <a class="note-anchor" href="#{{ note.id }}"><time datetime="{{ note.date }}">{{ note.date }}</time></a>
      <span class="kind">{{ note.kind }}</span>
      {% if note.title %}<span class="note-title">{{ note.title }}</span>{% endif %}
    </h3>
    <p class="note-meta">
      <span class="muted">{{ note.date | ago }}</span>
      {% if show_owner and note.owner %}· in <a href="{{ note.owner.href }}">{{ note.owner.name }}</a>{% endif %}
      {% if note.participants %}· with
        {% for p in note.participants %}{% if p.href %}<a href="{{ p.href }}">{{ p.name }}</a>{% else %}{{ p.name }}{% endif %}{% if not loop.last %}, {% endif %}{% endfor %}
      {% endif %}
    </p>
  </header>
  <div class="note-body">{{ note.html }}</div>
</article>
{% endfor %}
{%- endmacro %}

{% macro backlinks_section(backlinks, name) -%}
<section id="backlinks" aria-labelledby="backlinks-h">
  <h2 id="backlinks-h">Mentioned elsewhere</h2>
  {% if backlinks %}
  <ul class="backlinks">
  {% for b in backlinks %}
    <li><a href="{{ b.href }}">{{ b.name }}</a>
      {% if b.date %}<span class="muted">· {{ day(b.date) }} {{ b.note_kind }}{% if b.title %}: {{ b.title }}{% endif %}</span>
      {% else %}<span class="muted">· in the summary</span>{% endif %}</li>
  {% endfor %}
  </ul>
  {% else %}
  <p class="muted">No other file mentions {{ name }} yet (write <code>@slug</code> in a note to link them).</p>
  {% endif %}
</section>
{%- endmacro %}
"""


@functools.cache
def old_macros() -> jinja2.Template:
    env = jinja2.Environment(loader=jinja2.DictLoader({"m.html": OLD_MACROS}), autoescape=True,
                             trim_blocks=True, lstrip_blocks=True, keep_trailing_newline=True)
    env.filters["ago"] = lambda value: render.relative_date(value, TODAY)
    return env.get_template("m.html")


# Text that would be markup if it were not escaped, and the characters escaping changes.
HOSTILE = ["<script>alert(1)</script>", "\"><img src=x onerror=alert(1)>", "O'Brien & Söhne", "a\"b'c<d>e&f",
           "javascript:alert(1)", "{{ 7*7 }}", "&amp;", ""]
texts = st.one_of(st.sampled_from(HOSTILE), st.text(max_size=20))
days = st.dates(min_value=date(2020, 1, 1), max_value=date(2028, 12, 31))
participants = st.lists(st.fixed_dictionaries({"slug": st.from_regex(r"[a-z0-9-]{1,8}", fullmatch=True),
                                                 "href": st.one_of(st.none(), texts), "name": texts}), max_size=3)
notes = st.lists(st.builds(
    Note, id=texts, date=days, kind=texts, title=texts, html=st.builds(render.Markup, texts), is_touch=st.booleans(),
    participants=participants, topics=st.just([]),
    owner=st.one_of(st.none(), st.fixed_dictionaries({"name": texts, "href": texts}))), max_size=4)
backlinks = st.lists(st.builds(Backlink, name=texts, href=texts, kind=st.sampled_from(["contact", "org"]),
                               date=st.one_of(st.none(), days), title=texts, note_kind=texts), max_size=4)


@settings(max_examples=300, deadline=None)
@given(notes=notes, show_owner=st.booleans())
def test_note_list_writes_what_the_jinja_macro_wrote(notes: list[Note], show_owner: bool) -> None:
    expected = str(old_macros().module.note_list(notes, show_owner))
    assert str(fragments.note_list_html(notes, TODAY, show_owner)) == expected


@settings(max_examples=300, deadline=None)
@given(backlinks=backlinks, name=texts)
def test_backlinks_write_what_the_jinja_macro_wrote(backlinks: list[Backlink], name: str) -> None:
    expected = str(old_macros().module.backlinks_section(backlinks, name))
    assert str(fragments.backlinks_html(backlinks, name)) == expected


@given(text=texts)
def test_escape_text_is_jinjas_escape(text: str) -> None:
    assert fragments.escape_text(text) == str(escape(text))
    assert fragments._replace_escape(text) == str(escape(text))  # the fallback
    assert fragments.escape_text(render.Markup(text)) == text


def test_note_links_escape_every_value() -> None:
    link = NoteLink(date=date(2026, 11, 20), kind="<b>", title="<script>x</script>", name="O'Brien & <i>",
                    href='../contacts/a.html#note-1" onclick="x')
    html = str(fragments.note_links_html([link]))
    assert "<script>" not in html and "<b>" not in html and "<i>" not in html and '" onclick' not in html
    assert html == ('  <li><time datetime="2026-11-20">2026-11-20</time> <span class="kind">&lt;b&gt;</span> '
                    '<a href="../contacts/a.html#note-1&#34; onclick=&#34;x">O&#39;Brien &amp; &lt;i&gt;: '
                    '&lt;script&gt;x&lt;/script&gt;</a></li>')


# --- @mention and #topic linking in one pass ------------------------------------------------


def two_pass_link(text: str, mention_link: render.LinkFor, topic_link: render.LinkFor) -> str:
    """The linking as it was: every @mention, then every #topic of the result."""
    def mention(m: re.Match[str]) -> str:
        href = mention_link(m.group(1))
        return f"[@{m.group(1)}]({href})" if href else m.group(0)

    def topic(m: re.Match[str]) -> str:
        href = topic_link(m.group(1).lower())
        label = render._MD_ESCAPE.sub(r"\\\1", m.group(1))
        return f"[\\#{label}]({href})" if href else m.group(0)

    if "@" in text:
        text = MENTION.sub(mention, text)
    if "#" in text:
        text = TOPIC.sub(topic, text)
    return text


def known_mention(slug: str) -> str | None:
    return None if slug.startswith("x") else f"../contacts/{slug}.html"


def some_topics(topic: str) -> str | None:
    return None if topic.startswith("q") else f"../index.html#topic={topic}"


@settings(max_examples=3000, deadline=None)
@given(text=st.text(alphabet="@#ab-x_q1é./&` \n", max_size=24))
def test_one_pass_linking_is_the_two_passes(text: str) -> None:
    assert render._link_plain(text, known_mention, some_topics) == two_pass_link(text, known_mention, some_topics)
    assert render._link_plain(text, None, some_topics) == two_pass_link(text, lambda s: None, some_topics)
    assert render._link_plain(text, known_mention, None) == two_pass_link(text, known_mention, lambda t: None)


def test_a_topic_right_after_a_linked_mention_is_linked_as_before() -> None:
    assert render._link_plain("@ada#pricing @xavier#pricing", known_mention, some_topics) == (
        "[@ada](../contacts/ada.html)[\\#pricing](../index.html#topic=pricing) @xavier#pricing")


def old_link_mentions_and_topics(text: str) -> str:
    """The whole linking as it was: fenced code by lines, code spans, then two passes."""
    def prose(part: str) -> str:
        pieces, last = [], 0
        for span in render._CODE_SPAN.finditer(part):
            pieces += [two_pass_link(part[last:span.start()], known_mention, some_topics), span.group(0)]
            last = span.end()
        return "".join(pieces) + two_pass_link(part[last:], known_mention, some_topics)

    out: list[str] = []
    fence: str | None = None
    lines: list[str] = []
    for line in text.split("\n"):
        m = render._FENCE.match(line)
        if fence is None and m:
            if lines:
                out.append(prose("\n".join(lines)))
            lines, fence = [], m.group(1)[0] * 3
            out.append(line)
        elif fence is not None:
            if m and m.group(1).startswith(fence):
                fence = None
            out.append(line)
        else:
            lines.append(line)
    if lines:
        out.append(prose("\n".join(lines)))
    return "\n".join(out)


@settings(max_examples=2000, deadline=None)
@given(text=st.text(alphabet="@#ab-x_1é\n`~ ", max_size=40))
def test_linking_with_code_and_fences_is_as_before(text: str) -> None:
    for sample in (text, "```\n" + text + "\n```\n" + text, "~~~\n@ada #b\n~~~\n" + text):
        assert render._link_mentions_and_topics(sample, known_mention, some_topics) == (
            old_link_mentions_and_topics(sample))


@given(slug=st.text(max_size=12))
def test_url_slug_is_quote(slug: str) -> None:
    assert url_slug(slug) == quote(slug)


# --- org pages ------------------------------------------------------------------------------------


def test_org_page_lists_its_peoples_notes_as_links_newest_first_and_capped(make_crm, tmp_path: Path) -> None:
    start = date(2026, 1, 1)
    files = {"orgs/acme.md": "---\nname: Acme\n---\n\n## 2026-11-01 meeting: Own <b>note</b>\nThe org's own body.\n"}
    for n in range(3):
        sections = "".join(f"## {start + timedelta(days=3 * i + n)} call: Call {n}-{i}\nBody {n}-{i} SECRET\n\n"
                           for i in range(50))
        files[f"contacts/p{n}.md"] = f"---\nname: Person {n} <i>\norg: acme\n---\n\n{sections}"
    files["contacts/p0.md"] += "## 2027-01-05 meeting: Planned & <b>soon</b>\nLater.\n"
    root = make_crm(files)
    out = tmp_path / "site"
    build_site(root, out, TODAY, cache=False)
    html = (out / "orgs" / "acme.html").read_text(encoding="utf-8")
    people_notes = html.split('id="people-notes"')[1].split("</section>")[0]
    items = re.findall(r'<li><time datetime="([\d-]+)">.*?<a href="([^"]+)">([^<]*)</a></li>', people_notes)
    assert len(items) == 100 and "50 older notes not listed here" in people_notes
    assert [d for d, _, _ in items] == sorted((d for d, _, _ in items), reverse=True)
    assert items[0] == ("2026-05-30", "../contacts/p2.html#note-2026-05-30-1", "Person 2 &lt;i&gt;: Call 2-49")
    assert "SECRET" not in html  # people's note bodies stay on their own pages
    assert "The org's own body." in html and "Own &lt;b&gt;note&lt;/b&gt;" in html  # its own notes in full
    planned = html.split('id="planned"')[1].split("</section>")[0]
    assert '<a href="../contacts/p0.html#note-2027-01-05-1">Person 0 &lt;i&gt;: Planned &amp; &lt;b&gt;soon&lt;/b&gt;</a>' in planned
    # The anchor exists on the person's page.
    assert 'id="note-2026-05-30-1"' in (out / "contacts" / "p2.html").read_text(encoding="utf-8")


def test_people_note_links_keep_people_order_on_one_day(make_crm) -> None:
    """As on the old combined timeline: people in the given order, each person's notes
    in the order of their sections (the loader's: newest first, later in the file first)."""
    from site_builder.loader import load

    day = "## 2026-11-01 call: Same day\nx\n"
    root = make_crm({"orgs/acme.md": "---\nname: Acme\n---\n",
                     "contacts/b.md": f"---\nname: Bea\norg: acme\n---\n\n{day}{day}",
                     "contacts/a.md": f"---\nname: Al\norg: acme\n---\n\n{day}"})
    crm = load(root, cache=False, workers=1).crm
    people = sorted(crm.contacts.values(), key=lambda c: c.name)
    past, planned, more, planned_more = people_note_links(people, TODAY, "../", limit=2)
    assert [link.href for link in past] == ["../contacts/a.html#note-2026-11-01-1", "../contacts/b.html#note-2026-11-01-2"]
    assert (planned, more, planned_more) == ([], 1, 0)


def test_hostile_member_names_and_titles_stay_text_on_the_org_page(make_crm, tmp_path: Path) -> None:
    from test_build_security import PAYLOADS, assert_no_markup_from_user, yaml_text

    files: dict[str, str | bytes] = {"orgs/acme.md": "---\nname: Acme\n---\n"}
    for i, payload in enumerate(PAYLOADS):
        files[f"contacts/evil-{i}.md"] = (
            f"---\nname: {yaml_text(payload)}\norg: acme\n---\n\n"
            f"## 2026-11-0{i + 1} call: {payload}\n{payload}\n\n## 2027-01-0{i + 1} {payload[:8]}: {payload}\nx\n")
    root = make_crm(files)
    out = tmp_path / "site"
    build_site(root, out, TODAY, cache=False)
    assert_no_markup_from_user(out, {"index.html": 2})
    html = (out / "orgs" / "acme.html").read_text(encoding="utf-8")
    assert html.count('<a href="../contacts/evil-') >= 2 * len(PAYLOADS)  # people table and note lines
    assert "&lt;script&gt;alert(1)&lt;/script&gt;: &lt;script&gt;alert(1)&lt;/script&gt;" in html


# --- the theme's environment: `x.key` on a dict ------------------------------------------

_NAMES = st.sampled_from(["items", "keys", "get", "values", "copy", "tier", "due", "__class__", "x", ""])
_VALUES = st.one_of(st.none(), st.integers(), st.text(max_size=5), st.booleans())


@settings(max_examples=300, deadline=None)
@given(st.dictionaries(_NAMES, _VALUES, max_size=6), _NAMES)
def test_theme_environment_looks_up_like_jinja(data: dict[str, object], name: str) -> None:
    """ThemeEnvironment.getattr (which skips Jinja's AttributeError for a dict's keys)
    gives what jinja2.Environment.getattr gives: a dict's methods before its keys, its
    keys, and Undefined for neither; and a template prints the same."""
    fast = render.ThemeEnvironment(undefined=jinja2.ChainableUndefined, autoescape=True)
    plain = jinja2.Environment(undefined=jinja2.ChainableUndefined, autoescape=True)
    got, expected = fast.getattr(data, name), plain.getattr(data, name)
    assert type(got) is type(expected)
    if isinstance(expected, jinja2.Undefined):
        assert (got._undefined_obj, got._undefined_name) == (expected._undefined_obj, expected._undefined_name)
    elif callable(expected):
        assert got == expected  # the same bound method of the same dict
    else:
        assert got is expected
    key = name or "x"
    source = f"{{{{ d.{key} }}}}|{{% if d.{key} %}}yes{{% endif %}}|{{{{ d.{key}.x }}}}"
    assert fast.from_string(source).render(d=data) == plain.from_string(source).render(d=data)
    # Not a plain dict (a subclass may have attributes): Jinja's own way.
    assert fast.getattr(render.ThemeEnvironment, "getattr") == plain.getattr(render.ThemeEnvironment, "getattr")
