"""History from a real temporary git repository with fixed dates."""

from __future__ import annotations

import os
import shutil
import subprocess
from datetime import date
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

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


# --- the history kept in .crm-cache/history.bin ---------------------------------------------------


@pytest.fixture
def git_reads(monkeypatch: pytest.MonkeyPatch) -> list[Path]:
    """Each time the history is read from git rather than from the kept file or memory."""
    from site_builder import history as history_mod

    reads: list[Path] = []
    real = history_mod._read

    def counting(root: Path, limit: int, **kwargs):  # type: ignore[no-untyped-def]
        reads.append(root)
        return real(root, limit, **kwargs)

    monkeypatch.setattr(history_mod, "_read", counting)
    history_mod._MEMO.clear()
    return reads


def _forget_memory() -> None:
    from site_builder import history as history_mod

    history_mod._MEMO.clear()  # as a new `crm` process starts


def test_the_history_of_one_head_is_kept_on_disk(repo: Repo, git_reads: list[Path]) -> None:
    first = read_history(repo.root)
    assert len(git_reads) == 1 and (repo.root / ".crm-cache" / "history.bin").is_file()
    _forget_memory()
    again = read_history(repo.root)
    assert len(git_reads) == 1  # from the kept file
    assert again == first
    repo.write("contacts/ada.md", _zoe("lead"))  # uncommitted: the same HEAD, the same history
    _forget_memory()
    assert read_history(repo.root) == first and len(git_reads) == 1
    repo.commit("Ada", "2026-06-01T10:00:00+00:00")  # a new HEAD: read from git again
    _forget_memory()
    after = read_history(repo.root)
    assert len(git_reads) == 2 and after is not None and "contacts/ada.md" in after.files
    limited = read_history(repo.root, limit=1)  # another limit is another history
    assert len(git_reads) == 3 and limited is not None and len(limited.commits) == 1


