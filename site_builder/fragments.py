"""HTML for the long lists of contact and org pages, written in Python.

A contact page repeats the same markup for each of its notes and backlinks; as Jinja
macros those loops were most of a cold build's rendering time (a template expression
costs an attribute lookup, an escape() call and a Markup object each). These functions
write the same markup the macros in templates/macros.html used to write, byte for
byte (tests/test_render_fragments.py renders both and compares), and the macros now
call them. Every value from a user's files goes through escape_text(); only a note's
html (safe Markup from render.markdown_to_html) is inserted as it is.
"""

from __future__ import annotations

from datetime import date
from typing import Any, Iterable, Sequence

from markupsafe import Markup

from .render import relative_date


def _replace_escape(text: str) -> str:
    return (text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
            .replace("'", "&#39;").replace('"', "&#34;"))


try:  # markupsafe's own C loop, without the Markup object that escape() wraps around it
    from markupsafe._speedups import _escape_inner as _escape_str  # type: ignore[import-not-found]
except ImportError:  # pure-Python markupsafe, or a version that names it otherwise
    _escape_str = _replace_escape


def escape_text(value: Any) -> str:
    """The text as Jinja's autoescape writes it (markupsafe's five characters and
    entities: &amp; &lt; &gt; &#39; &#34;), as a plain str to join cheaply; Markup as it is."""
    if value.__class__ is str:
        return _escape_str(value)  # type: ignore[no-any-return]
    if isinstance(value, Markup):
        return str(value)
    return _escape_str(str(value))  # type: ignore[no-any-return]


def note_list_html(notes: Iterable[Any], today: date, show_owner: bool = False) -> Markup:
    """Each note as an <article class="note">: what macros.html's note_list wrote."""
    parts: list[str] = []
    add = parts.append
    for note in notes:
        note_id = escape_text(note.id)
        kind = escape_text(note.kind)
        day = note.date.isoformat()
        add(f'<article class="note note-{kind}{" touch" if note.is_touch else ""}" id="{note_id}">\n'
            f'  <header class="note-head">\n'
            f'    <h3>\n'
            f'      <a class="note-anchor" href="#{note_id}"><time datetime="{day}">{day}</time></a>\n'
            f'      <span class="kind">{kind}</span>\n')
        if note.title:
            add(f'<span class="note-title">{escape_text(note.title)}</span>')
        add(f'    </h3>\n'
            f'    <p class="note-meta">\n'
            f'      <span class="muted">{relative_date(note.date, today)}</span>\n')
        owner = note.owner
        if show_owner and owner:
            add(f'· in <a href="{escape_text(owner["href"])}">{escape_text(owner["name"])}</a>')
        if note.participants:
            add("· with\n")
            add(", ".join(_participant(p) for p in note.participants))
        add(f'    </p>\n'
            f'  </header>\n'
            f'  <div class="note-body">{_safe(note.html)}</div>\n'
            f'</article>\n')
    return Markup("".join(parts))


def _participant(p: dict[str, Any]) -> str:
    name = escape_text(p["name"])
    return f'<a href="{escape_text(p["href"])}">{name}</a>' if p["href"] else name


def _safe(html: Any) -> str:
    """A note's rendered Markdown: Markup is trusted as it is, anything else escaped."""
    return str(html) if isinstance(html, Markup) else escape_text(html)


def backlinks_html(backlinks: Sequence[Any], name: str) -> Markup:
    """The "Mentioned elsewhere" section: what macros.html's backlinks_section wrote. A
    page's own backlinks (pages.PageBacklinks) may have it kept from the last build."""
    kept_html = getattr(backlinks, "kept_html", None)
    if kept_html is not None:
        return kept_html(name, _backlinks_html)  # type: ignore[no-any-return]
    return _backlinks_html(backlinks, name)


def _backlinks_html(backlinks: Sequence[Any], name: str) -> Markup:
    parts = ['<section id="backlinks" aria-labelledby="backlinks-h">\n'
             '  <h2 id="backlinks-h">Mentioned elsewhere</h2>\n']
    add = parts.append
    if backlinks:
        add('  <ul class="backlinks">\n')
        for b in backlinks:
            add(f'    <li><a href="{escape_text(b.href)}">{escape_text(b.name)}</a>\n')
            if b.date:
                day = b.date.isoformat()
                title = f": {escape_text(b.title)}" if b.title else ""
                add(f'<span class="muted">· <time datetime="{day}">{day}</time> {escape_text(b.note_kind)}{title}'
                    '</span>\n</li>\n')
            else:
                add('<span class="muted">· in the summary</span></li>\n')
        add('  </ul>\n')
    else:
        add(f'  <p class="muted">No other file mentions {escape_text(name)} yet (write <code>@slug</code> in a note '
            'to link them).</p>\n')
    add("</section>")
    return Markup("".join(parts))


def note_links_html(links: Iterable[Any]) -> Markup:
    """Notes of other files as one <li> each (an org page's view of its people's notes):
    date, kind, and a link to the note on its page, named by whose note it is and its title."""
    items = []
    for link in links:
        day = link.date.isoformat()
        title = f": {escape_text(link.title)}" if link.title else ""
        items.append(f'  <li><time datetime="{day}">{day}</time> <span class="kind">{escape_text(link.kind)}</span> '
                     f'<a href="{escape_text(link.href)}">{escape_text(link.name)}{title}</a></li>')
    return Markup("\n".join(items))
