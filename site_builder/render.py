"""Rendering helpers: safe Markdown, dates and amounts in words, the Jinja environment.

Everything a template shows goes through Jinja with autoescape on; the only HTML we
produce ourselves comes out of cmarkgfm (which drops raw HTML and javascript:/data:
links), is built here from values we have escaped or restricted to [a-z0-9-], or is
written by fragments.py (the note and backlink lists), which escapes every value.
"""

from __future__ import annotations

import functools
import hashlib
import re
from datetime import date
from decimal import Decimal
from pathlib import Path
from typing import Any, Callable, Iterable
from urllib.parse import quote

import jinja2
import jinja2.bccache
from markupsafe import Markup

from . import cmark_free
from .fs import is_inside
from .theme import builtin_theme_dir, user_theme_dir  # noqa: F401  (render's names too)

# --- Markdown ----------------------------------------------------------------------

LinkFor = Callable[[str], str | None]

_FENCE = re.compile(r"^ {0,3}(`{3,}|~{3,})")
# A code span: a run of backticks, then the shortest text up to the same run.
_CODE_SPAN = re.compile(r"(?<!`)(`+)(?!`).*?(?<!`)\1(?!`)", re.DOTALL)
# cmark writes images exactly like this, with attribute values already escaped.
_IMG = re.compile(r'<img src="([^"]*)" alt="([^"]*)"(?: title="[^"]*")? />')
# GitHub flavour without CMARK_OPT_GITHUB_PRE_LANG (which github_flavored_markdown_to_html
# forces): that writes ```sql as <pre lang="sql">, an invalid language for screen readers;
# without it cmark writes <code class="language-sql">. Options stay 0: no CMARK_OPT_UNSAFE,
# so raw HTML and javascript:/data: links are still dropped.
GFM_EXTENSIONS = ["table", "autolink", "tagfilter", "strikethrough", "tasklist"]
_MD_ESCAPE = re.compile(r"([\\`*_{}\[\]()#+\-.!<>|~])")


def markdown_to_html(text: str, mention_link: LinkFor | None = None,
                     topic_link: LinkFor | None = None) -> Markup:
    """GitHub-flavoured Markdown -> safe HTML, with @mentions and #topics as links.

    Mentions and topics are rewritten into Markdown link syntax before rendering (never
    into HTML), so cmark escapes them like any other text; code is left alone.
    """
    if (mention_link and "@" in text) or (topic_link and "#" in text):
        text = _link_mentions_and_topics(text, mention_link, topic_link)
    html = cmark_free.markdown_to_html_with_extensions(text, 0, GFM_EXTENSIONS)  # cmarkgfm's, minus its leak
    return Markup(_IMG.sub(_image_as_link, html) if "<img" in html else html)


def _image_as_link(match: re.Match[str]) -> str:
    """The site never loads anything from elsewhere, so an image becomes a link to it."""
    src, alt = match.group(1), match.group(2)
    label = alt or src or "image"
    if src.startswith(("https://", "http://")):
        return f'<a class="image-link" href="{src}">[image: {label}]</a>'
    return f"[image: {label}]"


def _link_mentions_and_topics(text: str, mention_link: LinkFor | None, topic_link: LinkFor | None) -> str:
    if "```" not in text and "~~~" not in text:  # no fence can open: all of it is prose
        return _link_prose(text, mention_link, topic_link)
    out: list[str] = []
    fence: str | None = None
    prose: list[str] = []
    for line in text.split("\n"):
        m = _FENCE.match(line)
        if fence is None and m:
            if prose:
                out.append(_link_prose("\n".join(prose), mention_link, topic_link))
            prose = []
            fence = m.group(1)[0] * 3
            out.append(line)
        elif fence is not None:
            if m and m.group(1).startswith(fence):
                fence = None
            out.append(line)
        else:
            prose.append(line)
    if prose:
        out.append(_link_prose("\n".join(prose), mention_link, topic_link))
    return "\n".join(out)


