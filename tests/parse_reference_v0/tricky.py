"""Deterministic tricky inputs for the parser equivalence checks (not part of the frozen
copy: add fragments here whenever a new corner is found).

Each file is put together from fragments chosen to reach every branch of the parser,
the YAML reader, the model builders and the checks: odd headings, fences, mentions and
topics next to punctuation, line separators that str.split("\\n") keeps but strip()
removes, YAML anchors, merge keys, tags, duplicate keys, bad values of every key, and
byte-level damage (BOM, CR, NUL, invalid UTF-8).
"""

from __future__ import annotations

import random

SLUGS = ("ada", "bob", "b", "zoe-muller", "acme", "acme-labs", "globex", "x")

FRONT = (
    "name: Ada Lovelace", 'name: "Zoë Müller"', "name: 42", "name:", "name: [a, b]", "name: ''", "name: '  '",
    "name: true", "aka: Countess", "aka: [A, B, {c: d}]", "pronouns: she/her", "org: acme", "org: '@acme'",
    "org: nowhere", "org: [acme]", "title: CTO", "title: {a: b}", "role: Champion", "role: boss",
    "tier: a", "tier: D", "tier: 1", "status: Lead", "status: friend", "since: 2024-03-05", "since: 2024-3-5",
    "since: 2024-02-30", "since: !!timestamp 2024-01-01", "since: !!timestamp 2024-01-01T10:00:00Z",
    "customer_since: 2023-01-01", "source: conference", "referred_by: bob", "referred_by: ada",
    "referred_by: '@nobody'", "cadence: 2w", "cadence: 0", "cadence: -3", "cadence: abc", "cadence: true",
    "cadence: 30", "cadence: ' 3 M '", "cadence: 1y", "follow_up: 2026-12-01", "follow_up: tomorrow",
    "snooze_until: 2026-11-30", "preferred_channel: EMAIL", "preferred_channel: pigeon",
    "newsletter: subscribed", "newsletter: maybe", "timezone: Europe/Berlin", "timezone: Europe/Berln",
    "timezone: Mars/Base", "location: Oslo", "birthday: --02-29", "birthday: --13-01", "birthday: 1985-02-30",
    "birthday: 1985-02-03", "birthday: !!timestamp 1985-02-03", "birthday: 3", "trivia: |\n  line one\n  line two",
    "trivia: >\n  folded\n  text", "private: yes", "private: true", "private: 1", "private: [x]",
    "emails:\n  - ada@example.com\n  - not-an-email\n  - ada@example.com", "emails: ada@example.com",
    "emails: [ada@example.com, {x: y}]", "emails:\n  - BOB@EXAMPLE.COM", "phones: ['+47 0471 12 34']",
    "phones: 0471 12 34 56", "addresses: {a: b}", "tags: [client, '#VIP', 3]", "tags: client",
    "tags:\n  - a\n  - [b]", "links:\n  site: https://example.com\n  empty: ''", "links:\n  - https://a.example/x",
    "links: text", "family:\n  kid: Ann\n  kid: Bo", "family: [a]", "interests: [sailing, 5, null]",
    "website: https://acme.example", "industry: [a]", "size: 11-50", "market: DACH", "parent: acme",
    "parent: globex", "parent: x", "parent: nowhere",
    "deals:\n  - title: Pilot\n    stage: won\n    amount: 1,000.50\n    currency: eur\n    opened: 2025-01-01\n"
    "    closed: 2025-02-30\n    lost_to: rival\n    extra_key: 1\n    stgae: x",
    "deals:\n  - stage: Lost\n    amount: 5\n  - just text\n  - amount: abc\n    currency: EURO",
    "deals:\n  - {title: T, amount: 1e3, currency: USD, opened: 2025-13-01}", "deals: {a: b}", "deals: 3",
    "invoices:\n  - number: 7\n    date: 2025-01-01\n    amount: 120\n    currency: EUR\n    due: 2025-02-01\n"
    "    paid: 2025-02-03\n  - number: 8\n  - amount: 1_000\n    currency: eur\n    paied: 2025-01-01",
    "invoices:\n  - amount: .5\n    currency: USD\n    date: 2025-2-1",
    "base: &b {x: 1, y: [1, 2]}", "other: *b", "merged:\n  <<: {x: 1}\n  y: 2", "ref: *undefined",
    "selfref: &s [*s]", "1: one", "true: yes", "null: nothing", "? [a, b]\n: c", "? {k: v}\n: d",
    "1.5: float key", "num: 1.5e3", "num2: 1e3", "num3: -0.0", "num4: +1", "num5: 007", "num6: 0x1F",
    "when: 12:30", "country: NO", "emial: x", "tittle: y", "custom_x: 1", "Custom Key: value",
    "set: !!set {a, b}", "omap: !!omap [a: 1, b: 2]", "bin: !!binary aGVsbG8=", "str: !!str 5",
    "custom: !mytag x", "bad: [unclosed", "\ttab: x", "quote: 'unterminated", "bell: a\x07b",
    "deep: " + "[" * 70 + "]" * 70, "# a comment", "", "   ", "key: value # trailing",
    "multi: \"a\\nb\"", "uni: \u2028x\u2029", "nbsp: \u00a0x\u00a0",
)
# An alias bomb: nine levels of nine aliases each expand to 9**9 values.
BOMB = "a0: &a0 [x, x, x, x, x, x, x, x, x]\n" + "\n".join(
    f"a{i}: &a{i} [{', '.join([f'*a{i - 1}'] * 9)}]" for i in range(1, 9)
)
WHOLE_FRONT = ("- a\n- b", "just text", "", "[1, 2]", "~", "42", BOMB, "name: x\n---\nname: y")

