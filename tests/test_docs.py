"""The documentation stays true: every command is documented, CI runs the README's command."""

from __future__ import annotations

import os
import re
from pathlib import Path

import click
import pytest

from site_builder.cli import main

REPO = Path(__file__).resolve().parent.parent
COMMANDS_DOC = REPO / "docs" / "commands.md"


def _all_commands(group: click.Group, prefix: str = "crm") -> list[tuple[str, click.Command]]:
    found: list[tuple[str, click.Command]] = []
    context = click.Context(group)
    for name in group.list_commands(context):  # as `crm --help` lists them (imported on demand)
        command = group.get_command(context, name)
        assert command is not None, name
        full = f"{prefix} {name}"
        found.append((full, command))
        if isinstance(command, click.Group):
            found.extend(_all_commands(command, full))
    return found


COMMANDS = _all_commands(main)


def _fenced_sh_blocks(markdown: str) -> list[str]:
    return [b.strip() for b in re.findall(r"```sh\n(.*?)```", markdown, flags=re.S)]


def test_ci_runs_exactly_the_readme_test_command() -> None:
    readme_blocks = _fenced_sh_blocks((REPO / "README.md").read_text(encoding="utf-8"))
    test_command = next(b for b in readme_blocks if "pytest" in b)
    ci = (REPO / ".ci" / "run").read_text(encoding="utf-8")
    assert test_command in ci.splitlines()


def test_readme_has_the_build_command() -> None:
    readme_blocks = _fenced_sh_blocks((REPO / "README.md").read_text(encoding="utf-8"))
    assert any("crm build" in b and "pip install" in b for b in readme_blocks)


@pytest.mark.parametrize("name, command", COMMANDS, ids=[n for n, _ in COMMANDS])
def test_every_command_has_help(name: str, command: click.Command) -> None:
    assert command.help and len(command.help.strip()) > 20, f"{name} needs a --help text"
    for param in command.params:
        if isinstance(param, click.Option) and not param.hidden:
            assert param.help, f"{name} {param.opts[0]} needs a help text"


@pytest.mark.parametrize("name, command", COMMANDS, ids=[n for n, _ in COMMANDS])
def test_every_command_is_in_docs_commands(name: str, command: click.Command) -> None:
    doc = COMMANDS_DOC.read_text(encoding="utf-8")
    assert re.search(rf"^#+ `?{re.escape(name)}\b", doc, flags=re.M), f"docs/commands.md has no heading for {name}"


def test_help_runs_for_every_command(cli) -> None:  # type: ignore[no-untyped-def]
    for name, _ in COMMANDS:
        result = cli(*name.split()[1:], "--help")
        assert result.exit_code == 0, name
        assert "Usage:" in result.output


def test_docs_links_resolve() -> None:
    for doc in [REPO / "README.md", *sorted((REPO / "docs").glob("*.md"))]:
        for target in re.findall(r"\]\(([^)#\s]+)(?:#[^)]*)?\)", doc.read_text(encoding="utf-8")):
            if "://" in target or target.startswith("mailto:"):
                continue
            assert (doc.parent / target).exists(), f"{doc.relative_to(REPO)} links to missing {target}"


# --- the help of every command, kept verbatim in docs/commands.md --------------------

BEGIN, END = "<!-- BEGIN generated help: UPDATE_DOCS=1 pytest tests/test_docs.py -->", "<!-- END generated help -->"


def _generated_help() -> str:
    parts = []
    for name, command in COMMANDS:
        with click.Context(command, info_name=name, terminal_width=88, max_content_width=88) as ctx:
            text = command.get_help(ctx)
        parts.append(f"### {name}\n\n```text\n{text.rstrip()}\n```\n")
    return "\n".join(parts)


def test_commands_doc_has_the_current_help_of_every_command() -> None:
    doc = COMMANDS_DOC.read_text(encoding="utf-8")
    head, sep, rest = doc.partition(BEGIN)
    if not sep:
        head, rest = doc.rstrip() + "\n\n## Every command's --help\n\n", END
    tail = rest.partition(END)[2]
    current = f"{head}{BEGIN}\n\n{_generated_help()}\n{END}{tail}"
    if os.environ.get("UPDATE_DOCS"):
        COMMANDS_DOC.write_text(current, encoding="utf-8")
    assert doc == current, "docs/commands.md is out of date: run UPDATE_DOCS=1 pytest tests/test_docs.py"
