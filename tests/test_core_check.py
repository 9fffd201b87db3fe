"""`crm check` on every kind of bad input: each problem at its file, line and code."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from site_builder import api
from site_builder.parse import MAX_FILE_BYTES

REPO = Path(__file__).resolve().parent.parent

BAD = REPO / "tests" / "fixtures" / "bad-crm"

# (path, line, severity, code) for every problem in tests/fixtures/bad-crm
EXPECTED = {
    ("contacts/Bad_Slug.md", None, "warning", "slug-format"),
    ("contacts/alias-bomb.md", 2, "error", "yaml-alias-bomb"),
    ("contacts/bad-values.md", 5, "error", "invalid-email"),
    ("contacts/bad-values.md", 6, "error", "invalid-date"),
    ("contacts/bad-values.md", 7, "error", "invalid-tier"),
    ("contacts/bad-values.md", 8, "error", "invalid-status"),
    ("contacts/bad-values.md", 9, "error", "invalid-role"),
    ("contacts/bad-values.md", 10, "error", "invalid-cadence"),
    ("contacts/bad-values.md", 11, "error", "invalid-preferred-channel"),
    ("contacts/bad-values.md", 12, "error", "invalid-newsletter"),
    ("contacts/bad-values.md", 13, "error", "invalid-date"),
    ("contacts/bad-values.md", 14, "warning", "unknown-key"),
    ("contacts/bad-values.md", 15, "error", "unknown-org"),
    ("contacts/bad-values.md", 16, "error", "unknown-contact"),
    ("contacts/bad-values.md", 19, "error", "invalid-stage"),
    ("contacts/bad-values.md", 20, "error", "invalid-amount"),
    ("contacts/bad-values.md", 23, "error", "unknown-mention"),
    ("contacts/bad-values.md", 25, "error", "invalid-heading-date"),
    ("contacts/bad-values.md", 27, "error", "invalid-heading-date"),
    ("contacts/bad-values.md", 29, "error", "unknown-mention"),
    ("contacts/binary.md", None, "error", "binary-file"),
    ("contacts/dupe-keys.md", 4, "error", "duplicate-key"),
    ("contacts/empty.md", None, "error", "empty-file"),
    ("contacts/good.md", 3, "warning", "duplicate-email"),
    ("contacts/invalid-utf8.md", 4, "error", "invalid-utf8"),
    ("contacts/nameless.md", 2, "error", "missing-name"),
    ("contacts/not-closed.md", 1, "error", "front-matter-not-closed"),
    ("contacts/not-mapping.md", 2, "error", "front-matter-not-mapping"),
    ("contacts/yaml-syntax.md", 4, "error", "yaml-syntax"),
}


@pytest.fixture
def bad(tmp_path: Path) -> Path:
    """A copy of the fixture: check writes its cache into the root, never into the repository."""
    copy = tmp_path / "bad"
    shutil.copytree(BAD, copy, ignore=shutil.ignore_patterns(".crm-cache"))
    return copy


def _user_files(root: Path) -> dict[Path, bytes]:
    return {p: p.read_bytes() for p in root.rglob("*") if p.is_file() and ".crm-cache" not in p.parts}


def test_every_bad_input_is_reported_at_its_file_line_and_code(bad: Path) -> None:
    result = api.check(bad)
    found = {(p.path, p.line, p.severity, p.code) for p in result.problems}
    assert found == EXPECTED


def test_good_files_still_load_beside_bad_ones(bad: Path) -> None:
    crm = api.check(bad).crm
    assert crm.contacts["good"].name == "Good Person"
    assert crm.contacts["bom-crlf"].name == "Windows User"
    assert crm.orgs["acme"].name == "Acme"
    # files that could not be read at all are left out, not half-loaded
    assert "binary" not in crm.contacts and "alias-bomb" not in crm.contacts


def test_cli_text_output_is_sorted_lines_and_exit_1(cli, bad: Path) -> None:  # type: ignore[no-untyped-def]
    result = cli("check", "--root", str(bad))
    assert result.exit_code == 1
    lines = result.stdout.strip().splitlines()
    assert len(lines) == len(EXPECTED)
    assert "Traceback" not in result.output
    assert "contacts/bad-values.md:6: error: 'birthday': '1985-02-30' is not a valid date" in result.stdout
    assert lines[0].startswith("contacts/Bad_Slug.md: warning:")
    keys = [(line.split(":")[0], int(line.split(":")[1]) if line.split(":")[1].isdigit() else 0) for line in lines]
    assert keys == sorted(keys)
    assert all(line.endswith("]") for line in lines)


def test_cli_json_output(cli, bad: Path) -> None:  # type: ignore[no-untyped-def]
    result = cli("check", "--root", str(bad), "--format", "json")
    assert result.exit_code == 1
    data = json.loads(result.stdout)
    assert {(d["path"], d["line"], d["severity"], d["code"]) for d in data} == EXPECTED
    assert set(data[0]) == {"path", "line", "severity", "code", "message"}


def test_warnings_only_exit_0_unless_strict(make_crm, cli) -> None:  # type: ignore[no-untyped-def]
    root = make_crm({"contacts/ada.md": "---\nname: Ada\nemials: [a@example.com]\n---\n"})
    assert cli("check", "--root", str(root)).exit_code == 0
    assert cli("check", "--root", str(root), "--strict").exit_code == 1


def test_clean_crm_exits_0_with_no_problem_lines(make_crm, cli) -> None:  # type: ignore[no-untyped-def]
    root = make_crm({"contacts/ada.md": "---\nname: Ada\n---\n"})
    result = cli("check", "--root", str(root))
    assert result.exit_code == 0
    assert result.stdout == ""
    assert "1 contacts, 0 orgs: 0 errors, 0 warnings" in result.stderr


def test_not_a_crm_is_a_usage_error(tmp_path: Path, cli) -> None:  # type: ignore[no-untyped-def]
    result = cli("check", "--root", str(tmp_path))
    assert result.exit_code == 2
    assert "holds no CRM" in result.stderr


def test_bad_option_is_a_usage_error(cli) -> None:  # type: ignore[no-untyped-def]
    assert cli("check", "--format", "xml").exit_code == 2


def test_oversized_file_is_a_problem_not_a_hang(make_crm) -> None:  # type: ignore[no-untyped-def]
    big = b"---\nname: Big\n---\n" + b"lorem ipsum dolor sit amet\n" * (5 * 1024 * 1024 // 27 + 1)
    assert len(big) > MAX_FILE_BYTES
    root = make_crm({"contacts/big.md": big, "contacts/ok.md": "---\nname: Ok\n---\n"})
    result = api.check(root)
    assert [(p.path, p.code) for p in result.errors] == [("contacts/big.md", "file-too-large")]
    assert "ok" in result.crm.contacts


def test_symlink_out_of_the_root_is_not_followed(make_crm, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    secret = tmp_path / "secret.md"
    secret.write_text("---\nname: Outside Secret\n---\n", encoding="utf-8")
    root = make_crm({"contacts/ada.md": "---\nname: Ada\n---\n"})
    (root / "contacts" / "leak.md").symlink_to(secret)
    (root / "contacts" / "alias.md").symlink_to(root / "contacts" / "ada.md")
    result = api.check(root)
    assert "leak" not in result.crm.contacts
    assert "alias" in result.crm.contacts  # a link inside the root is fine
    assert ("contacts/leak.md", "symlink-outside-root") in {(p.path, p.code) for p in result.problems}


def test_symlinked_folder_out_of_the_root_is_not_followed(tmp_path: Path) -> None:
    outside = tmp_path / "elsewhere"
    (outside).mkdir()
    (outside / "x.md").write_text("---\nname: X\n---\n", encoding="utf-8")
    root = tmp_path / "crm"
    (root / "orgs").mkdir(parents=True)
    (root / "contacts").symlink_to(outside, target_is_directory=True)
    result = api.check(root)
    assert result.crm.contacts == {}
    assert any(p.code == "symlink-outside-root" for p in result.problems)


def test_check_reads_crm_yaml_problems(make_crm) -> None:  # type: ignore[no-untyped-def]
    root = make_crm({
        "crm.yaml": "title: Mine\ndefault_cadence: sometimes\ncolour: blue\n",
        "contacts/ada.md": "---\nname: Ada\n---\n",
    })
    found = {(p.path, p.line, p.code) for p in api.check(root).problems}
    assert found == {("crm.yaml", 2, "invalid-cadence"), ("crm.yaml", 3, "unknown-config-key")}


def test_check_leaves_the_users_files_untouched(bad: Path) -> None:
    before = _user_files(bad)
    api.check(bad)
    api.check(bad)  # a second run answers from the cache
    assert before == _user_files(bad)


def test_cached_check_gives_the_same_problems(bad: Path) -> None:
    first = [(p.path, p.line, p.code) for p in api.check(bad).problems]
    second = [(p.path, p.line, p.code) for p in api.check(bad).problems]
    assert first == second == sorted(first, key=lambda x: (x[0], x[1] or 0, x[2]))
