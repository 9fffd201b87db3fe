"""Compiled templates kept between processes (render.MemoryBytecodeCache over
render.disk_bytecode_cache): a second process compiles nothing, a changed template is
compiled again, and only a private folder of this user's is used."""

from __future__ import annotations

import os
import subprocess
import sys
from datetime import date
from pathlib import Path

import pytest

from site_builder import render
from site_builder.build import build_site

REPO = Path(__file__).resolve().parent.parent

# Compiles the theme of the CRM in argv[1] in a fresh process and prints how many
# templates Jinja compiled there.
_COMPILE = """
import sys
from pathlib import Path
import jinja2
from site_builder import render
compiled = []
real = jinja2.Environment.compile
def compile(self, *args, **kwargs):
    compiled.append(1)
    return real(self, *args, **kwargs)
jinja2.Environment.compile = compile
render.compile_theme(Path(sys.argv[1]))
print(len(compiled))
"""


def compiled_in_a_new_process(root: Path, folder: Path | str) -> int:
    env = {**os.environ, render.TEMPLATE_CACHE_ENV: str(folder)}
    done = subprocess.run([sys.executable, "-c", _COMPILE, str(root)], capture_output=True, text=True,
                          env=env, cwd=REPO, timeout=120, check=True)
    return int(done.stdout)


@pytest.fixture
def crm(tmp_path: Path) -> Path:
    root = tmp_path / "crm"
    (root / "contacts").mkdir(parents=True)
    (root / "orgs").mkdir()
    (root / "contacts" / "ada.md").write_text("---\nname: Ada Lovelace\n---\n", encoding="utf-8")
    return root


def test_a_second_process_compiles_no_template(crm: Path, tmp_path: Path) -> None:
    folder = tmp_path / "compiled"
    first = compiled_in_a_new_process(crm, folder)
    assert first >= 10  # every template of the theme
    assert compiled_in_a_new_process(crm, folder) == 0
    assert compiled_in_a_new_process(crm, "off") == first  # turned off: compiled again


def test_a_changed_template_is_compiled_again_and_shows(crm: Path, tmp_path: Path,
                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    folder = tmp_path / "compiled"
    monkeypatch.setenv(render.TEMPLATE_CACHE_ENV, str(folder))
    (crm / "templates").mkdir()
    override = crm / "templates" / "contact.html"
    override.write_text('{% extends "base.html" %}{% block main %}<p id="mine">first</p>{% endblock %}\n',
                        encoding="utf-8")
    assert compiled_in_a_new_process(crm, folder) >= 10
    override.write_text('{% extends "base.html" %}{% block main %}<p id="mine">second</p>{% endblock %}\n',
                        encoding="utf-8")
    assert compiled_in_a_new_process(crm, folder) == 1  # the changed one only
    build_site(crm, tmp_path / "site", date(2026, 11, 22), cache=False)
    assert '<p id="mine">second</p>' in (tmp_path / "site" / "contacts" / "ada.html").read_text(encoding="utf-8")


def test_a_damaged_file_is_compiled_again(crm: Path, tmp_path: Path) -> None:
    folder = tmp_path / "compiled"
    compiled_in_a_new_process(crm, folder)
    files = sorted(folder.glob("crm-*.cache"))
    assert files
    for path in files:
        path.write_bytes(path.read_bytes()[:40] + b"\x00garbage")
    assert compiled_in_a_new_process(crm, folder) == len(files)
    assert compiled_in_a_new_process(crm, folder) == 0  # written over


@pytest.mark.skipif(not hasattr(os, "getuid"), reason="POSIX owners and modes")
def test_only_a_private_folder_of_this_user_is_used(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    folder = tmp_path / "compiled"
    monkeypatch.setenv(render.TEMPLATE_CACHE_ENV, str(folder))
    assert render.template_cache_dir() == folder
    assert folder.stat().st_mode & 0o777 == 0o700
    folder.chmod(0o770)  # others of the group may write compiled code here: not used
    assert render.template_cache_dir() is None
    folder.chmod(0o700)
    link = tmp_path / "link"
    link.symlink_to(folder)
    monkeypatch.setenv(render.TEMPLATE_CACHE_ENV, str(link))
    assert render.template_cache_dir() is None
    monkeypatch.setenv(render.TEMPLATE_CACHE_ENV, "off")
    assert render.template_cache_dir() is None and render.disk_bytecode_cache() is None
    monkeypatch.delenv(render.TEMPLATE_CACHE_ENV)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert render.template_cache_dir() == tmp_path / "xdg" / "plaintext-crm" / "templates"


def test_files_of_another_version_are_removed(crm: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    folder = tmp_path / "compiled"
    folder.mkdir(mode=0o700)
    stale = folder / "crm-0000000000000000-abc.cache"
    stale.write_bytes(b"old")
    other = folder / "notes.txt"  # not ours: left alone
    other.write_text("kept", encoding="utf-8")
    monkeypatch.setenv(render.TEMPLATE_CACHE_ENV, str(folder))
    assert render.disk_bytecode_cache() is not None
    assert not stale.exists() and other.exists()
