"""The `crm` command: a thin click layer over site_builder.api and the command modules.

Each command lives in site_builder/commands/<name>.py; this module only lists them.
"""

from __future__ import annotations

import click

from . import __version__
from .commands.build import build_command
from .commands.check import check_command
from .commands.fmt import fmt_command
from .commands.importexport import export_group, import_group
from .commands.init import init_command
from .commands.new import new_command
from .commands.serve import serve_command, watch_command
from .commands.stats import due_command, stats_command
from .commands.touch import touch_command

COMMANDS: list[click.Command] = [
    check_command,
    build_command,
    init_command, new_command, touch_command, fmt_command, serve_command, watch_command,
    stats_command, due_command,
    import_group, export_group,
]


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="crm")
def main() -> None:
    """A personal CRM kept as Markdown files in git.

    Contacts live in contacts/*.md and organisations in orgs/*.md, each with YAML front
    matter and dated note sections (see docs/format.md).
    """


for _command in COMMANDS:
    main.add_command(_command)
