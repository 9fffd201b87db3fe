"""Deterministic benchmark corpus: N contacts with M dated sections each, plus orgs.

    python benchmarks/generate.py OUT_DIR --contacts 10000 --sections 20 [--seed 7]

The same arguments always give byte-identical files (a seeded random.Random, no clock),
so figures from different machines and commits compare like with like. The corpus is
meant to look like a real consultant's CRM, not like lorem ipsum: orgs with parent
orgs, tags, deals and invoices in two currencies, @mentions in headings and bodies,
#topics, custom fields, accented and CJK names, some planned (future) sections; about
8 KB of Markdown per contact at 20 sections (10,000 x 20 is about 80 MB). Every
reference points at a file that exists, so `crm check` reports no errors.
"""

from __future__ import annotations

import argparse
import random
import sys
from datetime import date, timedelta
from pathlib import Path

TODAY = date(2026, 11, 22)

# (display name, slug form). Accented and CJK names exercise folding and UTF-8 paths.
FIRST_NAMES = [
    ("Ada", "ada"), ("Ben", "ben"), ("Chloé", "chloe"), ("Dmitri", "dmitri"), ("Emily", "emily"),
    ("François", "francois"), ("Grete", "grete"), ("Henrik", "henrik"), ("Ingrid", "ingrid"),
    ("José", "jose"), ("Katrin", "katrin"), ("Layla", "layla"), ("Magnus", "magnus"), ("Noah", "noah"),
    ("Øystein", "oystein"), ("Priya", "priya"), ("Quentin", "quentin"), ("Renée", "renee"),
    ("Søren", "soren"), ("Tomás", "tomas"), ("Ulla", "ulla"), ("Valentina", "valentina"),
    ("Wojciech", "wojciech"), ("Xavier", "xavier"), ("Yara", "yara"), ("Zoë", "zoe"),
    ("Łukasz", "lukasz"), ("Aiko", "aiko"), ("Mateo", "mateo"), ("Siobhán", "siobhan"),
]
LAST_NAMES = [
    ("Müller", "muller"), ("Okafor", "okafor"), ("Carter", "carter"), ("Sørensen", "sorensen"),
    ("Navarro", "navarro"), ("Vogel", "vogel"), ("Haddad", "haddad"), ("Rivera", "rivera"),
    ("Klein", "klein"), ("Raman", "raman"), ("Bakke", "bakke"), ("Weber", "weber"),
    ("García", "garcia"), ("Nowak", "nowak"), ("Dubois", "dubois"), ("Rossi", "rossi"),
    ("Andersson", "andersson"), ("Kowalczyk", "kowalczyk"), ("O'Brien", "obrien"), ("Ślusarz", "slusarz"),
]
CJK_NAMES = [
    ("张伟", "zhang-wei"), ("王芳", "wang-fang"), ("李娜", "li-na"), ("田中 裕子", "tanaka-yuko"),
    ("佐藤 健", "sato-ken"), ("김민준", "kim-minjun"), ("陈静", "chen-jing"), ("刘洋", "liu-yang"),
]
ORG_WORDS = [
    "Nordlicht", "Fjord", "Ledger", "Huaxin", "Atlas", "Borealis", "Cobalt", "Delta", "Ember",
    "Fenwick", "Granite", "Harbor", "Iris", "Juniper", "Kestrel", "Lumen", "Meridian", "Northwind",
    "Orchid", "Pinnacle", "Quarry", "Riverstone", "Solstice", "Tundra", "Umbra", "Vireo", "Willow",
]
ORG_SUFFIXES = [
    ("Logistics GmbH", "logistics"), ("Analytics", "analytics"), ("Bank ASA", "bank"), ("Retail AG", "retail"),
    ("Labs", "labs"), ("Consulting", "consulting"), ("Health", "health"), ("Energy SE", "energy"),
    ("Robotics", "robotics"), ("Media", "media"),
]
INDUSTRIES = ["Logistics", "Banking", "Retail", "Software", "Healthcare", "Energy", "Media", "Manufacturing"]
SIZES = ["1-10", "11-50", "51-200", "201-500", "501-1000", "1001-5000", "5001-10000"]
MARKETS = ["DACH", "Nordics", "US", "UK and Ireland", "Benelux", "China", "Japan", "Southern Europe"]
TITLES = [
    "Head of Data", "CTO", "VP Engineering", "Data Scientist", "Procurement Lead", "CEO", "Product Manager",
    "Analytics Engineer", "CFO", "Head of Operations", "Machine Learning Lead", "Founder",
]
ROLES = ["decision-maker", "influencer", "champion", "user", "gatekeeper", "other"]
TIERS = ["A", "B", "B", "C", "C", "C"]
STATUSES = ["lead", "qualified", "opportunity", "customer", "customer", "former", "partner", "personal"]
SOURCES = ["referral", "event", "website", "linkedin", "cold outreach", "conference talk"]
CADENCES = ["2w", "1m", "3m", "6m", "1y", "30", "45d"]
CHANNELS = ["email", "phone", "meeting", "message"]
NEWSLETTER = ["subscribed", "unsubscribed", "none"]
TIMEZONES = [
    ("Europe/Berlin", "Berlin"), ("Europe/Oslo", "Oslo"), ("Europe/Paris", "Paris"), ("Europe/Madrid", "Madrid"),
    ("America/New_York", "New York"), ("America/Los_Angeles", "San Francisco"), ("Asia/Shanghai", "Shanghai"),
    ("Asia/Tokyo", "Tokyo"), ("Europe/London", "London"), ("Europe/Warsaw", "Warsaw"),
]
TAGS = [
    "client", "forecasting", "hamburg", "ml", "lakehouse", "asia", "enterprise", "startup", "speaker",
    "investor", "friend", "alumni", "procurement", "security", "e-commerce", "nordics", "berlin", "remote",
]
INTERESTS = ["rowing", "board games", "jazz", "hiking", "chess", "sourdough", "cycling", "opera", "climbing"]
KINDS = ["call", "email", "meeting", "message", "visit", "social", "note", "note"]
TOPICS = ["pricing", "forecasting", "hiring", "ml", "procurement", "lakehouse", "security", "budget", "roadmap"]
CURRENCIES = ["EUR", "USD"]
DEAL_STAGES = ["idea", "planning", "proposal", "won", "won", "lost"]