HEADINGS = (
    "## 2026-01-05 call: Title @ada #topic", "## 2026-1-5 email", "## 2026-02-30 meeting", "## 2026-01-05",
    "## 2026-01-05: colon", "##  2026-01-05 call", "## 2026-01-05call", "## 2026-01-05\tcall: tab",
    "### 2026-01-05 x", "## 2026-01-05 Call @ada @bob: Kickoff #Plan", "## 2026-01-05 call @ada",
    "## 2026-01-05 @ada: no kind", "## 2026-01-05 call: @x title with @y", "## 2026-01-05 123kind",
    "## 2026-01-05 kind_with-dash: k", "## 2026-01-05 MEETING   :   spaced  ", "## 2026-01-05 call @Ada",
    "## 2026-01-05 call @ada-", "## 20260-01-05", "## 2026-01-05 Ünicode: x", "## 2026-01-05 visit:",
    "## 2026-01-05 call @nobody @b:", "## 2026-01-05 call @ada@bob", "## 2026-1-05 social @acme",
    "## 2026-01-05 calll: typo", "## 2026-01-05 note", "## 2026-01-5 call #a #b #a", "## 2026-01-05 call:: x",
    "## 2026-01-05 call @ada : spaced colon", "## 2026-01-05 @ada @bob", "## 0000-01-01 call",
    "## 2026-01-05 call\u00a0nbsp", "## 2026-01-05 call \u2028sep", "##\t2026-01-05 call", "## 2026-01-05 #tag",
    "## 2026-01-05 e-mail: x", "## 2026-01-05 A: one letter", "## 9999-12-31 call", "## 2026-00-10 call",
)
BODY = (
    "Plain text.", "", "", "   ", "\t", "Met @ada and @bob.", "mail ada@x.com", "x@ada", "(@bob)", "@bob.", "@bob-",
    "@b", "@-x", "@ada_x", "@Zoë", "a.@ada", "/@ada", "@@ada", "@ada@bob", "@nobody here", "@acme-labs rocks",
    "#pricing", "#Pricing-Plan", "&#39; entity", "url/#frag", "##double", "#1st", "#_x", "#ünï", "C# code",
    "text#tag", "#a.b", "see #Topic, #topic and #TOPIC", "```", "````", "~~~", "   ```python", "    ```",
    "```` inner ```", "~~~~", "``` ~~~", "## 2026-02-01 call: inside a fence?", "## not a date",
    "##", "## ", "# 2026-01-05 h1", "trailing spaces   ", "\u00a0", "\u2028", "x\u2028y", "\x0b", "\x0c",
    "\x1c", "\x85", "\u3000", "Zoë Müller #café", "@zoe-muller", "@zoe-muller.", "@x", "#x-y-", "@ada #a@b",
    "- [ ] task @ada", "> quote #q", "    indented @bob code", "&#x27;#nope", "<a href=\"#h\">#h</a>",
)


