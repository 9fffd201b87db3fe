"""The `crm` command: a thin click layer over site_builder.api and the command modules.

Each command lives in site_builder/commands/<name>.py; this module only lists them. A
command's module is imported when that command runs (or help lists it), so `crm check`
does not pay for importing the renderer, the importers or the file watcher.
"""

from __future__ import annotations

import importlib
import os
import sys

import click

from . import __version__, allocator

# command name -> (module under site_builder.commands, attribute)
COMMANDS: dict[str, tuple[str, str]] = {
    "check": ("check", "check_command"),
    "build": ("build", "build_command"),
    "init": ("init", "init_command"),
    "new": ("new", "new_command"),
    "touch": ("touch", "touch_command"),
    "fmt": ("fmt", "fmt_command"),
    "serve": ("serve", "serve_command"),
    "watch": ("serve", "watch_command"),
    "stats": ("stats", "stats_command"),
    "due": ("stats", "due_command"),
    "import": ("importexport", "import_group"),
    "export": ("importexport", "export_group"),
}
# The commands that run until stopped: they keep the C allocator's defaults (allocator.py).
LONG_RUNNING = frozenset({"serve", "watch"})


class LazyGroup(click.Group):
    """A group whose commands are imported from COMMANDS on first use."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted({*super().list_commands(ctx), *COMMANDS})

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        found = super().get_command(ctx, cmd_name)
        if found is not None or cmd_name not in COMMANDS:
            return found
        module, attribute = COMMANDS[cmd_name]
        command: click.Command = getattr(importlib.import_module(f".commands.{module}", __package__), attribute)
        self.add_command(command, cmd_name)
        return command

    def resolve_command(self, ctx: click.Context,
                        args: list[str]) -> tuple[str | None, click.Command | None, list[str]]:
        """The command to run; a one-shot one first has the C allocator keep what it frees."""
        name, command, rest = super().resolve_command(ctx, args)
        if command is not None and name not in LONG_RUNNING:
            allocator.keep_freed_memory()
        return name, command, rest


@click.group(cls=LazyGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="crm")
def main() -> None:
    """A personal CRM kept as Markdown files in git.

    Contacts live in contacts/*.md and organisations in orgs/*.md, each with YAML front
    matter and dated note sections (see docs/format.md).
    """


def run() -> None:
    """The `crm` console script: main(), then exit without tearing down the process.

    A command that loaded a big CRM would otherwise spend its last moments freeing it
    object by object (0.2 to 0.4 s at 10,000 contacts, after the work is done). The
    loader keeps the last CRM it loaded until then (loader.keep_until_exit), and the
    process ends with os._exit once stdout and stderr are flushed: every file a command
    writes is complete and renamed into place before it returns, and its worker
    processes have been waited for, but for the parse cache a cold load leaves to a
    forked process (loader.SAVE_APART_MIN) and the forked processes a build let end by
    themselves once it had their results (incremental.finish_forked), which are waited
    for after the output. A forked process a no-op build stopped (incremental.TwoStep)
    ends by itself, its output pointed away from the command's."""
    from . import loader

    loader.keep_until_exit(True)
    try:
        main(standalone_mode=True)
        code = 0
    except SystemExit as done:
        code = _exit_code(done.code)
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except (OSError, ValueError):  # a closed pipe (crm ... | head): nothing more to say
            pass
    loader.finish_cache_writes()  # after the output: a cold load's cache is written meanwhile
    if "site_builder.incremental" in sys.modules:
        sys.modules["site_builder.incremental"].finish_forked()
    os._exit(code)


def _exit_code(code: object) -> int:
    if code is None:
        return 0
    if isinstance(code, int):
        return code
    print(code, file=sys.stderr)  # sys.exit("message") prints it and exits 1
    return 1