def _link_prose(text: str, mention_link: LinkFor | None, topic_link: LinkFor | None) -> str:
    if "`" not in text:
        return _link_plain(text, mention_link, topic_link)
    pieces: list[str] = []
    last = 0
    for span in _CODE_SPAN.finditer(text):
        pieces.append(_link_plain(text[last:span.start()], mention_link, topic_link))
        pieces.append(span.group(0))
        last = span.end()
    pieces.append(_link_plain(text[last:], mention_link, topic_link))
    return "".join(pieces)


# parse.MENTION, or a #topic without parse.TOPIC's look-behind: _link_plain applies that
# look-behind itself, to the text as linked so far (see there). The mention's look-behind
# comes after its "@" (same matches: tests/test_render_fragments.py): a pattern that starts
# with a plain character is scanned for it quickly, one that starts with a look-behind
# is tried at every position, six times slower.
_MENTION_AFTER_AT = r"@(?<![\w@./]@)([a-z0-9][a-z0-9-]*[a-z0-9]|[a-z0-9])(?![\w-])"
MENTION_SCAN = re.compile(_MENTION_AFTER_AT)  # parse.MENTION's matches, found faster
_MENTION_OR_TOPIC = re.compile(_MENTION_AFTER_AT + r"|#([^\W\d_][\w-]*)")
_TOPIC_BLOCKED_AFTER = re.compile(r"[\w&/#]")


def _link_plain(text: str, mention_link: LinkFor | None, topic_link: LinkFor | None) -> str:
    """@mentions, then #topics, as Markdown links, in one pass over the text.

    It gives what linking all mentions first and then all topics gave: a topic right
    after a linked mention ("@ada#pricing") follows the link's ")" there, which
    TOPIC's look-behind allows, so it is linked too."""
    if not ((mention_link and "@" in text) or (topic_link and "#" in text)):
        return text
    linked_end = -1  # where the last mention that became a link ended

    def link(m: re.Match[str]) -> str:
        nonlocal linked_end
        slug = m.group(1)
        if slug is not None:
            href = mention_link(slug) if mention_link else None  # the slug matched [a-z0-9-] only
            if not href:
                return m.group(0)
            linked_end = m.end()
            return f"[@{slug}]({href})"
        start = m.start()
        if (not topic_link or start > 0 and start != linked_end
                and _TOPIC_BLOCKED_AFTER.match(text, start - 1)):
            return m.group(0)
        topic = m.group(2)
        href = topic_link(topic.lower())
        return f"[\\#{_topic_label(topic)}]({href})" if href else m.group(0)

    return _MENTION_OR_TOPIC.sub(link, text)


@functools.lru_cache(maxsize=4096)
def _topic_label(topic: str) -> str:
    return _MD_ESCAPE.sub(r"\\\1", topic)


# --- URLs ----------------------------------------------------------------------------

SAFE_LINK_SCHEMES = ("http://", "https://", "mailto:")


def safe_href(url: str | None) -> str | None:
    """The URL when its scheme may become a link (http, https, mailto), else None."""
    if not url:
        return None
    text = url.strip()
    return text if text.lower().startswith(SAFE_LINK_SCHEMES) else None


def tel_href(phone: str) -> str:
    """tel: URL of a phone number as written: keep + and digits (and a few dial chars)."""
    return "tel:" + re.sub(r"[^0-9+*#,;]", "", phone)


_FORBIDDEN_SCHEMES = ("javascript:", "data:", "vbscript:", "file:")


def edit_href(pattern: str | None, rel_path: str, root: Path) -> str | None:
    """crm.yaml's edit_url with {path} and {abs_path} filled in; None for unsafe schemes."""
    if not pattern:
        return None
    absolute = (root / rel_path).as_posix()
    url = pattern.replace("{path}", quote(rel_path, safe="/")).replace("{abs_path}", quote(absolute, safe="/:"))
    if re.sub(r"\s", "", url).lower().startswith(_FORBIDDEN_SCHEMES):
        return None
    return url


