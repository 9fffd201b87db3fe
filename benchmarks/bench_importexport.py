"""Import/export timings on the deterministic corpus (benchmarks/generate.py).

    python benchmarks/bench_importexport.py [--contacts 10000] [--sections 5]

Generates the corpus in a temporary folder, then times each export over the whole CRM,
an import of the exported vCard file (names numbered so each card is a new person)
into an empty CRM (every card creates a file) and
the same import again (every card matches and nothing is written). Prints one line per
step; figures go in docs/import-export.md.
"""

from __future__ import annotations

import argparse
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))

from site_builder.exports.csvfile import export_csv  # noqa: E402
from site_builder.exports.ics import build_calendar  # noqa: E402
from site_builder.exports.jsonfile import export_json  # noqa: E402
from site_builder.exports.vcard import export_vcards  # noqa: E402
from site_builder.imports.run import import_vcards  # noqa: E402
from site_builder.loader import load_crm  # noqa: E402

TODAY_ISO = "2026-11-22"


def timed(label: str, func):  # type: ignore[no-untyped-def]
    start = time.perf_counter()
    result = func()
    print(f"{label:<46} {time.perf_counter() - start:7.2f} s", flush=True)
    return result


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--contacts", type=int, default=10000)
    parser.add_argument("--sections", type=int, default=5)
    args = parser.parse_args()
    from datetime import date

    today = date.fromisoformat(TODAY_ISO)
    with tempfile.TemporaryDirectory() as tmp:
        corpus = Path(tmp) / "corpus"
        subprocess.run([sys.executable, str(HERE / "generate.py"), str(corpus), "--contacts", str(args.contacts),
                        "--sections", str(args.sections)], check=True, stdout=subprocess.DEVNULL)
        crm = timed(f"load {args.contacts} contacts (no cache)", lambda: load_crm(corpus, cache=False))
        vcf = timed("export vcard 3.0", lambda: export_vcards(crm, "3.0"))
        timed("export csv google", lambda: export_csv(crm, "google"))
        timed("export csv mailchimp", lambda: export_csv(crm, "mailchimp"))
        timed("export ics", lambda: build_calendar(crm, None, today))
        timed("export json with stats", lambda: export_json(crm, today))
        print(f"vCard file: {len(vcf.encode()) / 1048576:.1f} MB", flush=True)
        # The corpus reuses 600 name combinations; number the names so that every card is
        # a different person (same name, different email is skipped as "check by hand").
        counter = iter(range(1, 1_000_000))
        unique = re.sub(r"^FN:(.*)\r$", lambda m: f"FN:{m.group(1)} {next(counter)}\r", vcf, flags=re.M)
        cards = Path(tmp) / "all.vcf"
        cards.write_text(unique, encoding="utf-8")
        target = Path(tmp) / "empty"
        (target / "contacts").mkdir(parents=True)
        first = timed("import vcard into an empty CRM (all created)", lambda: import_vcards(target, [cards]))
        print(f"  created {first.plan.count('created')}, orgs {first.plan.count('created', 'orgs/')}", flush=True)
        again = timed("import the same file again (all matched)", lambda: import_vcards(target, [cards]))
        print(f"  skipped {again.plan.count('skipped')}, written {len(again.written)}", flush=True)


if __name__ == "__main__":
    main()
