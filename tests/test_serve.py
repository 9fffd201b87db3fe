"""crm serve / crm watch: a real server, real watchdog events, the real build.

Waits are bounded polls (up to 15 s) for an outcome, never assertions about time.
"""

from __future__ import annotations

import http.client
import json
import os
import shutil
import socket
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any, Callable, Iterator

import pytest

from site_builder.serve import LiveServer, inject_live_script, resolve_request_path, start_server, stop_server
from site_builder.watch import LiveBuilder, is_relevant, watch_and_rebuild

from conftest import TODAY

ADA = "---\nname: Ada Lovelace\nemails: [ada@example.com]\n---\nFirst summary.\n"
BOB = "---\nname: Bob Builder\n---\nKnows @ada.\n"
WAIT_SECONDS = 15.0


def wait_for(condition: Callable[[], Any], what: str) -> Any:
    deadline = time.monotonic() + WAIT_SECONDS
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"gave up waiting for {what}")
        time.sleep(0.05)


def get(server: LiveServer, path: str, host: str | None = None) -> tuple[int, str, dict[str, str]]:
    request = urllib.request.Request(server.url.rstrip("/") + path)
    if host is not None:
        request.add_header("Host", host)
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, response.read().decode("utf-8"), dict(response.headers)
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read().decode("utf-8", "replace"), dict(exc.headers)


def save_like_an_editor(path: Path, text: str) -> None:
    """Write a swap file and a temporary file, then rename the temporary file onto the
    real one, the way vim (backupcopy=no) and many IDEs save."""
    (path.parent / f".{path.name}.swp").write_text("swap")
    (path.parent / "4913").write_text("")
    (path.parent / "4913").unlink()
    tmp = path.parent / f"{path.name}~tmp"
    tmp.write_text(text, encoding="utf-8")
    os.replace(tmp, path)
    (path.parent / f".{path.name}.swp").unlink()


class Live:
    def __init__(self, root: Path, watch: bool = True) -> None:
        self.lines: list[str] = []
        self.builder = LiveBuilder(root, None, TODAY, echo=self.lines.append)
        self.builder.build()
        self.server, self._thread = start_server(self.builder, 0)
        self.watching = watch_and_rebuild(root, self.builder) if watch else None

    def close(self) -> None:
        if self.watching:
            watcher, debouncer = self.watching
            watcher.stop()
            debouncer.stop()
        stop_server(self.server, self._thread)

    def problems(self) -> dict[str, Any]:
        return json.loads(get(self.server, "/__crm/problems")[1])


@pytest.fixture
def live(make_crm) -> Iterator[tuple[Live, Path]]:  # type: ignore[no-untyped-def]
    root = make_crm({"contacts/ada.md": ADA, "contacts/bob.md": BOB})
    running = Live(root)
    try:
        yield running, root
    finally:
        running.close()


def test_pages_are_served_with_the_live_script(live) -> None:  # type: ignore[no-untyped-def]
    running, root = live
    status, body, headers = get(running.server, "/contacts/ada.html")
    assert status == 200 and "First summary." in body
    assert '<script src="/__crm/live.js" data-build="1"></script></body>' in body
    assert headers["Content-Type"] == "text/html; charset=utf-8"
    assert "<script src=\"/__crm/live.js\"" not in (root / "output/contacts/ada.html").read_text()  # files stay as built
    status, script, _ = get(running.server, "/__crm/live.js")
    assert status == 200 and "textContent" in script and "innerHTML" not in script
    assert running.problems() == {"build": 1, "ok": True, "problems": [], "warnings": 0}