def topic_fragment(topic: str) -> str:
    return "topic=" + quote(topic, safe="")


# --- words ---------------------------------------------------------------------------


# Every note's date in words: about 240,000 in a cold build at 10,000, a few thousand distinct.
@functools.lru_cache(maxsize=8192)
def days_in_words(days: int) -> str:
    """A signed day count (negative: in the past) in words."""
    if days == 0:
        return "today"
    if days == -1:
        return "yesterday"
    if days == 1:
        return "tomorrow"
    n = abs(days)
    if n < 45:
        amount = f"{n} days"
    elif n < 730:
        months = round(n / 30.44)
        amount = f"{months} months"
    else:
        years = n // 365
        amount = f"{years} years"
    return f"{amount} ago" if days < 0 else f"in {amount}"


def relative_date(value: date | str | None, today: date) -> str:
    """'12 days ago', 'in 3 days', 'today', 'yesterday', 'tomorrow'; '' for no date."""
    when = _as_date(value)
    return days_in_words((when - today).days) if when else ""


def _as_date(value: date | str | None) -> date | None:
    if isinstance(value, date):
        return value
    if isinstance(value, str) and value:
        try:
            return date.fromisoformat(value[:10])
        except ValueError:
            return None
    return None


def long_date(value: date | str | None) -> str:
    """2026-11-22 -> '22 Nov 2026'."""
    when = _as_date(value)
    return f"{when.day} {when.strftime('%b %Y')}" if when else ""


def plural(n: int | float, word: str, many: str | None = None) -> str:
    return f"{n} {word if n == 1 else (many or word + 's')}"


def money(amount: Decimal | int | float | str | None, currency: str | None = None) -> str:
    """48000 EUR -> '48,000 EUR'; cents only when there are any."""
    if amount is None or amount == "":
        return ""
    value = Decimal(str(amount))
    text = f"{value:,.2f}" if value != value.to_integral_value() else f"{value:,.0f}"
    return f"{text} {currency}" if currency else text


def money_map(amounts: dict[str, Any] | None) -> str:
    """{currency: amount} -> '48,000 EUR, 3,000 USD'."""
    if not amounts:
        return ""
    return ", ".join(money(v, k) for k, v in sorted(amounts.items()))


def humanize_key(key: str) -> str:
    return str(key).replace("_", " ").strip().capitalize()


# --- the environment -----------------------------------------------------------------


class RootedFileSystemLoader(jinja2.FileSystemLoader):
    """A user's template folder: a template that is a link leading out of the CRM is ignored."""

    def __init__(self, folder: Path, root: Path) -> None:
        super().__init__(str(folder))
        self._root = root

    def get_source(self, environment: jinja2.Environment, template: str) -> tuple[str, str | None, Callable[[], bool] | None]:
        source, filename, uptodate = super().get_source(environment, template)
        if filename is None or not is_inside(Path(filename), self._root):
            raise jinja2.TemplateNotFound(template)
        return source, filename, uptodate


def theme_file(name: str, root: Path) -> Path:
    """A static theme file (style.css, app.js): the user's copy if any, else the built-in one."""
    user = user_theme_dir(root)
    if user is not None and (user / name).is_file() and is_inside(user / name, root):
        return user / name
    return builtin_theme_dir() / name