HEADLINES = [
    "Quarterly review", "Intro call", "Scoping workshop", "Proposal walkthrough", "Follow-up on the pilot",
    "Budget questions", "Coffee catch-up", "Contract renewal", "Status update", "Kick-off",
    "Reference request", "Hiring plans", "Conference chat", "Retrospective", "Data audit results",
]
SENTENCES = [
    "Talked through the current state of their data platform and where it hurts most.",
    "They want a proper pipeline before the next peak season, and the budget is approved.",
    "Weekly volume forecasts are still done in spreadsheets and are off by a fifth.",
    "Agreed on three milestones; the proposal is due by the middle of next month.",
    "Procurement needs a purchase order number on every invoice, or it is silently ignored.",
    "She prefers a one-page memo to a slide deck and reads it before the call.",
    "The pilot ran for six weeks without an incident and the team trusts the numbers now.",
    "He asked for a cheaper option without the integration work; will send two scopes.",
    "Payment terms settled at 45 days after some back and forth with finance.",
    "Their board meets in early December; a decision is unlikely before that.",
    "Two data engineers are joining in the spring, which changes the staffing plan.",
    "The warehouse migration slipped by a quarter because of a vendor contract.",
    "Good energy in the room; the new CTO is clearly pushing for this.",
    "Sent the summary and the revised estimate the same afternoon.",
    "Asked for a reference customer in the same industry; sent two names.",
    "Security review passed with two minor findings, both fixed within the week.",
]
CODE_BLOCK = "```sql\nselect region, sum(volume) from shipments group by region;\n```"