def test_an_edit_is_rebuilt_and_served(live) -> None:  # type: ignore[no-untyped-def]
    running, root = live
    save_like_an_editor(root / "contacts/ada.md", ADA.replace("First summary.", "Freshly edited summary."))
    wait_for(lambda: "Freshly edited summary." in get(running.server, "/contacts/ada.html")[1], "the rebuilt page")
    # The pages are in place a moment before the build's status is: wait for that too.
    wait_for(lambda: running.problems()["build"] >= 2, "the second build's status")
    # The status is published as the site is in place; the terminal line comes after
    # the build's record is written (LiveBuilder.build): wait for it as well.
    wait_for(lambda: any("after changes to contacts/ada.md" in line for line in running.lines),
             "the build's line in the terminal")


def test_a_bad_edit_shows_in_the_banner_and_the_server_keeps_running(live) -> None:  # type: ignore[no-untyped-def]
    running, root = live
    (root / "contacts/ada.md").write_text("---\nname: [Ada\n---\n", encoding="utf-8")
    # (a plain write truncates first: on a busy machine a build may catch the empty file)
    status = wait_for(lambda: (s := running.problems()) and any("YAML syntax error" in p for p in s["problems"]) and s,
                      "the problem to be reported")
    assert not status["ok"]
    assert status["problems"][0].startswith("contacts/ada.md:3: error: YAML syntax error")  # the saved file first
    assert any("@ada names no contact" in p for p in status["problems"])  # and what it broke elsewhere
    wait_for(lambda: any("contacts/ada.md:3: error: YAML syntax error" in line for line in running.lines),
             "the problem in the terminal")  # (printed after the status is published)
    assert get(running.server, "/")[0] == 200
    (root / "contacts/ada.md").write_text(ADA.replace("First", "Fixed"), encoding="utf-8")
    wait_for(lambda: running.problems()["ok"], "the problem to go away")
    assert "Fixed summary." in get(running.server, "/contacts/ada.html")[1]