def _front(rng: random.Random) -> str:
    if rng.random() < 0.06:
        return rng.choice(WHOLE_FRONT)
    lines = rng.sample(FRONT, rng.randint(0, 9))
    if rng.random() < 0.8:
        lines.insert(0, rng.choice(FRONT[:8]))
    if rng.random() < 0.15:  # a duplicate key
        lines.append(rng.choice(lines) if lines else "name: dup")
    return "\n".join(lines)


def _body(rng: random.Random) -> list[str]:
    out: list[str] = []
    for _ in range(rng.randint(0, 30)):
        roll = rng.random()
        if roll < 0.25:
            out.append(rng.choice(HEADINGS))
        elif roll < 0.9:
            out.append(rng.choice(BODY))
        else:
            out.append(" ".join(rng.choice(BODY) for _ in range(rng.randint(2, 4))))
    return out


def _damage(rng: random.Random, data: bytes) -> bytes:
    roll = rng.random()
    if roll < 0.05:
        return b"\xef\xbb\xbf" + data
    if roll < 0.10:
        return data.replace(b"\n", b"\r\n")
    if roll < 0.12:
        return data.replace(b"\n", b"\r")
    if roll < 0.13:
        return data[: len(data) // 2] + b"\x00" + data[len(data) // 2:]
    if roll < 0.14:
        return data[: len(data) // 2] + b"\xff\xfe" + data[len(data) // 2:]
    if roll < 0.15:
        return b""
    if roll < 0.16:
        return b" \n\t\n"
    if roll < 0.17:
        return data.replace(b"---\n", b"", 1)
    if roll < 0.18:
        return data.rsplit(b"\n---", 1)[0] if b"\n---" in data else data
    if roll < 0.19:
        return data.replace(b"---\n", b"---  \n", 2)
    if roll < 0.20:
        return data.replace(b"\n---\n", b"\n...\n", 1)
    if roll < 0.21:
        return data.replace(b"\n", b"\r\n", 3)  # mixed line ends
    return data


def tricky_files(count: int, seed: int = 7) -> list[tuple[str, bytes]]:
    """count (path, bytes) pairs, the same for the same arguments; paths are unique."""
    rng = random.Random(seed)
    files: list[tuple[str, bytes]] = []
    for i in range(count):
        folder = "orgs" if rng.random() < 0.2 else "contacts"
        slug = SLUGS[i] if i < len(SLUGS) else rng.choice(("c", "Bad_Slug-", "zoë", "a--b", "p")) + str(i)
        if i < len(SLUGS):
            folder = "orgs" if slug in ("acme", "acme-labs", "globex") else "contacts"
        text = "---\n" + _front(rng) + "\n---\n" + "\n".join(_body(rng))
        if rng.random() < 0.5:
            text += "\n"
        files.append((f"{folder}/{slug}.md", _damage(rng, text.encode("utf-8"))))
    files.append(("contacts/huge.md", b"---\nname: Huge\n---\n" + b"x" * (2 * 1024 * 1024)))
    return files
