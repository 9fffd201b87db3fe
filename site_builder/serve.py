"""`crm serve`: serve output/ on 127.0.0.1 with live reload and a problems banner.

The built files are never changed for this: the server adds one <script> tag to HTML
responses as it sends them. The script asks /__crm/problems (same origin, no network
beyond this machine) for the build's number and problems, then asks again with
?after=NUMBER, which the server answers as soon as a build ends (or after
LONG_POLL_SECONDS): the page reloads right after the build that changed it, not up to
a polling interval later. A hidden tab holds no such request open (browsers allow six
connections per host), and asks again when it is shown. Build errors show in a banner,
written with textContent so no problem text can become markup.
"""

from __future__ import annotations

import json
import mimetypes
import re
import sys
import threading
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs, unquote, urlsplit

from . import fs
from .watch import LiveBuilder

HOST = "127.0.0.1"
LIVE_PREFIX = "/__crm/"
LONG_POLL_SECONDS = 25.0  # an answer at least this often, so a dropped connection is noticed
_BODY_END = re.compile(rb"</body\s*>", re.IGNORECASE)
_TYPES = {
    ".html": "text/html; charset=utf-8", ".js": "text/javascript; charset=utf-8",
    ".css": "text/css; charset=utf-8", ".json": "application/json", ".svg": "image/svg+xml",
    ".vcf": "text/vcard; charset=utf-8", ".ics": "text/calendar; charset=utf-8",
    ".txt": "text/plain; charset=utf-8",
}

LIVE_JS = """\
(function () {
  "use strict";
  var script = document.currentScript;
  var current = script ? Number(script.getAttribute("data-build")) : null;
  function showBanner(lines) {
    var old = document.getElementById("crm-live-banner");
    if (old) { old.parentNode.removeChild(old); }
    if (!lines.length) { return; }
    var box = document.createElement("div");
    box.id = "crm-live-banner";
    box.setAttribute("role", "alert");
    box.style.cssText = "position:fixed;left:0;right:0;bottom:0;z-index:2147483647;max-height:40vh;" +
      "overflow:auto;margin:0;padding:.75em 1em;background:#fff4e5;color:#5c2c00;" +
      "border-top:3px solid #c2410c;font:13px/1.45 ui-monospace,Menlo,Consolas,monospace;white-space:pre-wrap";
    box.textContent = lines.join("\\n");
    document.body.appendChild(box);
  }
  // First the status as it is (the banner for this page), then ?after=<build>: the server
  // answers that as soon as a build ends, so the page reloads right after it.
  var known = null;
  var asking = null;
  var timer = null;
  function poll() {
    timer = null;
    if (document.visibilityState === "hidden") { return; }  // asks again when shown
    var controller = window.AbortController ? new AbortController() : null;
    asking = controller;
    var url = "/__crm/problems" + (known !== null ? "?after=" + known : "");
    fetch(url, { cache: "no-store", signal: controller ? controller.signal : undefined })
      .then(function (response) { return response.json(); })
      .then(function (status) {
        if (asking !== controller) { return; }
        asking = null;
        if (current !== null && status.build !== current) { window.location.reload(); return; }
        current = known = status.build;
        showBanner(status.problems);
        later(50);
      })
      .catch(function () {
        if (asking !== controller) { return; }  // aborted: the tab was hidden
        asking = null;
        later(2000);  // server restarting: keep trying
      });
  }
  function later(ms) {
    if (timer === null) { timer = window.setTimeout(poll, ms); }
  }
  document.addEventListener("visibilitychange", function () {
    if (document.visibilityState === "hidden") {
      if (asking) { var stopped = asking; asking = null; stopped.abort(); }
      if (timer !== null) { window.clearTimeout(timer); timer = null; }
    } else if (asking === null) {
      known = null;  // at once: a build may have ended while the tab was hidden
      later(0);
    }
  });
  poll();
})();
"""


def resolve_request_path(out: Path, url_path: str) -> Path | None:
    """The file or folder a URL path names inside out; None for anything that would
    leave it (.., encoded or not; NUL bytes; links pointing outside)."""
    text = unquote(url_path)
    if "\x00" in text or "\\" in text:
        return None
    parts = [p for p in text.split("/") if p not in ("", ".")]
    if any(p == ".." for p in parts):
        return None
    target = out.joinpath(*parts)
    if not fs.is_inside(target, out):
        return None
    return target


def inject_live_script(html: bytes, build: int) -> bytes:
    tag = f'<script src="{LIVE_PREFIX}live.js" data-build="{build}"></script>'.encode()
    matches = list(_BODY_END.finditer(html))
    if not matches:
        return html + tag
    at = matches[-1].start()
    return html[:at] + tag + html[at:]


def _after(request_path: str) -> int | None:
    """The build number of ?after=NUMBER, None when there is none (or it is no number)."""
    values = parse_qs(urlsplit(request_path).query).get("after")
    if not values or not values[0].isdigit() or len(values[0]) > 12:
        return None
    return int(values[0])


