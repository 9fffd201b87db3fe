"""The neutral shape every reader produces, whatever the source format."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import date
from urllib.parse import urlsplit


@dataclass(frozen=True, slots=True)
class Photo:
    data: bytes
    ext: str  # "jpg", "png", "gif", "webp"


@dataclass(slots=True)
class ImportedContact:
    """One person as read from an import file, before matching.

    `origin` is "FILE:LINE" of the card or row, for the summary and for problems.
    """

    origin: str
    name: str | None = None
    aka: list[str] = field(default_factory=list)
    emails: list[str] = field(default_factory=list)
    phones: list[str] = field(default_factory=list)
    addresses: list[str] = field(default_factory=list)
    org: str | None = None  # the organisation's name as written in the source
    title: str | None = None
    department: str | None = None  # ORG units, Google's department: joined to the title
    birthday: str | None = None  # "1985-04-12" or "--04-12"
    tags: list[str] = field(default_factory=list)
    links: dict[str, str] = field(default_factory=dict)  # label -> URL
    note: str | None = None
    source: str | None = None  # the contact's `source:` (e.g. "linkedin")
    connected: str | None = None  # ISO date the connection was made (LinkedIn)
    photo: Photo | None = None
    photo_skipped: str | None = None  # why a photo in the source was not kept


def add_unique(items: list[str], value: str | None, key=str.casefold) -> None:  # type: ignore[no-untyped-def]
    """Append a stripped value unless empty or already there (by key)."""
    text = (value or "").strip()
    if text and all(key(text) != key(existing) for existing in items):
        items.append(text)


def clean_tag(text: str) -> str:
    """'Board Games' -> 'board-games': tags are single lower-case words in the format."""
    return re.sub(r"[\s,;]+", "-", text.strip().lstrip("#").lower()).strip("-")


_KNOWN_HOSTS = (
    ("linkedin.com", "linkedin"), ("github.com", "github"), ("twitter.com", "twitter"), ("x.com", "x"),
    ("facebook.com", "facebook"), ("instagram.com", "instagram"), ("xing.com", "xing"),
    ("mastodon", "mastodon"), ("bsky.app", "bluesky"), ("youtube.com", "youtube"),
)


def link_label(url: str, hint: str | None = None) -> str:
    """A links-map label for a URL: the service for well-known hosts, else the source's
    label (Apple's X-ABLabel, a TYPE, Google's 'Website 1 - Label'), else 'website'."""
    host = (urlsplit(url if "//" in url else f"//{url}").hostname or "").lower()
    for known, label in _KNOWN_HOSTS:
        if host == known or host.endswith("." + known) or (known == "mastodon" and known in host):
            return label
    hint_text = clean_tag(re.sub(r"^_\$!<(.*)>!\$_$", r"\1", hint or ""))  # Apple's _$!<HomePage>!$_
    if hint_text and hint_text not in (
        "internet", "pref", "x-pref", "other", "url", "homepage", "home-page", "work", "home", "profile",
    ):
        return hint_text
    return "website"


def add_link(links: dict[str, str], url: str, hint: str | None = None) -> None:
    url = url.strip()
    if not url or url in links.values():
        return
    label = link_label(url, hint)
    base, n = label, 2
    while label in links:
        label, n = f"{base}-{n}", n + 1
    links[label] = url


def iso_or_none(year: int | None, month: int, day: int) -> str | None:
    """ISO birthday text, or None when the date is impossible; no year gives --MM-DD."""
    try:
        date(year if year else 2000, month, day)  # 2000 is a leap year: --02-29 is valid
    except ValueError:
        return None
    return f"{year:04d}-{month:02d}-{day:02d}" if year else f"--{month:02d}-{day:02d}"
