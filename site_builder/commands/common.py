"""Options and helpers every command shares."""

from __future__ import annotations

from datetime import date
from pathlib import Path
from typing import Any, Callable

import click

from ..api import resolve_today
from ..fs import NotACrmError

F = Callable[..., Any]


def root_option(func: F) -> F:
    return click.option(
        "--root", "root", type=click.Path(file_okay=False, path_type=Path), default=Path("."),
        show_default=True, help="The CRM folder (holding contacts/, orgs/, crm.yaml).",
    )(func)


def _parse_today(ctx: click.Context, param: click.Parameter, value: str | None) -> date:
    try:
        return resolve_today(value)
    except ValueError:
        raise click.BadParameter(f"'{value}' is not a date in YYYY-MM-DD form") from None


def today_option(func: F) -> F:
    return click.option(
        "--today", "today", default=None, metavar="YYYY-MM-DD", callback=_parse_today,
        help="Treat this date as today (also $CRM_TODAY), for reproducible output.",
    )(func)


def format_option(func: F) -> F:
    return click.option(
        "--format", "fmt", type=click.Choice(["text", "json"]), default="text", show_default=True,
        help="Output format.",
    )(func)


def fail_usage(message: str) -> None:
    """Exit 2, like click's own usage errors."""
    raise click.UsageError(message)


def not_a_crm(exc: NotACrmError) -> None:
    click.echo(f"crm: {exc}", err=True)
    raise SystemExit(2)