class MemoryBytecodeCache(jinja2.BytecodeCache):
    """Compiled templates kept for the life of the process, keyed by name and source
    checksum (Jinja checks it), so repeated builds (tests, crm serve) skip compiling;
    and, where the user has a private cache folder (template_cache_dir), kept there
    between processes too: compiling the theme took about 0.3 s of CPU in every build
    that was not a no-op (0.285 s at 10,000 contacts, in the early process beside the
    loading), where reading it back takes a few milliseconds."""

    def __init__(self) -> None:
        self._store: dict[str, bytes] = {}
        self._disk: jinja2.BytecodeCache | None | bool = False  # False: not looked for yet

    def _on_disk(self) -> jinja2.BytecodeCache | None:
        if self._disk is False:
            self._disk = disk_bytecode_cache()
        return self._disk  # type: ignore[return-value]

    def load_bytecode(self, bucket: jinja2.bccache.Bucket) -> None:
        code = self._store.get(bucket.key)
        if code is not None:
            bucket.bytecode_from_string(code)
            return
        disk = self._on_disk()
        if disk is not None:
            try:
                disk.load_bytecode(bucket)  # Jinja checks its version, Python's and the source's checksum
            except Exception:  # unreadable or damaged: compiled again (and written over)
                bucket.reset()
            if bucket.code is not None:
                self._store[bucket.key] = bucket.bytecode_to_string()

    def dump_bytecode(self, bucket: jinja2.bccache.Bucket) -> None:
        self._store[bucket.key] = bucket.bytecode_to_string()
        disk = self._on_disk()
        if disk is not None:
            try:
                disk.dump_bytecode(bucket)  # a temporary file renamed into place
            except OSError:  # a full or read-only disk costs only speed
                pass

    def __len__(self) -> int:
        return len(self._store)

    def compiled(self) -> dict[str, bytes]:
        return dict(self._store)

    def take(self, compiled: dict[str, bytes]) -> None:
        """Compiled templates from compile_theme run in a process forked from this one."""
        for key, code in compiled.items():
            if type(key) is str and type(code) is bytes:
                self._store.setdefault(key, code)


# Where compiled templates are kept between processes: $CRM_TEMPLATE_CACHE if set ("off":
# nowhere), else plaintext-crm/templates in $XDG_CACHE_HOME or ~/.cache.
TEMPLATE_CACHE_ENV = "CRM_TEMPLATE_CACHE"


def template_cache_dir() -> Path | None:
    """The folder for compiled templates, made if missing; None when there is none to
    use: turned off, no home, not writable, or not a folder of this user's that no one
    else may read or write (compiled code is code that runs: the checks Jinja makes of
    its own cache folder, a real folder, owned by this user, mode 0700)."""
    import os
    import stat

    chosen = os.environ.get(TEMPLATE_CACHE_ENV, "")
    if chosen.lower() == "off" or not hasattr(os, "getuid"):  # (no owner to check: not used)
        return None
    try:
        if chosen:
            folder = Path(chosen)
        else:
            base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
            folder = Path(base) / "plaintext-crm" / "templates"
        folder.parent.mkdir(parents=True, exist_ok=True)
        folder.mkdir(mode=0o700, exist_ok=True)
        found = os.lstat(folder)
    except (OSError, RuntimeError):  # (RuntimeError: no home folder)
        return None
    if not stat.S_ISDIR(found.st_mode) or found.st_uid != os.getuid() or stat.S_IMODE(found.st_mode) & 0o077:
        return None
    return folder


def disk_bytecode_cache() -> jinja2.BytecodeCache | None:
    """Jinja's file cache in template_cache_dir, its files named by this renderer's code
    and Jinja's version (the environment's settings are in this module, and a template
    compiled under other settings is another template); files of other versions there
    are removed as this one starts using the folder."""
    folder = template_cache_dir()
    if folder is None:
        return None
    from .cache import program_fingerprint

    version = hashlib.blake2b(f"{program_fingerprint(('render.py',))}/{jinja2.__version__}".encode(),
                              digest_size=8).hexdigest()
    prefix = f"crm-{version}-"
    for old in folder.glob("crm-*.cache"):
        if not old.name.startswith(prefix):
            old.unlink(missing_ok=True)
    return jinja2.FileSystemBytecodeCache(str(folder), prefix + "%s.cache")


_BYTECODE = MemoryBytecodeCache()