class Corpus:
    """Builds every file's text from one seeded generator; writing is separate."""

    def __init__(self, contacts: int, sections: int, seed: int) -> None:
        self.rng = random.Random(seed)
        self.n_contacts = contacts
        self.n_sections = sections
        self.org_slugs = self._org_slugs(max(3, contacts // 20))
        self.contact_names = self._contact_names(contacts)
        self.contact_slugs = [slug for _, slug in self.contact_names]

    # --- names and slugs -------------------------------------------------------------

    def _org_slugs(self, count: int) -> list[tuple[str, str]]:
        orgs = []
        for i in range(count):
            word = ORG_WORDS[i % len(ORG_WORDS)]
            suffix, suffix_slug = ORG_SUFFIXES[(i // len(ORG_WORDS)) % len(ORG_SUFFIXES)]
            n = i // (len(ORG_WORDS) * len(ORG_SUFFIXES))
            name = f"{word} {suffix}" + (f" {n + 1}" if n else "")
            slug = f"{word.lower()}-{suffix_slug}" + (f"-{n + 1}" if n else "")
            orgs.append((name, slug))
        return orgs

    def _contact_names(self, count: int) -> list[tuple[str, str]]:
        names = []
        for i in range(count):
            if self.rng.random() < 0.08:
                name, base = self.rng.choice(CJK_NAMES)
            else:
                first, first_slug = self.rng.choice(FIRST_NAMES)
                last, last_slug = self.rng.choice(LAST_NAMES)
                name, base = f"{first} {last}", f"{first_slug}-{last_slug}"
            names.append((name, f"{base}-{i + 1:05d}"))
        return names

    # --- orgs ------------------------------------------------------------------------

    def org_text(self, index: int) -> str:
        rng = self.rng
        name, slug = self.org_slugs[index]
        lines = ["---", f"name: {name}", f"website: https://www.{slug}.example.com",
                 f"industry: {rng.choice(INDUSTRIES)}", f"size: {rng.choice(SIZES)}",
                 f"market: {rng.choice(MARKETS)}"]
        # Parents always point at an earlier org, so there are no cycles.
        if index % 4 == 3:  # a quarter of the orgs belong to a group
            lines.append(f"parent: {self.org_slugs[rng.randrange(index)][1]}")
        lines.append(f"tags: [{', '.join(rng.sample(TAGS, 2))}]")
        lines.append(f"vat_id: DE{rng.randrange(10**8, 10**9)}")
        if rng.random() < 0.4:
            lines.extend(self._deals(rng.randrange(1, 3)))
        lines.append("---")
        people = ", ".join(f"@{s}" for s in rng.sample(self.contact_slugs, min(2, len(self.contact_slugs))))
        lines.append(f"{name} is a client group. Main contacts: {people}. #{rng.choice(TOPICS)}")
        lines.append("")
        for _ in range(3):
            lines.extend(self._section())
        return "\n".join(lines) + "\n"

    # --- contacts --------------------------------------------------------------------

    def contact_text(self, index: int) -> str:
        rng = self.rng
        name, slug = self.contact_names[index]
        tz, city = rng.choice(TIMEZONES)
        lines = ["---", f"name: {_quote(name)}"]
        if rng.random() < 0.2:
            lines.append(f"aka: [{_quote(name.split()[0])}]")
        lines.append("emails:")
        lines.append(f"  - {slug}@example.com")
        if rng.random() < 0.5:
            lines.append(f"  - {slug}.private@mail.example.org")
        lines.append(f'phones:\n  - "+49 30 {rng.randrange(1000000, 9999999)}"')
        lines.append(f"links:\n  linkedin: https://www.linkedin.com/in/{slug}")
        lines.append(f"org: {rng.choice(self.org_slugs)[1]}")
        lines.append(f"title: {rng.choice(TITLES)}")
        lines.append(f"role: {rng.choice(ROLES)}")
        lines.append(f"tags: [{', '.join(rng.sample(TAGS, rng.randrange(1, 4)))}]")
        lines.append(f"tier: {rng.choice(TIERS)}")
        lines.append(f"status: {rng.choice(STATUSES)}")
        lines.append(f"since: {_day(rng, 2018, 2026)}")
        lines.append(f"source: {rng.choice(SOURCES)}")
        if index > 0 and rng.random() < 0.3:
            lines.append(f"referred_by: {self.contact_slugs[rng.randrange(index)]}")
        lines.append(f"cadence: {rng.choice(CADENCES)}")
        if rng.random() < 0.3:
            lines.append(f"follow_up: {(TODAY + timedelta(days=rng.randrange(-30, 60))).isoformat()}")
        lines.append(f"preferred_channel: {rng.choice(CHANNELS)}")
        lines.append(f"newsletter: {rng.choice(NEWSLETTER)}")
        lines.append(f"timezone: {tz}")
        lines.append(f"location: {city}")
        lines.append(f"birthday: {_day(rng, 1950, 2000)}" if rng.random() < 0.8
                     else f"birthday: --{rng.randrange(1, 13):02d}-{rng.randrange(1, 29):02d}")
        lines.append(f"interests: [{', '.join(rng.sample(INTERESTS, 2))}]")
        lines.append(f"account_number: ACC-{index + 1:06d}")
        lines.append(f"shoe_size: {rng.randrange(36, 47)}")
        if rng.random() < 0.35:
            lines.extend(self._deals(rng.randrange(1, 4)))
        if rng.random() < 0.3:
            lines.extend(self._invoices(slug, rng.randrange(1, 5)))
        lines.append("---")
        lines.append(f"{rng.choice(TITLES)} at {rng.choice(self.org_slugs)[0]}. {rng.choice(SENTENCES)}")
        lines.append(f"Introduced by @{rng.choice(self.contact_slugs)}. {rng.choice(SENTENCES)}")
        lines.append("")
        for _ in range(self.n_sections):
            lines.extend(self._section())
        return "\n".join(lines) + "\n"

    def _deals(self, count: int) -> list[str]:
        rng = self.rng
        lines = ["deals:"]
        for i in range(count):
            stage = rng.choice(DEAL_STAGES)
            opened = _date(rng, 2021, 2026)
            lines += [f"  - title: {rng.choice(HEADLINES)} {i + 1}", f"    stage: {stage}",
                      f"    amount: {rng.randrange(20, 900) * 100}", f"    currency: {rng.choice(CURRENCIES)}",
                      f"    opened: {opened.isoformat()}"]
            if stage in ("won", "lost"):
                lines.append(f"    closed: {(opened + timedelta(days=rng.randrange(5, 200))).isoformat()}")
        return lines

    def _invoices(self, slug: str, count: int) -> list[str]:
        rng = self.rng
        lines = ["invoices:"]
        for i in range(count):
            issued = _date(rng, 2022, 2026)
            if issued > TODAY:
                issued = TODAY - timedelta(days=rng.randrange(1, 90))
            lines += [f"  - number: INV-{slug[-5:]}-{i + 1:02d}", f"    date: {issued.isoformat()}",
                      f"    amount: {rng.randrange(5, 300) * 100}", f"    currency: {rng.choice(CURRENCIES)}",
                      f"    due: {(issued + timedelta(days=30)).isoformat()}"]
            paid = issued + timedelta(days=rng.randrange(5, 70))
            if paid <= TODAY and rng.random() < 0.9:
                lines.append(f"    paid: {paid.isoformat()}")
        return lines

    def _section(self) -> list[str]:
        rng = self.rng
        # About 5% of sections are planned: dated after today.
        when = TODAY + timedelta(days=rng.randrange(1, 90)) if rng.random() < 0.05 else _date(rng, 2019, 2026)
        kind = rng.choice(KINDS)
        participants = "".join(f" @{rng.choice(self.contact_slugs)}" for _ in range(rng.randrange(0, 2)))
        heading = f"## {when.isoformat()} {kind}{participants}: {rng.choice(HEADLINES)}"
        body = []
        for _ in range(rng.randrange(2, 6)):
            sentence = rng.choice(SENTENCES)
            roll = rng.random()
            if roll < 0.25:
                sentence += f" Looped in @{rng.choice(self.contact_slugs)}."
            elif roll < 0.5:
                sentence += f" #{rng.choice(TOPICS)}"
            body.append(sentence)
        paragraph = " ".join(body)
        extra = ["", CODE_BLOCK] if rng.random() < 0.03 else []
        return [heading, "", *_wrap(paragraph, 78), *extra, ""]


def _quote(text: str) -> str:
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _date(rng: random.Random, first_year: int, last_year: int) -> date:
    start = date(first_year, 1, 1).toordinal()
    end = min(date(last_year, 12, 31), TODAY).toordinal()
    return date.fromordinal(rng.randrange(start, end + 1))


def _day(rng: random.Random, first_year: int, last_year: int) -> str:
    return _date(rng, first_year, last_year).isoformat()


def _wrap(text: str, width: int) -> list[str]:
    lines: list[str] = []
    current = ""
    for word in text.split(" "):
        if current and len(current) + 1 + len(word) > width:
            lines.append(current)
            current = word
        else:
            current = f"{current} {word}" if current else word
    if current:
        lines.append(current)
    return lines


CRM_YAML = """\
# Benchmark corpus (generated by benchmarks/generate.py; do not edit by hand).
title: Benchmark CRM
owner: Bench Marker
default_cadence: 3m
max_touches_per_week: 3
birthday_window_days: 30
"""


def generate(out: Path, contacts: int, sections: int, seed: int = 7) -> int:
    """Write the corpus under out (creating contacts/, orgs/, crm.yaml); returns bytes written."""
    corpus = Corpus(contacts, sections, seed)
    for folder in ("contacts", "orgs"):
        (out / folder).mkdir(parents=True, exist_ok=True)
        for stale in (out / folder).glob("*.md"):  # a smaller corpus replaces a bigger one
            stale.unlink()
    total = _write(out / "crm.yaml", CRM_YAML)
    for i, (_, slug) in enumerate(corpus.org_slugs):
        total += _write(out / "orgs" / f"{slug}.md", corpus.org_text(i))
    for i, slug in enumerate(corpus.contact_slugs):
        total += _write(out / "contacts" / f"{slug}.md", corpus.contact_text(i))
    return total


def _write(path: Path, text: str) -> int:
    data = text.encode("utf-8")
    path.write_bytes(data)
    return len(data)


def _is_generated(folder: Path) -> bool:
    config = folder / "crm.yaml"
    return config.is_file() and config.read_text(encoding="utf-8").startswith(CRM_YAML.splitlines()[0])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Write a deterministic benchmark CRM.")
    parser.add_argument("out", type=Path, help="folder to write contacts/, orgs/ and crm.yaml into")
    parser.add_argument("--contacts", type=int, default=1000, help="number of contacts (default 1000)")
    parser.add_argument("--sections", type=int, default=20, help="dated sections per contact (default 20)")
    parser.add_argument("--seed", type=int, default=7, help="random seed (default 7)")
    args = parser.parse_args(argv)
    if args.out.exists() and any(args.out.iterdir()) and not _is_generated(args.out):
        parser.error(f"{args.out} exists and is not a generated corpus; choose an empty folder")
    total = generate(args.out, args.contacts, args.sections, args.seed)
    print(f"wrote {args.contacts} contacts with {args.sections} sections each into {args.out} "
          f"({total / 1e6:.1f} MB)", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
