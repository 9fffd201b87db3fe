"""History from git: when each file was created and last changed, recent commits, and
the date a contact first became a customer.

Two `git log` runs for the whole repository, never one per file: a --name-status pass
(who changed which files when, renames followed) and a -p pass limited to added or
removed `status:` lines (when each contact became a customer). When the CRM is a
subfolder of a bigger repository, --relative makes every path relative to the CRM root.
Without git, or outside a work tree, read_history returns None and callers simply leave
history out.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path

WATCHED = ("contacts", "orgs")
_RECORD = "\x1e"
_FIELD = "\x1f"
_LOG_FORMAT = f"--format={_RECORD}%H{_FIELD}%aI{_FIELD}%an{_FIELD}%s"
_PATCH_FORMAT = f"--format={_RECORD}%H{_FIELD}%aI"
_STATUS_LINE = re.compile(r"""^\+status:\s*["']?([A-Za-z]+)["']?\s*(?:#.*)?$""")
# Output must not depend on the user's git configuration (pagers, colours, external
# diff drivers, textconv filters, signatures) or language.
_GIT_CONFIG = ("-c", "core.quotepath=false", "-c", "log.showSignature=false", "-c", "color.ui=false")


@dataclass(frozen=True, slots=True)
class Commit:
    sha: str
    date: date  # author date, in the author's time zone
    author: str
    subject: str
    paths: tuple[str, ...]  # files under contacts/ and orgs/ it touched, relative to the CRM root


@dataclass(slots=True)
class FileHistory:
    created: date  # date of the oldest commit of the file (renames followed)
    last_changed: date
    commits: list[Commit] = field(default_factory=list)  # newest first, at most `limit`


@dataclass(slots=True)
class History:
    files: dict[str, FileHistory] = field(default_factory=dict)  # "contacts/ada.md" -> history
    commits: list[Commit] = field(default_factory=list)  # newest first, at most `limit`
    customer_since: dict[str, date] = field(default_factory=dict)  # contact slug -> first `status: customer`

    def of(self, path: str) -> FileHistory | None:
        return self.files.get(path)


# --- parsing git's output (pure) ------------------------------------------------------


def _commit_header(header: str) -> tuple[str, date, str, str]:
    sha, when, author, subject = (header.split(_FIELD) + ["", "", ""])[:4]
    return sha, date.fromisoformat(when[:10]), author, subject


def parse_name_status(output: str) -> list[tuple[Commit, list[tuple[str, str, str | None]]]]:
    """`git log --name-status -z` -> [(commit, [(status, path, renamed_from)])], newest first."""
    commits = []
    for record in output.split(_RECORD)[1:]:
        header, _, rest = record.partition("\0")
        sha, when, author, subject = _commit_header(header)
        tokens = rest.lstrip("\n").split("\0")
        changes: list[tuple[str, str, str | None]] = []
        i = 0
        while i < len(tokens) and tokens[i]:
            status = tokens[i]
            if status[:1] in ("R", "C") and i + 2 < len(tokens):
                changes.append((status[0], tokens[i + 2], tokens[i + 1]))
                i += 3
            elif i + 1 < len(tokens):
                changes.append((status[0], tokens[i + 1], None))
                i += 2
            else:
                break
        paths = tuple(dict.fromkeys(p for _, p, _ in changes))
        commits.append((Commit(sha, when, author, subject, paths), changes))
    return commits


def build_history(log: list[tuple[Commit, list[tuple[str, str, str | None]]]], limit: int) -> tuple[
        History, dict[tuple[str, str], str]]:
    """Files and commits from the name-status log (newest first). Also returns, for each
    (commit, path at that commit), the path the file has now, so that the history of
    a renamed file stays with it."""
    history = History()
    current_name: dict[str, str] = {}  # path at an older commit -> path today
    names_at: dict[tuple[str, str], str] = {}
    for commit, changes in log:
        if not changes:
            continue
        if len(history.commits) < limit:
            history.commits.append(commit)
        for status, path, renamed_from in changes:
            now = current_name.get(path, path)
            names_at[(commit.sha, path)] = now
            entry = history.files.get(now)
            if entry is None:
                entry = history.files[now] = FileHistory(created=commit.date, last_changed=commit.date)
            entry.created = commit.date  # walking back in time: the oldest seen so far
            if len(entry.commits) < limit:
                entry.commits.append(commit)
            if status == "R" and renamed_from is not None:
                current_name[renamed_from] = now
                names_at[(commit.sha, renamed_from)] = now
            elif status == "A":
                current_name.pop(path, None)  # an older file of this name is another file
    return history, names_at


def parse_customer_since(output: str, names_at: dict[tuple[str, str], str]) -> dict[str, date]:
    """From `git log --reverse -p -U0 -G^status:`: the first date on which each contact's
    front matter gained `status: customer`."""
    found: dict[str, date] = {}
    sha, when, path = "", date.min, None
    for line in output.split("\n"):
        if line.startswith(_RECORD):
            sha, when_text = (line[1:].split(_FIELD) + [""])[:2]
            when = date.fromisoformat(when_text[:10])
            path = None
        elif line.startswith("+++ "):
            target = line[4:]
            path = target[2:] if target.startswith("b/") else None
        elif path and line.startswith("+status:"):
            m = _STATUS_LINE.match(line)
            if m and m.group(1).lower() == "customer":
                now = names_at.get((sha, path), path)
                slug = now.rsplit("/", 1)[-1].removesuffix(".md")
                if now.startswith("contacts/") and slug not in found:
                    found[slug] = when
    return found


# --- running git (the edge) -----------------------------------------------------------


def _git(root: Path, *args: str) -> subprocess.CompletedProcess[str] | None:
    git = shutil.which("git")
    if git is None:
        return None
    env = {**os.environ, "LC_ALL": "C", "GIT_PAGER": "cat", "GIT_OPTIONAL_LOCKS": "0"}
    try:
        return subprocess.run([git, *_GIT_CONFIG, "-C", str(root), *args], capture_output=True, env=env,
                              encoding="utf-8", errors="replace")
    except OSError:
        return None


def in_work_tree(root: Path) -> bool:
    done = _git(root, "rev-parse", "--is-inside-work-tree")
    return done is not None and done.returncode == 0 and done.stdout.strip() == "true"


def read_history(root: Path, limit: int = 200) -> History | None:
    """The CRM's history from git; None when git is missing or root is not in a work tree."""
    if not in_work_tree(root):
        return None
    log = _git(root, "log", "--relative", "-M", "--name-status", "-z", "--no-color", _LOG_FORMAT,
               "--", *WATCHED)
    if log is None or log.returncode != 0:  # e.g. a repository without commits yet
        return History()
    history, names_at = build_history(parse_name_status(log.stdout), limit)
    patches = _git(root, "log", "--relative", "-M", "--reverse", "-p", "-U0", "--no-color", "--no-ext-diff",
                   "--no-textconv", "-G^status:", _PATCH_FORMAT, "--", "contacts")
    if patches is not None and patches.returncode == 0:
        history.customer_since = parse_customer_since(patches.stdout, names_at)
    return history
