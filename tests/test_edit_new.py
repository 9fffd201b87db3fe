"""crm new and crm init: exact file text, unique slugs, and the result passes crm check."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import click
import pytest

from site_builder import api
from site_builder.fmt import format_file
from site_builder.parse import parse_file
from site_builder.scaffold import NewContact, NewOrg, create_contact, create_org, init_crm

from conftest import TODAY, TODAY_ARG


def test_new_contact_exact_text_and_passes_check(make_crm, cli) -> None:  # type: ignore[no-untyped-def]
    root = make_crm({"orgs/acme-robotics.md": "---\nname: Acme Robotics\n---\n"})
    result = cli("new", "Zoë Müller", "--org", "acme-robotics", "--email", "zoe@example.com",
                 "--phone", "+4940555", "--phone", "0151 2345", "--tag", "client", "--tag", "a: b",
                 "--tier", "a", "--status", "lead", "--root", str(root), "--today", TODAY_ARG)
    assert result.exit_code == 0, result.output
    assert result.stdout.strip() == "contacts/zoe-muller.md"
    assert (root / "contacts/zoe-muller.md").read_text(encoding="utf-8") == (
        "---\n"
        "name: Zoë Müller\n"
        "emails:\n"
        "  - zoe@example.com\n"
        "phones:\n"
        "  - '+4940555'\n"
        "  - 0151 2345\n"
        "org: acme-robotics\n"
        "tags: [client, 'a: b']\n"
        "tier: A\n"
        "status: lead\n"
        "since: 2026-11-22\n"
        "---\n"
    )
    checked = api.check(root)
    assert checked.problems == []
    contact = checked.crm.contacts["zoe-muller"]
    assert contact.phones == ["+4940555", "0151 2345"] and contact.tags == ["client", "a: b"]


def test_new_contact_slug_is_transliterated_and_unique(make_crm, cli) -> None:  # type: ignore[no-untyped-def]
    root = make_crm({"orgs/zhang-wei.md": "---\nname: Zhang Wei Ltd\n---\n"})
    outputs = [cli("new", name, "--root", str(root), "--today", TODAY_ARG).stdout.strip()
               for name in ("张伟", "Zoë Müller", "Zoe Muller", "O'Brien")]
    assert outputs == ["contacts/zhang-wei-2.md", "contacts/zoe-muller.md", "contacts/zoe-muller-2.md",
                       "contacts/obrien.md"]
    assert api.check(root).errors == []


def test_new_org_with_org_option_and_no_name(make_crm, cli) -> None:  # type: ignore[no-untyped-def]
    root = make_crm({})
    result = cli("new", "--org", "Acme Robotics", "--website", "https://acme.example", "--root", str(root))
    assert result.exit_code == 0
    assert (root / "orgs/acme-robotics.md").read_text(encoding="utf-8") == (
        "---\nname: Acme Robotics\nwebsite: https://acme.example\n---\n"
    )
    # a contact may now name the org by its name or its slug
    result = cli("new", "Ada", "--org", "Acme Robotics", "--root", str(root), "--today", TODAY_ARG)
    assert result.exit_code == 0 and "warning" not in result.stderr
    assert "org: acme-robotics\n" in (root / "contacts/ada.md").read_text(encoding="utf-8")
    assert api.check(root).problems == []


def test_new_contact_with_missing_org_warns_but_writes(make_crm, cli) -> None:  # type: ignore[no-untyped-def]
    root = make_crm({})
    result = cli("new", "Ada", "--org", "Nowhere Inc", "--root", str(root), "--today", TODAY_ARG)
    assert result.exit_code == 0
    assert "contacts/ada.md:3: warning: no org 'nowhere-inc' yet" in result.stderr
    assert 'crm new --org "Nowhere Inc"' in result.stderr


def test_new_files_are_already_formatted(tmp_path: Path) -> None:
    root = tmp_path
    (root / "contacts").mkdir()
    made = create_contact(root, NewContact(name="Ada", emails=["a@example.com"], tags=["x"], since=TODAY,
                                           summary="Met at a conference."))
    org = create_org(root, NewOrg(name="Analytical Engines", tags=["y"], summary="A client."))
    for result in (made, org):
        assert result.path is not None
        formatted = format_file(result.path, (root / result.path).read_bytes())
        assert formatted.text is not None and not formatted.changed


def test_new_refuses_a_contacts_folder_leading_outside(tmp_path: Path) -> None:
    outside = tmp_path / "outside"
    outside.mkdir()
    root = tmp_path / "crm"
    root.mkdir()
    (root / "contacts").symlink_to(outside, target_is_directory=True)
    result = create_contact(root, NewContact(name="Ada"))
    assert result.path is None and result.problems[0].code == "outside-root"
    assert list(outside.iterdir()) == []


def test_new_without_name_or_org_is_a_usage_error(make_crm, cli) -> None:  # type: ignore[no-untyped-def]
    root = make_crm({})
    result = cli("new", "--root", str(root))
    assert result.exit_code == 2


def test_init_creates_a_crm_that_passes_check(tmp_path: Path, cli) -> None:  # type: ignore[no-untyped-def]
    target = tmp_path / "my-crm"
    result = cli("init", str(target), "--today", TODAY_ARG, "--title", "Ada's CRM: clients")
    assert result.exit_code == 0, result.output
    for rel in ("contacts", "orgs", "crm.yaml", ".gitignore", ".pre-commit-config.yaml", "contacts/ada-lovelace.md"):
        assert (target / rel).exists(), rel
    assert (target / ".gitignore").read_text() == "output/\n.crm-cache/\n"
    checked = api.check(target)
    assert checked.problems == []
    assert checked.crm.config.title == "Ada's CRM: clients"
    assert format_file("contacts/ada-lovelace.md", (target / "contacts/ada-lovelace.md").read_bytes()).changed is False
    if shutil.which("git"):
        assert (target / ".git").is_dir()
        log = subprocess.run(["git", "-C", str(target), "rev-list", "--all"], capture_output=True, text=True)
        assert log.stdout == ""  # nothing committed


def test_init_refuses_an_existing_crm_and_changes_nothing(tmp_path: Path, cli) -> None:  # type: ignore[no-untyped-def]
    (tmp_path / "crm.yaml").write_text("title: Mine\n")
    result = cli("init", str(tmp_path), "--today", TODAY_ARG)
    assert result.exit_code == 1 and "already holds a CRM" in result.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == ["crm.yaml"]


def test_init_adds_missing_lines_to_an_existing_gitignore(tmp_path: Path) -> None:
    (tmp_path / ".gitignore").write_text("*.pyc\noutput\n")
    result = init_crm(tmp_path, TODAY, use_git=False)
    assert result.updated == [".gitignore"] and not result.problems
    assert (tmp_path / ".gitignore").read_text() == "*.pyc\noutput\n.crm-cache/\n"
    assert not (tmp_path / ".git").exists()


@pytest.mark.skipif(shutil.which("git") is None, reason="needs git")
def test_init_inside_a_git_repository_does_not_nest_one(tmp_path: Path) -> None:
    subprocess.run(["git", "init", "-q", str(tmp_path)], check=True)
    result = init_crm(tmp_path / "crm", TODAY)
    assert "already inside a git repository" in result.git
    assert not (tmp_path / "crm" / ".git").exists()


def test_pre_commit_hooks_run_real_commands() -> None:
    import re

    import yaml

    from site_builder.cli import main

    hooks = yaml.safe_load((Path(__file__).resolve().parent.parent / ".pre-commit-hooks.yaml").read_text())
    by_id = {hook["id"]: hook for hook in hooks}
    assert set(by_id) == {"crm-check", "crm-fmt"}
    for hook in hooks:
        program, command = hook["entry"].split()
        assert program == "crm" and main.get_command(click.Context(main), command) is not None
        assert hook["language"] == "python"
    assert by_id["crm-fmt"]["pass_filenames"] is True and by_id["crm-check"]["pass_filenames"] is False
    pattern = re.compile(by_id["crm-fmt"]["files"])
    assert pattern.search("contacts/ada.md") and pattern.search("orgs/acme.md")
    assert not pattern.search("output/contacts/ada.md") and not pattern.search("README.md")


def test_new_contact_quotes_a_colon_in_a_one_line_list(tmp_path: Path) -> None:
    """ruamel.yaml leaves "A:?" plain in `tags: [...]`, which PyYAML cannot read: `crm new`
    refused such a tag as a YAML error in the file it was about to write."""
    (tmp_path / "contacts").mkdir()
    made = create_contact(tmp_path, NewContact(name="Quinn", tags=["A:?", "b:c", "x"], since=TODAY))
    assert made.path is not None and made.problems == []
    text = (tmp_path / made.path).read_text(encoding="utf-8")
    assert "tags: ['A:?', 'b:c', x]" in text
    assert parse_file(made.path, text.encode("utf-8")).meta["tags"] == ["A:?", "b:c", "x"]
    formatted = format_file(made.path, text.encode("utf-8"))
    assert formatted.text is not None and not formatted.changed