def test_only_files_inside_the_output_folder_are_served(make_crm, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    root = make_crm({"contacts/ada.md": ADA})
    secret = tmp_path / "secret.txt"
    secret.write_text("top secret")
    running = Live(root, watch=False)
    try:
        (root / "output" / "leak.txt").symlink_to(secret)
        for path in ("/leak.txt", "/../crm.yaml", "/%2e%2e/contacts/ada.md", "/..%2fcontacts/ada.md",
                     "/contacts/%2e%2e/%2e%2e/contacts/ada.md", "/nothing.html", "/%00"):
            status, body, _ = get(running.server, path)
            assert status == 404, path
            assert "top secret" not in body and "name: Ada" not in body
        assert get(running.server, "/contacts/ada.html")[0] == 200
        connection = http.client.HTTPConnection("127.0.0.1", running.server.server_address[1], timeout=10)
        connection.request("GET", "/contacts")
        response = connection.getresponse()
        assert (response.status, response.getheader("Location")) == (301, "/contacts/")
        connection.close()
    finally:
        running.close()


def test_requests_for_other_host_names_are_refused(live) -> None:  # type: ignore[no-untyped-def]
    running, _ = live
    port = running.server.server_address[1]
    assert get(running.server, "/", host=f"evil.example:{port}")[0] == 403
    assert get(running.server, "/", host=f"localhost:{port}")[0] == 200


def _non_loopback_address() -> str | None:
    """This machine's address on its default route, found without sending anything."""
    probe = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    try:
        probe.connect(("192.0.2.1", 9))  # TEST-NET-1; a UDP connect sends no packet
        address = probe.getsockname()[0]
    except OSError:
        return None
    finally:
        probe.close()
    return None if address.startswith("127.") or address == "0.0.0.0" else address


def test_the_server_listens_on_loopback_only(live) -> None:  # type: ignore[no-untyped-def]
    running, _ = live
    host, port = running.server.server_address[:2]
    assert host == "127.0.0.1"
    with socket.create_connection(("127.0.0.1", port), timeout=5):
        pass
    other = _non_loopback_address()
    if other is None:
        pytest.skip("this machine has no non-loopback IPv4 address to try")
    with pytest.raises(OSError):
        socket.create_connection((other, port), timeout=5).close()


def test_which_changes_trigger_a_rebuild() -> None:
    relevant = ["contacts/ada.md", "orgs/acme.md", "crm.yaml", "templates/base.html", "templates/x/y.css"]
    ignored = ["contacts/.ada.md.swp", "contacts/.ada.md.swx", "contacts/ada.md~", "contacts/4913",
               "contacts/.#ada.md", "contacts/.DS_Store", "contacts/#ada.md#", "contacts/.ada.md.k2j3.tmp",
               "contacts/notes.txt", "contacts/sub/ada.md", "output/index.html", ".git/index", "README.md",
               "templates/.base.html.swp", "templates/base.html~", "crm.yaml~", "contacts"]
    assert [p for p in relevant if not is_relevant(p)] == []
    assert [p for p in ignored if is_relevant(p)] == []


def test_live_script_injection_and_path_resolution(tmp_path: Path) -> None:
    assert inject_live_script(b"<html><body>x</BODY ></html>", 7) == (
        b'<html><body>x<script src="/__crm/live.js" data-build="7"></script></BODY ></html>')
    assert inject_live_script(b"no body", 1).endswith(b'data-build="1"></script>')
    out = tmp_path / "output"
    (out / "contacts").mkdir(parents=True)
    assert resolve_request_path(out, "/contacts/ada.html") == out / "contacts" / "ada.html"
    assert resolve_request_path(out, "/%2E%2E/x") is None
    assert resolve_request_path(out, "/a\\..\\..\\x") is None


def test_a_templates_folder_created_while_serving_is_watched(live) -> None:  # type: ignore[no-untyped-def]
    running, root = live
    (root / "templates").mkdir()
    # the new folder is watched first, then a rebuild picks up whatever it holds
    wait_for(lambda: running.problems()["build"] >= 2, "the rebuild after templates/ appeared")
    (root / "templates" / "style.css").write_text("body { color: rebeccapurple; }\n")
    wait_for(lambda: "rebeccapurple" in get(running.server, "/style.css")[1], "the user's style.css to be served")


def test_frozen_objects_are_released_every_so_many_builds_not_on_every_save(make_crm, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    """release_frozen is a pass over the whole loaded CRM (0.6 s at 10,000 contacts)."""
    from site_builder import cache, watch

    calls: list[int] = []
    real = cache.release_frozen
    monkeypatch.setattr(cache, "release_frozen", lambda: (calls.append(1), real())[1])
    monkeypatch.setattr(watch, "RELEASE_EVERY", 3)
    root = make_crm({"contacts/ada.md": "---\nname: Ada\n---\n"})
    builder = LiveBuilder(root, None, TODAY, echo=lambda line: None)
    for _ in range(7):
        assert builder.build().ok
    assert len(calls) == 3  # before builds 1, 4 and 7


def assert_same_as_a_clean_build(root: Path, out: Path) -> None:
    from site_builder.build import build_site

    clean = root.parent / "clean"
    shutil.rmtree(clean, ignore_errors=True)
    build_site(root, clean, TODAY, cache=False)
    built = {p.relative_to(out): p.read_bytes() for p in out.rglob("*") if p.is_file()}
    assert built == {p.relative_to(clean): p.read_bytes() for p in clean.rglob("*") if p.is_file()}


def test_the_server_lets_go_of_the_sections_a_full_build_decoded(make_crm) -> None:  # type: ignore[no-untyped-def]
    """The first build after a program upgrade parses and renders every file: the server
    keeps the files, but not their sections as objects (about 200 MB at 10,000 contacts);
    a save reads back those it needs, and its site is a clean build's."""
    files = {f"contacts/p{i}.md": f"---\nname: Person {i}\n---\n## 2026-11-0{i % 9 + 1} call: Call {i}\n\nTalked to @p{(i + 1) % 8}.\n"
             for i in range(8)}
    root = make_crm(files)
    builder = LiveBuilder(root, None, TODAY, echo=lambda line: None)
    assert builder.build().ok
    kept = [entry.entity.sections for _, entry in builder._memory.files.values()]
    assert len(kept) == 8 and not any(sections.decoded for sections in kept)
    (root / "contacts/p3.md").write_text(files["contacts/p3.md"] + "\n## 2026-11-20 meeting: Lunch\n\nWith @p5.\n")
    assert builder.build(["contacts/p3.md"]).ok
    assert_same_as_a_clean_build(root, builder.out)


def test_the_server_keeps_the_build_state_it_wrote_until_another_writer_replaces_it(make_crm) -> None:  # type: ignore[no-untyped-def]
    """A save does not read back the state its last build wrote; a `crm build` run beside
    the server replaces the file, and the next save reads that one (a site as clean as
    a clean build's either way)."""
    from site_builder import incremental
    from site_builder.build import _load_state, build_site

    root = make_crm({f"contacts/p{i}.md": f"---\nname: Person {i}\n---\n## 2026-11-0{i + 1} call: Call\n\nHi.\n"
                     for i in range(4)})
    builder = LiveBuilder(root, None, TODAY, echo=lambda line: None)
    assert builder.build().ok
    memory = builder._memory
    path, stamp, kept = memory.state
    on_disk = incremental.load_state(root, builder.out)
    assert on_disk is not None and on_disk.to_payload() == kept.to_payload()
    assert _load_state(root, builder.out, memory) is kept
    (root / "contacts/p1.md").write_text("---\nname: Person One\n---\n")
    build_site(root, None, TODAY)  # another writer of the state
    replaced = _load_state(root, builder.out, memory)
    assert replaced is not kept and replaced.to_payload() == incremental.load_state(root, builder.out).to_payload()
    (root / "contacts/p2.md").write_text("---\nname: Person Two\n---\n")
    assert builder.build(["contacts/p2.md"]).ok
    assert_same_as_a_clean_build(root, builder.out)


def test_a_page_asking_after_its_build_is_answered_when_the_next_build_ends(make_crm) -> None:  # type: ignore[no-untyped-def]
    """?after=N is answered as soon as build N+1 is done, not a polling interval later:
    it waits while N is the newest build, and is answered at once for any other N, for
    no N, and for one that is no number."""
    root = make_crm({"contacts/ada.md": ADA})
    running = Live(root, watch=False)
    answers: list[dict[str, Any]] = []
    try:
        assert json.loads(get(running.server, "/__crm/problems?after=0")[1])["build"] == 1  # already past 0
        for query in ("", "?after=x", "?after=-1", "?after=" + "9" * 40):
            assert json.loads(get(running.server, "/__crm/problems" + query)[1])["build"] == 1
        waiter = threading.Thread(target=lambda: answers.append(json.loads(get(running.server,
                                                                               "/__crm/problems?after=1")[1])))
        waiter.start()
        waiter.join(timeout=0.5)
        assert waiter.is_alive() and not answers  # no build yet: still waiting
        (root / "contacts/ada.md").write_text(ADA.replace("First", "Second"), encoding="utf-8")
        running.builder.build(["contacts/ada.md"])
        waiter.join(timeout=WAIT_SECONDS)
        assert answers and answers[0]["build"] == 2 and answers[0]["ok"]
    finally:
        running.close()


def test_stopping_the_server_answers_the_pages_waiting_for_a_build(make_crm) -> None:  # type: ignore[no-untyped-def]
    root = make_crm({"contacts/ada.md": ADA})
    running = Live(root, watch=False)
    answers: list[dict[str, Any]] = []
    waiter = threading.Thread(target=lambda: answers.append(json.loads(get(running.server,
                                                                           "/__crm/problems?after=1")[1])))
    waiter.start()
    waiter.join(timeout=0.5)
    assert waiter.is_alive()
    running.close()
    waiter.join(timeout=WAIT_SECONDS)
    assert not waiter.is_alive() and answers == [{"build": 1, "ok": True, "problems": [], "warnings": 0}]


def test_a_page_that_drops_its_waiting_request_prints_nothing(make_crm, capfd) -> None:  # type: ignore[no-untyped-def]
    """A reloading page drops the request it had waiting for a build: when the build
    ends, writing the answer fails, and that is no error to show in the terminal."""
    root = make_crm({"contacts/ada.md": ADA})
    running = Live(root, watch=False)
    try:
        for _ in range(3):
            client = socket.create_connection(("127.0.0.1", running.server.server_address[1]), timeout=10)
            client.sendall(b"GET /__crm/problems?after=%d HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n"
                           % running.builder.status.number)
            time.sleep(0.2)
            client.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00")
            client.close()  # a reset, as a browser that navigates away may send
            running.builder.build()
            time.sleep(0.2)
        assert get(running.server, "/contacts/ada.html")[0] == 200
    finally:
        running.close()
    assert "Traceback" not in capfd.readouterr().err


def test_the_status_is_published_once_the_site_is_in_place(make_crm) -> None:  # type: ignore[no-untyped-def]
    """build_site calls committed with the problems once the new site is in place (the
    open page may reload then, before the build's record is written)."""
    from site_builder.build import build_site

    root = make_crm({"contacts/ada.md": ADA, "contacts/bob.md": BOB.replace("@ada", "@nobody")})
    seen: list[tuple[list[Any], str]] = []

    def committed(problems: list[Any]) -> None:
        seen.append((problems, (root / "output/contacts/ada.html").read_text(encoding="utf-8")))

    first = build_site(root, None, TODAY, committed=committed)
    assert seen[-1][0] == first.problems and any("@nobody" in p.message for p in first.problems)
    (root / "contacts/ada.md").write_text(ADA.replace("First", "Second"), encoding="utf-8")
    second = build_site(root, None, TODAY, committed=committed)
    assert seen[-1][0] == second.problems and "Second summary." in seen[-1][1]  # the new page was in place


def test_a_save_that_ended_is_built_sooner_than_a_change_still_going_on() -> None:
    """The debouncer waits `quiet` after a change that may go on (a file created or
    written to), and only `settled` after one that ends a save (closed after writing,
    renamed into place, deleted); the last event decides."""
    from site_builder.watch import Debouncer

    runs: list[float] = []
    debouncer = Debouncer(lambda: runs.append(time.monotonic()), quiet=1.5, settled=0.05)
    debouncer.start()
    try:
        poked = time.monotonic()
        debouncer.poke()
        debouncer.poke(settled=True)
        wait_for(lambda: runs, "the settled run")
        assert runs[0] - poked < 1.0
        poked = time.monotonic()
        debouncer.poke(settled=True)
        debouncer.poke()  # something happened after the close: wait the whole quiet time
        wait_for(lambda: len(runs) == 2, "the quiet run")
        assert runs[1] - poked >= 1.5
    finally:
        debouncer.stop()


def test_the_watcher_says_which_events_end_a_save(make_crm) -> None:  # type: ignore[no-untyped-def]
    """On Linux a file closed after writing ends a save, and so does a rename onto it."""
    from site_builder.watch import Watcher

    root = make_crm({"contacts/ada.md": ADA})
    seen: list[tuple[list[str], bool]] = []
    watcher = Watcher(root, lambda paths, settled: seen.append((paths, settled)))
    watcher.start()
    try:
        (root / "contacts/ada.md").write_text(ADA.replace("First", "Second"), encoding="utf-8")
        wait_for(lambda: (["contacts/ada.md"], True) in seen, "the close after writing")
        assert (["contacts/ada.md"], False) in seen  # the write itself: more may come
        seen.clear()
        save_like_an_editor(root / "contacts/ada.md", ADA)
        wait_for(lambda: any(settled and "contacts/ada.md" in paths for paths, settled in seen), "the rename")
    finally:
        watcher.stop()
