"""Proof that a faster parser changes nothing: parse, build and check whole corpora and
compare every value with a baseline.

    python benchmarks/parse_oracle.py save BASELINE.pkl [--corpus DIR]
    python benchmarks/parse_oracle.py compare BASELINE.pkl [--corpus DIR]
    python benchmarks/parse_oracle.py reference [--corpus DIR]

The inputs: the sample CRM (the repository's contacts/ and orgs/), tests/fixtures/bad-crm
and tests/fixtures/stats, 3,000 generated tricky files (tests/parse_reference_v0/tricky.py)
and, with --corpus, a generated benchmark corpus (e.g. 1,000 contacts). For each, the
parsed file of every file (site_builder.parse.parse_file), the model (build_contact /
build_org) and the problems of validate.validate, in order and sorted, are turned into
plain nested tuples that keep types and dict order (True is not 1, 1.50 is not 1.5).

`save` pickles them from the working tree's code; `compare` compares the working tree
with a saved pickle; `reference` compares the working tree with the frozen copy of the
code from before the speed work (tests/parse_reference_v0), no pickle needed.
"""

from __future__ import annotations

import argparse
import pickle
import sys
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(REPO), str(REPO / "tests")]

from parse_reference_v0.compare import run  # noqa: E402
from site_builder import fs  # noqa: E402
from site_builder.config import CONFIG_FILE  # noqa: E402


def corpora(extra: Path | None) -> dict[str, tuple[list[tuple[str, bytes]], bytes | None]]:
    from parse_reference_v0.tricky import tricky_files

    roots = {"sample": REPO, "bad-crm": REPO / "tests/fixtures/bad-crm", "stats": REPO / "tests/fixtures/stats"}
    if extra is not None:
        roots["corpus"] = extra
    out: dict[str, tuple[list[tuple[str, bytes]], bytes | None]] = {}
    for name, root in roots.items():
        files, _ = fs.discover(root)
        out[name] = ([(f.rel, fs.read_bytes(f)) for f in files], fs.read_optional(root / CONFIG_FILE, root))
    out["tricky"] = (tricky_files(3000), None)
    return out


def results(reference: bool, extra: Path | None) -> dict[str, dict[str, Any]]:
    if reference:
        from parse_reference_v0 import model, parse, validate
    else:
        from site_builder import model, parse, validate  # type: ignore[no-redef]
    out = {}
    for name, (files, config_bytes) in corpora(extra).items():
        start = time.process_time()
        out[name] = run(parse, model, validate, files, config_bytes)
        print(f"{name}: {len(files)} files, {time.process_time() - start:.2f} s CPU "
              f"({'reference' if reference else 'working tree'})", file=sys.stderr)
    return out


def differences(expected: dict[str, dict[str, Any]], actual: dict[str, dict[str, Any]]) -> list[str]:
    found = []
    for name, parts in expected.items():
        for part, want in parts.items():
            got = actual.get(name, {}).get(part)
            if got == want:
                continue
            if isinstance(want, list) and isinstance(got, list) and len(want) == len(got):
                for i, (w, g) in enumerate(zip(want, got)):
                    if w != g:
                        found.append(f"{name}/{part}[{i}]:\n  expected {w!r:.3000}\n  got      {g!r:.3000}")
                        break
            else:
                found.append(f"{name}/{part}: differs\n  expected {want!r:.2000}\n  got      {got!r:.2000}")
    return found


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("mode", choices=("save", "compare", "reference"))
    ap.add_argument("baseline", nargs="?", type=Path)
    ap.add_argument("--corpus", type=Path, help="a generated CRM folder to include (benchmarks/generate.py)")
    args = ap.parse_args()
    if args.mode == "save":
        args.baseline.write_bytes(pickle.dumps(results(False, args.corpus), protocol=5))
        return 0
    expected = (pickle.loads(args.baseline.read_bytes()) if args.mode == "compare"
                else results(True, args.corpus))
    found = differences(expected, results(False, args.corpus))
    for line in found:
        print(line)
    print("identical" if not found else f"{len(found)} differences")
    return 1 if found else 0


if __name__ == "__main__":
    sys.exit(main())
