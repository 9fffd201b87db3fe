"""The directory's search data: one compact row per contact, written as search-data.js.

The page loads it with a <script> tag because fetch() of a JSON file fails from file://.
Rows are arrays (not objects) so 10,000 contacts stay small; each row carries one
pre-folded haystack string so that a keystroke is one substring test per contact.
app.js folds the query with the same rules as fold() below (keep the two in step).
"""

from __future__ import annotations

import json
import unicodedata
from dataclasses import dataclass
from typing import Any, Iterable

SEARCH_DATA_FILE = "search-data.js"
SEARCH_DATA_PREFIX = "window.CRM_DATA = "
FORMAT_VERSION = 1

# The order of the values in every row; app.js reads CRM_DATA.fields to find them.
ROW_FIELDS: tuple[str, ...] = (
    "slug", "name", "org", "org_name", "title", "tier", "status", "source",
    "last_touch", "last_touch_words", "touches", "next_due", "next_due_words",
    "attention", "tags", "topics", "sort_name", "haystack",
)

# Letters NFD does not take apart, folded the way people type them without the accent.
_SPECIAL_FOLDS = str.maketrans({
    "ß": "ss", "ø": "o", "æ": "ae", "œ": "oe", "ł": "l", "đ": "d", "ð": "d", "þ": "th",
    "ı": "i", "ħ": "h", "ŧ": "t", "ŀ": "l",
})


def fold(text: str) -> str:
    """Case- and accent-insensitive form: 'Zoë MÜLLER' -> 'zoe muller', 'Straße' -> 'strasse'.

    NFD, drop combining marks, lower-case, then the special letters. CJK is unchanged,
    so '张' still finds '张伟' as a substring.
    """
    if text.isascii():  # NFD, the marks and the special letters change nothing here
        return text.lower()
    stripped = unicodedata.normalize("NFD", text).translate(_WITHOUT_MARKS)
    return unicodedata.normalize("NFC", stripped.lower().translate(_SPECIAL_FOLDS))


class _MarkTable(dict[int, "str | None"]):
    """str.translate table that deletes combining marks (category Mn) and keeps every
    other character; filled on first sight of each character, so translating runs in C
    instead of a Python test per character."""

    def __missing__(self, code: int) -> str | None:
        char = chr(code)
        value = self[code] = None if unicodedata.category(char) == "Mn" else char
        return value


_WITHOUT_MARKS = _MarkTable()


@dataclass(frozen=True, slots=True)
class SearchRow:
    slug: str
    name: str
    org: str
    org_name: str
    title: str
    tier: str
    status: str
    source: str
    last_touch: str  # ISO date or ""
    last_touch_words: str
    touches: int
    next_due: str  # ISO date or ""
    next_due_words: str
    attention: str  # space-separated flags: due overdue never over
    tags: tuple[str, ...]
    topics: tuple[str, ...]
    searchable: tuple[str, ...]  # every text the search looks in

    def as_list(self) -> list[Any]:
        return [
            self.slug, self.name, self.org, self.org_name, self.title, self.tier, self.status,
            self.source, self.last_touch, self.last_touch_words, self.touches, self.next_due,
            self.next_due_words, self.attention, list(self.tags), list(self.topics),
            fold(self.name), haystack(self.searchable),
        ]


def haystack(texts: tuple[str, ...]) -> str:
    """Folded texts joined by newlines: a query (one line) cannot match across two fields."""
    # One fold of the joined text: folding never joins or splits across a newline.
    return fold("\n".join(t for t in texts if t))


def safe_json(value: Any) -> str:
    """JSON that is also safe inside a <script> element and in any JS string context."""
    text = json.dumps(value, ensure_ascii=False, separators=(",", ":"), sort_keys=False)
    return (
        text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")
        .replace("\u2028", "\\u2028").replace("\u2029", "\\u2029")
    )


def search_data_js(rows: list[SearchRow], meta: dict[str, Any]) -> str:
    return search_data_text((search_row_json(row) for row in rows), meta)


def search_data_text(pieces: Iterable[str], meta: dict[str, Any]) -> str:
    """The file's text from each row's search_row_json (e.g. kept from the last build:
    rowcache). The pieces are joined into the payload as they are, which gives the bytes
    of one safe_json of the whole payload: its escapes are per character, and a row's
    JSON is the same wherever it stands."""
    head = safe_json({"version": FORMAT_VERSION, "fields": list(ROW_FIELDS), **meta})
    return f'{SEARCH_DATA_PREFIX}{head[:-1]},"rows":[{",".join(pieces)}]}};\n'


def search_row_json(row: SearchRow) -> str:
    return safe_json(row.as_list())


def parse_search_data_js(text: str) -> dict[str, Any]:
    """The data back from search-data.js (for tests and tools)."""
    if not text.startswith(SEARCH_DATA_PREFIX):
        raise ValueError("not a search-data.js file")
    return json.loads(text[len(SEARCH_DATA_PREFIX):].rstrip().rstrip(";"))
