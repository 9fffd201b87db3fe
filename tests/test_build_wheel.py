"""A real wheel install: the built-in theme ships inside the package, so `crm build`
works from a folder that has no templates/ of its own."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import venv
from pathlib import Path

import pytest

from conftest import REPO, SAMPLE_ROOT, TODAY_ARG

SOURCE_FILES = ("pyproject.toml", "README.md", "LICENSE")
SOURCE_DIRS = ("site_builder", "templates")


def copy_source(dest: Path) -> Path:
    """The package source without caches, so the build never writes into the repository."""
    dest.mkdir()
    for name in SOURCE_FILES:
        if (REPO / name).is_file():
            shutil.copy2(REPO / name, dest / name)
    for name in SOURCE_DIRS:
        shutil.copytree(REPO / name, dest / name, ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
    return dest


def run(args: list[str], cwd: Path, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(args, cwd=cwd, env=env, capture_output=True, text=True, timeout=300)


def test_wheel_install_builds_the_sample_without_a_templates_folder(tmp_path: Path) -> None:
    source = copy_source(tmp_path / "src")
    wheels = tmp_path / "wheels"
    built = run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q",
                 str(source), "-w", str(wheels)], cwd=tmp_path)
    assert built.returncode == 0, built.stderr
    wheel = next(wheels.glob("*.whl"))

    env_dir = tmp_path / "venv"
    venv.EnvBuilder(system_site_packages=True, with_pip=False).create(env_dir)
    python = env_dir / "bin" / "python"
    installed = run([str(python), "-m", "pip", "install", "--no-deps", "--no-index", "-q", str(wheel)], cwd=tmp_path)
    assert installed.returncode == 0, installed.stderr

    crm = tmp_path / "my-crm"
    crm.mkdir()
    for name in ("contacts", "orgs"):
        shutil.copytree(SAMPLE_ROOT / name, crm / name)
    shutil.copy2(SAMPLE_ROOT / "crm.yaml", crm / "crm.yaml")
    assert not (crm / "templates").exists()

    # Run from the CRM folder, with the repository off sys.path: the installed package is used.
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "CRM_TODAY")}
    where = run([str(python), "-c", "import site_builder; print(site_builder.__file__)"], cwd=crm, env=env)
    assert str(env_dir) in where.stdout, where.stdout + where.stderr
    result = run([str(env_dir / "bin" / "crm"), "build", "--today", TODAY_ARG], cwd=crm, env=env)
    assert result.returncode == 0, result.stdout + result.stderr
    out = crm / "output"
    for page in ("index.html", "due.html", "dashboard.html", "contacts/zoe-muller.html",
                 "orgs/nordlicht-group.html", "style.css", "app.js", "search-data.js"):
        assert (out / page).is_file(), page
    assert "Zoë Müller" in (out / "index.html").read_text(encoding="utf-8")