@pytest.mark.parametrize("damage", ["garbage", "truncated", "foreign", "wrong-shape"])
def test_a_damaged_or_foreign_kept_history_is_read_from_git_again(repo: Repo, git_reads: list[Path],
                                                                  damage: str) -> None:
    from site_builder import cache as cache_mod
    from site_builder import history as history_mod

    first = read_history(repo.root)
    kept = repo.root / ".crm-cache" / "history.bin"
    data = kept.read_bytes()
    if damage == "garbage":
        kept.write_bytes(b"not a cache file")
    elif damage == "truncated":
        kept.write_bytes(data[: len(data) // 2])
    elif damage == "foreign":
        cache_mod.write_blob(kept, history_mod.HISTORY_KIND, "another program/HEAD", history_mod.history_to_plain(first))
    else:  # a valid file of the right key whose payload is not a history
        header_key = data.split(b'"program": "', 1)[1].split(b'"', 1)[0].decode()
        cache_mod.write_blob(kept, history_mod.HISTORY_KIND, header_key, ([("sha", "not a date", "a", "s", ())], [0], {}, {}))
    _forget_memory()
    assert read_history(repo.root) == first
    assert len(git_reads) == 2


def test_kept_history_reads_back_the_same_objects_shared_alike(repo: Repo) -> None:
    from site_builder.history import history_from_plain, history_to_plain

    history = read_history(repo.root, cache=False)
    assert history is not None and not (repo.root / ".crm-cache").exists()  # cache=False writes nothing
    back = history_from_plain(history_to_plain(history))
    assert back == history
    newest = back.commits[0]
    assert any(c is newest for f in back.files.values() for c in f.commits)  # one Commit, as in git's
    assert history_from_plain(([], [0], {}, {}, {})) is None
    assert history_from_plain("not a history") is None


def test_the_files_signs_are_kept_with_the_history(repo: Repo) -> None:
    """Each file's file_history_sign is made once per history and read back with it; signs
    of another shape are made again, the same."""
    from site_builder.history import (History, file_history_sign, file_signs, history_from_plain,
                                      history_to_plain)

    history = read_history(repo.root, cache=False)
    assert history is not None and history.files
    plain = history_to_plain(history)
    fresh = {path: file_history_sign(f, {}) for path, f in history.files.items()}
    back = history_from_plain(plain)
    assert back is not None and back.signs == fresh and file_signs(back) is back.signs
    for spoilt in ({}, {path: "text" for path in fresh}, {**fresh, "contacts/nobody.md": b"-"}):
        again = history_from_plain((*plain[:4], spoilt))
        assert again is not None and file_signs(again) == fresh
    assert file_signs(History()) == {}


def test_each_versions_status_is_read_from_git_once(repo: Repo, monkeypatch: pytest.MonkeyPatch) -> None:
    """A contact version's status (for customer_since) is kept by its blob id: after a
    commit, git's cat-file reads only the versions that commit made. The result is the
    one a read without anything kept gives."""
    from site_builder import history as history_mod

    asked: list[int] = []
    real = history_mod._git

    def git(root: Path, *args: str, stdin: bytes | None = None):  # type: ignore[no-untyped-def]
        if "cat-file" in args:
            asked.append(len((stdin or b"").split()))
        return real(root, *args, stdin=stdin)

    monkeypatch.setattr(history_mod, "_git", git)
    _forget_memory()
    first = read_history(repo.root)
    # Four contact versions: three of zoe (the rename kept the third), one of ben. The
    # two that are the files as they are now are read from the work tree.
    assert asked == [2]
    repo.write("contacts/ada.md", _zoe("customer").replace("Zoë Müller", "Ada"))  # not Zoë's bytes: those are one blob, known
    repo.commit("Ada signed", "2026-06-01T10:00:00+00:00")
    repo.write("contacts/ada.md", _zoe("lead").replace("Zoë Müller", "Ada"))  # edited since: git has the version
    repo.write("contacts/ben.md", "---\nname: Ben\nstatus: lead\n---\n")
    repo.commit("Ben lost", "2026-06-02T10:00:00+00:00")
    _forget_memory()
    after = read_history(repo.root)
    assert asked == [2, 1]  # only the new version of Ada, which is not the file now
    assert after is not None and first is not None
    assert after.customer_since == {**first.customer_since, "ada": date(2026, 6, 1)}
    _forget_memory()
    assert read_history(repo.root, cache=False) == after
    (repo.root / ".crm-cache" / "statuses.bin").write_bytes(b"damaged")
    (repo.root / ".crm-cache" / "history.bin").unlink()
    _forget_memory()
    assert read_history(repo.root) == after and asked[-1] == 4  # all read again, but the files as they are
    monkeypatch.setattr(history_mod, "work_tree_statuses", lambda *a: {})
    (repo.root / ".crm-cache" / "statuses.bin").unlink()
    (repo.root / ".crm-cache" / "history.bin").unlink()
    _forget_memory()
    assert read_history(repo.root) == after and asked[-1] == 7  # git alone: the same answer


def test_a_shallow_clone_s_history_is_not_kept(repo: Repo, tmp_path: Path, git_reads: list[Path]) -> None:
    """A shallow clone's history grows without a new HEAD (git fetch --deepen), so it is
    read from git every time, never from .crm-cache/history.bin."""
    clone = tmp_path / "clone"
    subprocess.run(["git", "clone", "-q", "--depth", "2", f"file://{repo.top}", str(clone)], check=True,
                   capture_output=True, env={**os.environ, "GIT_CONFIG_GLOBAL": "/dev/null", "GIT_CONFIG_NOSYSTEM": "1"})
    shallow = read_history(clone / "crm")
    assert shallow is not None and len(shallow.commits) <= 2
    assert not (clone / "crm" / ".crm-cache" / "history.bin").exists()
    _forget_memory()
    subprocess.run(["git", "-C", str(clone), "fetch", "-q", "--unshallow"], check=True, capture_output=True,
                   env={**os.environ, "GIT_CONFIG_GLOBAL": "/dev/null", "GIT_CONFIG_NOSYSTEM": "1"})
    deeper = read_history(clone / "crm")
    assert deeper is not None and len(deeper.commits) == 5  # the whole history, at the same HEAD
    assert len(git_reads) == 2


def test_a_version_is_read_from_the_work_tree_only_when_it_is_the_file(tmp_path: Path) -> None:
    """work_tree_statuses answers for a blob only with a file whose bytes are exactly that
    blob's (as git hashes them), never through a symlink, never from outside the root."""
    from site_builder import history as history_mod

    repo = Repo(tmp_path / "repo")
    repo.write("contacts/zoe.md", _zoe("customer"))
    repo.write("contacts/ben.md", "---\nname: Ben\nstatus: lead\n---\n")
    repo.commit("Zoë and Ben", "2026-01-10T09:00:00+00:00")
    # git's own ids: "<mode> blob <id>\t<path>" per file
    by_path = {path: meta.split()[2] for meta, path in
               (line.split("\t") for line in repo.git("ls-tree", "-r", "HEAD").splitlines())}
    zoe, ben = by_path["contacts/zoe.md"], by_path["contacts/ben.md"]
    found = history_mod.work_tree_statuses(repo.root, ["contacts/zoe.md", "contacts/ben.md", "contacts/gone.md"],
                                           {zoe, ben})
    assert found == {zoe: "customer", ben: "lead"}
    (repo.root / "contacts" / "ben.md").write_text("---\nname: Ben\nstatus: customer\n---\n", encoding="utf-8")
    assert history_mod.work_tree_statuses(repo.root, ["contacts/ben.md"], {ben}) == {}  # edited: not that blob
    outside = tmp_path / "outside.md"
    outside.write_bytes((repo.root / "contacts" / "zoe.md").read_bytes())
    (repo.root / "contacts" / "zoe.md").unlink()
    (repo.root / "contacts" / "zoe.md").symlink_to(outside)
    assert history_mod.work_tree_statuses(repo.root, ["contacts/zoe.md"], {zoe}) == {}
    (repo.root / "contacts" / "zoe.md").unlink()
    (tmp_path / "elsewhere").mkdir()
    (tmp_path / "elsewhere" / "zoe.md").write_bytes(outside.read_bytes())
    (repo.root / "linked").symlink_to(tmp_path / "elsewhere")
    assert history_mod.work_tree_statuses(repo.root, ["linked/zoe.md"], {zoe}) == {}
    (repo.root / "contacts" / "zoe.md").write_bytes(outside.read_bytes())
    assert history_mod.work_tree_statuses(repo.root, ["contacts/zoe.md"], {zoe}) == {zoe: "customer"}


def _status_of_whole_text(text: str) -> str | None:
    """front_matter_status as it was written first: every line of the text split."""
    import re
    lines = text.lstrip("\ufeff").splitlines()
    if not lines or lines[0].rstrip() != "---":
        return None
    for line in lines[1:]:
        if line.rstrip() in ("---", "..."):
            return None
        m = re.match(r"""^status:\s*["']?([A-Za-z]+)["']?\s*(?:#.*)?$""", line)
        if m:
            return m.group(1).lower()
    return None


_PIECES = st.sampled_from(["---", "...", "status: customer", "status: 'Lead' # x", "name: Zoë", "x" * 700,
                           "status:", "  status: lead", "", "\ufeff", "---x"])
_BREAKS = st.sampled_from(["\n", "\r\n", "\r", "\x0b", "\x1c", "\u2028", "\x85"])


@settings(max_examples=400, deadline=None)
@given(st.lists(st.tuples(_PIECES, _BREAKS), max_size=30), st.booleans())
def test_front_matter_status_reads_only_the_front_matter_alike(parts: list[tuple[str, str]], bom: bool) -> None:
    """Splitting only a prefix of the text (grown until it holds the answer) gives what
    splitting the whole text gives, whatever the line breaks and wherever a prefix cuts
    (a CR LF, a long line)."""
    from site_builder.history import front_matter_status

    text = ("\ufeff" if bom else "") + "".join(piece + brk for piece, brk in parts)
    assert front_matter_status(text) == _status_of_whole_text(text)


def test_front_matter_status_where_the_first_prefix_cuts_a_line() -> None:
    """A status line, an end of the front matter or a CR LF cut by the first prefix
    read (2,048 characters) at every position."""
    from site_builder.history import front_matter_status

    for pad in range(2000, 2080):
        for tail in ("status: customer\n---\n", "---\nstatus: customer\n", "status: lead\r\n---\r\n"):
            text = "---\r\nname: " + "z" * pad + "\r\n" + tail
            assert front_matter_status(text) == _status_of_whole_text(text), (pad, tail)
