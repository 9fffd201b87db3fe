"""History from a real temporary git repository with fixed dates."""

from __future__ import annotations

import os
import shutil
import subprocess
from datetime import date
from pathlib import Path

import pytest

from site_builder.history import read_history

pytestmark = pytest.mark.skipif(shutil.which("git") is None, reason="needs git")

ZOE = """\
---
name: Zoë Müller
emails: [zoe@example.com]
status: {status}
tier: A
cadence: 2w
---
Head of data at Nordlicht. Long enough that git sees a rename as a rename,
not as one file deleted and another added: it needs most lines to match.

## 2026-01-05 call: Intro

status: customer

(The line above is in the notes, not the front matter: it does not count.)
"""


class Repo:
    """A real git repository; commits get fixed author and committer dates."""

    def __init__(self, top: Path, crm: str = "") -> None:
        self.top = top
        self.root = top / crm if crm else top
        self.root.mkdir(parents=True, exist_ok=True)
        self.git("init", "-q")

    def git(self, *args: str, when: str = "2026-01-01T12:00:00+00:00", author: str = "Sam Rivera") -> str:
        env = {**os.environ, "GIT_AUTHOR_NAME": author, "GIT_AUTHOR_EMAIL": "sam@example.com",
               "GIT_COMMITTER_NAME": author, "GIT_COMMITTER_EMAIL": "sam@example.com",
               "GIT_AUTHOR_DATE": when, "GIT_COMMITTER_DATE": when, "GIT_CONFIG_GLOBAL": "/dev/null",
               "GIT_CONFIG_NOSYSTEM": "1"}
        done = subprocess.run(["git", "-C", str(self.top), *args], env=env, capture_output=True, text=True, check=True)
        return done.stdout

    def write(self, rel: str, text: str) -> None:
        path = self.root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")

    def commit(self, subject: str, when: str, author: str = "Sam Rivera") -> None:
        self.git("add", "-A")
        self.git("commit", "-q", "-m", subject, when=when, author=author)


def _zoe(status: str) -> str:
    return ZOE.replace("{status}", status)


@pytest.fixture
def repo(tmp_path: Path) -> Repo:
    repo = Repo(tmp_path / "repo", crm="crm")  # the CRM is a subfolder of a bigger repository
    repo.write("contacts/zoe.md", _zoe("lead"))
    repo.write("orgs/nordlicht.md", "---\nname: Nordlicht\n---\n")
    (repo.top / "README.txt").write_text("not part of the CRM\n")
    repo.commit("Add Zoë and Nordlicht", "2026-01-10T09:00:00+01:00")
    repo.write("contacts/zoe.md", _zoe("opportunity"))
    repo.commit("Zoë: proposal", "2026-02-01T18:30:00-05:00", author="Ann Other")
    (repo.top / "README.txt").write_text("changed outside the CRM\n")
    repo.commit("Outside only", "2026-02-15T10:00:00+00:00")
    repo.write("contacts/zoe.md", _zoe("customer"))
    repo.commit("Zoë signed", "2026-03-04T23:30:00+00:00")
    repo.git("mv", "crm/contacts/zoe.md", "crm/contacts/zoe-muller.md")
    repo.commit("Rename zoe to zoe-muller", "2026-04-01T10:00:00+00:00")
    repo.write("contacts/ben.md", "---\nname: Ben\nstatus: customer\n---\n")
    repo.write("orgs/nordlicht.md", "---\nname: Nordlicht GmbH\n---\n")
    repo.commit("Ben, already a customer; Nordlicht renamed", "2026-05-05T10:00:00+00:00")
    return repo


def test_files_created_last_changed_and_commits(repo: Repo) -> None:
    history = read_history(repo.root)
    assert history is not None
    zoe = history.files["contacts/zoe-muller.md"]
    assert (zoe.created, zoe.last_changed) == (date(2026, 1, 10), date(2026, 4, 1))
    assert [c.subject for c in zoe.commits] == [
        "Rename zoe to zoe-muller", "Zoë signed", "Zoë: proposal", "Add Zoë and Nordlicht"]
    assert zoe.commits[2].author == "Ann Other" and zoe.commits[2].date == date(2026, 2, 1)
    org = history.files["orgs/nordlicht.md"]
    assert (org.created, org.last_changed) == (date(2026, 1, 10), date(2026, 5, 5))
    assert "contacts/zoe.md" not in history.files  # followed into its new name


def test_recent_commits_touch_only_crm_paths(repo: Repo) -> None:
    history = read_history(repo.root)
    assert history is not None
    assert [c.subject for c in history.commits] == [
        "Ben, already a customer; Nordlicht renamed", "Rename zoe to zoe-muller", "Zoë signed", "Zoë: proposal",
        "Add Zoë and Nordlicht"]
    assert history.commits[0].paths == ("contacts/ben.md", "orgs/nordlicht.md")
    assert history.commits[-1].paths == ("contacts/zoe.md", "orgs/nordlicht.md")
    assert len(history.commits[0].sha) == 40
    limited = read_history(repo.root, limit=2)
    assert limited is not None and len(limited.commits) == 2
    assert len(limited.files["contacts/zoe-muller.md"].commits) == 2
    assert limited.files["contacts/zoe-muller.md"].created == date(2026, 1, 10)


def test_customer_since_from_status_changes(repo: Repo) -> None:
    history = read_history(repo.root)
    assert history is not None
    assert history.customer_since == {"zoe-muller": date(2026, 3, 4), "ben": date(2026, 5, 5)}


def test_customer_since_is_the_first_time(tmp_path: Path) -> None:
    repo = Repo(tmp_path / "r")
    for status, when in (("customer", "2025-01-01T00:00:00Z"), ("former", "2025-06-01T00:00:00Z"),
                         ("'customer'", "2026-01-01T00:00:00Z")):
        repo.write("contacts/ada.md", _zoe(status))
        repo.commit(f"status {status}", when)
    history = read_history(repo.root)
    assert history is not None and history.customer_since == {"ada": date(2025, 1, 1)}


def test_no_git_repository_means_no_history(tmp_path: Path) -> None:
    (tmp_path / "contacts").mkdir()
    assert read_history(tmp_path) is None


def test_repository_without_commits_has_empty_history(tmp_path: Path) -> None:
    repo = Repo(tmp_path / "r")
    repo.write("contacts/ada.md", _zoe("lead"))
    history = read_history(repo.root)
    assert history is not None and history.files == {} and history.commits == []


def test_untracked_and_uncommitted_changes_are_not_history(repo: Repo) -> None:
    repo.write("contacts/new.md", "---\nname: New\n---\n")
    history = read_history(repo.root)
    assert history is not None and "contacts/new.md" not in history.files