class LiveServer(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, builder: LiveBuilder, port: int) -> None:
        self.builder = builder
        self.stopping = False  # set by stop(): requests waiting for a build are answered at once
        super().__init__((HOST, port), LiveHandler)

    def handle_error(self, request: object, client_address: object) -> None:
        # A page that reloads drops the request it had waiting for a build (and a tab
        # closed drops any): nothing to print in the terminal for that.
        if isinstance(sys.exc_info()[1], ConnectionError):
            return
        super().handle_error(request, client_address)  # type: ignore[arg-type]

    def answer_waiting(self) -> None:
        """Answer at once the requests waiting for a build, and every one from now on."""
        self.stopping = True
        self.builder.wake()

    def stop(self) -> None:
        """Answer the waiting requests, stop serving, close the socket."""
        self.answer_waiting()
        self.shutdown()
        self.server_close()

    @property
    def out(self) -> Path:
        assert self.builder.out is not None
        return self.builder.out

    @property
    def url(self) -> str:
        return f"http://{HOST}:{self.server_address[1]}/"


class LiveHandler(BaseHTTPRequestHandler):
    server: LiveServer
    server_version = "crm-serve"
    sys_version = ""

    def log_message(self, format: str, *args: object) -> None:  # noqa: A002 - the base class's name
        pass  # the terminal is for build results, not for every request

    def do_HEAD(self) -> None:
        self._respond(send_body=False)

    def do_GET(self) -> None:
        self._respond(send_body=True)

    # --- helpers -------------------------------------------------------------------

    def _host_allowed(self) -> bool:
        """Only requests addressed to this machine: a web page elsewhere that rebinds its
        own host name to 127.0.0.1 must not be able to read the CRM."""
        host = (self.headers.get("Host") or "").strip().lower()
        name = host.rsplit(":", 1)[0] if not host.endswith("]") else host
        return name in ("127.0.0.1", "localhost", "[::1]")

    def _respond(self, send_body: bool) -> None:
        if not self._host_allowed():
            self._send(HTTPStatus.FORBIDDEN, b"forbidden: unknown Host\n", "text/plain; charset=utf-8", send_body)
            return
        path = urlsplit(self.path).path
        if path.startswith(LIVE_PREFIX):
            self._live(path[len(LIVE_PREFIX):], send_body)
            return
        target = resolve_request_path(self.server.out, path)
        if target is not None and target.is_dir():
            if not path.endswith("/"):
                self.send_response(HTTPStatus.MOVED_PERMANENTLY)
                self.send_header("Location", path + "/")
                self.send_header("Content-Length", "0")
                self.end_headers()
                return
            target = target / "index.html"
        if target is None or not target.is_file() or not fs.is_inside(target, self.server.out):
            self._send(HTTPStatus.NOT_FOUND, b"not found\n", "text/plain; charset=utf-8", send_body)
            return
        try:
            body = target.read_bytes()
        except OSError:  # swapped away by a rebuild between the check and the read
            self._send(HTTPStatus.NOT_FOUND, b"not found\n", "text/plain; charset=utf-8", send_body)
            return
        kind = _TYPES.get(target.suffix.lower()) or mimetypes.guess_type(target.name)[0] or "application/octet-stream"
        if target.suffix.lower() == ".html":
            body = inject_live_script(body, self.server.builder.status.number)
        self._send(HTTPStatus.OK, body, kind, send_body)

    def _live(self, name: str, send_body: bool) -> None:
        status = self.server.builder.status
        if name == "live.js":
            self._send(HTTPStatus.OK, LIVE_JS.encode(), _TYPES[".js"], send_body)
        elif name == "version":
            self._send(HTTPStatus.OK, json.dumps({"build": status.number}).encode(), "application/json", send_body)
        elif name == "problems":
            after = _after(self.path)
            if after is not None:
                status = self.server.builder.wait_for_build(after, LONG_POLL_SECONDS, lambda: self.server.stopping)
            payload = {"build": status.number, "ok": status.ok and not status.failure,
                       "problems": status.banner_lines(), "warnings": status.warnings}
            self._send(HTTPStatus.OK, json.dumps(payload, ensure_ascii=False).encode("utf-8"),
                       "application/json; charset=utf-8", send_body)
        else:
            self._send(HTTPStatus.NOT_FOUND, b"not found\n", "text/plain; charset=utf-8", send_body)

    def _send(self, code: HTTPStatus, body: bytes, kind: str, send_body: bool) -> None:
        self.send_response(code)
        self.send_header("Content-Type", kind)
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Cache-Control", "no-store")
        self.send_header("X-Content-Type-Options", "nosniff")
        self.end_headers()
        if send_body:
            self.wfile.write(body)


def start_server(builder: LiveBuilder, port: int) -> tuple[LiveServer, threading.Thread]:
    """Serve in a background thread (port 0 picks a free port: see server.url)."""
    server = LiveServer(builder, port)
    thread = threading.Thread(target=server.serve_forever, name="crm-serve", daemon=True)
    thread.start()
    return server, thread


def stop_server(server: LiveServer, thread: threading.Thread) -> None:
    server.stop()
    thread.join(timeout=5)