# What a dict answers as attributes (`custom.items()` in a template); any other name
# after a dot is only ever one of its keys.
_DICT_ATTRIBUTES = frozenset(dir(dict))
_ABSENT = object()


class ThemeEnvironment(jinja2.Environment):
    """Jinja's environment with a faster `st.key` for a plain dict, giving what Jinja
    gives. Jinja tries the attribute first, and a dict's key is not one: each such
    lookup raised and caught an AttributeError (and a missing key a KeyError too). The
    pages' stats and rows are dicts: 82,000 such lookups at 1,000 contacts, about 0.6 s
    of CPU of a build that renders every page at 10,000."""

    def getattr(self, obj: Any, attribute: str) -> Any:
        if type(obj) is dict and attribute not in _DICT_ATTRIBUTES:
            found = obj.get(attribute, _ABSENT)
            return self.undefined(obj=obj, name=attribute) if found is _ABSENT else found
        return super().getattr(obj, attribute)


def make_environment(root: Path, today: date, rows: Any = None) -> jinja2.Environment:
    """The Jinja environment of one build. rows: a rowcache.RowCache for the site-wide
    pages' `cached_rows` (None: that global renders every row)."""
    loaders: list[jinja2.BaseLoader] = []
    user = user_theme_dir(root)
    if user is not None:
        loaders.append(RootedFileSystemLoader(user, root))
    loaders.append(jinja2.FileSystemLoader(str(builtin_theme_dir())))
    env = ThemeEnvironment(
        loader=jinja2.ChoiceLoader(loaders),
        autoescape=True,
        undefined=jinja2.ChainableUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
        bytecode_cache=_BYTECODE,
        # An environment lives for one build (each build makes a new one), so a template
        # cannot change under it: no stat() of every template file on every page.
        auto_reload=False,
    )
    env.filters.update(
        ago=lambda value: relative_date(value, today),
        long_date=long_date,
        money=money,
        money_map=money_map,
        plural=plural,
        humanize=humanize_key,
        safe_href=safe_href,
        tel_href=tel_href,
        days_in_words=days_in_words,
    )
    env.globals["today"] = today
    # The long lists of contact and org pages, written in Python (see fragments.py);
    # macros.html's note_list, backlinks_section and note_links call these.
    from . import dashboard, fragments

    env.globals.update(
        note_list_html=lambda notes, show_owner=False: fragments.note_list_html(notes, today, show_owner),
        backlinks_html=fragments.backlinks_html,
        note_links_html=fragments.note_links_html,
        referral_tree_html=dashboard.referral_tree_html,
    )
    # The rows of the site-wide pages, reused from the last build (see rowcache.py).
    from .rowcache import cached_rows_global, cached_rows_html_global

    env.globals["cached_rows"] = cached_rows_global(rows)
    env.globals["cached_rows_html"] = cached_rows_html_global(rows)
    return env


def compile_theme(root: Path) -> dict[str, bytes]:
    """Compile every template of the theme (the user's and the built-in ones) and return
    the compiled code that the process's bytecode cache then holds (MemoryBytecodeCache.
    compiled). A build runs this in a forked process while it loads the CRM, so that
    neither it nor the processes it forks later compile them (about 0.1 s each at first
    use). A template that does not compile is left for the build to report."""
    env = make_environment(root, date.today())
    for name in env.list_templates(filter_func=lambda name: name.endswith(".html")):
        try:
            env.get_template(name)
        except Exception:  # reported where the build renders with it
            continue
    return _BYTECODE.compiled()


def theme_compiled() -> bool:
    """Whether this process has compiled templates already (a long-running one has)."""
    return len(_BYTECODE) > 0


def take_compiled(compiled: Any) -> None:
    if isinstance(compiled, dict):
        _BYTECODE.take(compiled)


def join_nonempty(parts: Iterable[str | None], sep: str = " · ") -> str:
    return sep.join(p for p in parts if p)
