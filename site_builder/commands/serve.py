"""crm serve and crm watch: rebuild on every save; serve with live reload."""

from __future__ import annotations

import os
import threading
import webbrowser
from datetime import date
from pathlib import Path

import click

from .. import fs
from ..api import TODAY_ENV, resolve_today
from ..watch import LiveBuilder, watch_and_rebuild


def _optional_today(ctx: click.Context, param: click.Parameter, value: str | None) -> date | None:
    """Unlike other commands, no --today means each build asks the clock (a server left
    running overnight moves on to the next day)."""
    if value is None and not os.environ.get(TODAY_ENV):
        return None
    try:
        return resolve_today(value)
    except ValueError:
        raise click.BadParameter(f"'{value or os.environ.get(TODAY_ENV)}' is not a date in YYYY-MM-DD form") from None


def _common(func):  # type: ignore[no-untyped-def]
    func = click.option("--today", "today", default=None, metavar="YYYY-MM-DD", callback=_optional_today,
                        help="Treat this date as today in every build (also $CRM_TODAY).")(func)
    func = click.option("--out", "out", type=click.Path(file_okay=False, path_type=Path), default=None,
                        help="Where to write the site.  [default: ROOT/output]")(func)
    return click.option("--root", "root", type=click.Path(file_okay=False, path_type=Path), default=Path("."),
                        show_default=True, help="The CRM folder (holding contacts/, orgs/, crm.yaml).")(func)


def _prepare(root: Path, out: Path | None) -> tuple[Path, Path]:
    from ..build import BuildError, check_output_folder

    try:
        root = fs.find_root(root)
        target = check_output_folder(root, out if out is not None else root / "output")
    except (fs.NotACrmError, BuildError) as exc:
        click.echo(f"crm: {exc}", err=True)
        raise SystemExit(2)
    return root, target


def _echo(line: str) -> None:
    click.echo(line, err=True)


@click.command("watch")
@_common
def watch_command(root: Path, out: Path | None, today: date | None) -> None:
    """Build the site, then rebuild it whenever a file changes, until Ctrl+C.

    Watches contacts/, orgs/, templates/ and crm.yaml; waits for 0.2 s without changes
    (one save is often several file events), or 0.03 s after a file is closed from
    writing, renamed into place or deleted, then rebuilds once. Editor temporary files
    (.swp, .swx, ~, 4913, .#*, .DS_Store) are ignored, and editors that save by writing
    a temporary file and renaming it are handled. Each build prints its errors and
    warnings count, and every problem that is new since the previous build; a bad edit
    never stops the watcher. The first build loads the whole CRM even when the site is
    up to date: the watcher keeps it, so each save re-reads only the changed files and
    works out only the figures they change.
    """
    root, target = _prepare(root, out)
    builder = LiveBuilder(root, target, today, echo=_echo)
    builder.build()
    watcher, debouncer = watch_and_rebuild(root, builder)
    _echo(f"Watching {root} (Ctrl+C to stop)")
    try:
        threading.Event().wait()
    except KeyboardInterrupt:
        pass
    finally:
        watcher.stop()
        debouncer.stop()


@click.command("serve")
@_common
@click.option("--port", default=8000, show_default=True, type=click.IntRange(0, 65535),
              help="Port on 127.0.0.1 (0 picks a free one).")
@click.option("--open", "open_browser", is_flag=True, help="Open the site in the web browser.")
def serve_command(root: Path, out: Path | None, today: date | None, port: int, open_browser: bool) -> None:
    """Build the site, serve it on http://127.0.0.1:PORT/ and rebuild on every save.

    Does what `crm watch` does and serves the output folder on 127.0.0.1 only (never on
    other network interfaces). Open pages reload by themselves after each rebuild, and
    build errors are shown in a banner at the bottom of the page as well as in the
    terminal; the server keeps running after a bad edit and serves the last good site.
    Only files inside the output folder are served. Ctrl+C stops it.
    """
    from ..serve import LiveServer

    root, target = _prepare(root, out)
    builder = LiveBuilder(root, target, today, echo=_echo)
    builder.build()
    try:
        server = LiveServer(builder, port)
    except OSError as exc:
        click.echo(f"crm: cannot listen on 127.0.0.1:{port}: {exc.strerror or exc} (try --port 0)", err=True)
        raise SystemExit(1)
    watcher, debouncer = watch_and_rebuild(root, builder)
    click.echo(f"Serving {server.url} (Ctrl+C to stop)")
    if open_browser:
        webbrowser.open(server.url)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.answer_waiting()  # pages waiting for a build are answered, and the server can close
        watcher.stop()
        debouncer.stop()
        server.server_close()
