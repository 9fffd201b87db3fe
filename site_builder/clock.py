"""Today's date: --today, else $CRM_TODAY, else the system clock. The only place that
reads the clock, so that every command can be run as of a fixed day."""

from __future__ import annotations

import os
from datetime import date

TODAY_ENV = "CRM_TODAY"


def resolve_today(value: str | date | None = None) -> date:
    """--today, else $CRM_TODAY, else the system clock (the only place that reads it)."""
    if isinstance(value, date):
        return value
    text = value or os.environ.get(TODAY_ENV)
    if text:
        return date.fromisoformat(text.strip())
    return date.today()
