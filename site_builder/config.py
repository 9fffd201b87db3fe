"""crm.yaml: site title, owner, extra touch kinds, default cadence, thresholds."""

from __future__ import annotations

from typing import Any

from .model import DEFAULT_TOUCH_KINDS, Config, as_text, as_text_list, parse_cadence
from .problems import Problem, error, warning

CONFIG_FILE = "crm.yaml"
CONFIG_KEYS = (
    "title", "owner", "touch_kinds", "default_cadence", "max_touches_per_week",
    "birthday_window_days", "edit_url",
)


def parse_config(data: bytes | None) -> tuple[Config, list[Problem]]:
    """Parse crm.yaml's bytes (None when there is no such file)."""
    if data is None:
        return Config(), []
    problems: list[Problem] = []
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = data[: exc.start].count(b"\n") + 1
        return Config(), [error(CONFIG_FILE, line, "invalid-utf8", "invalid UTF-8 (save the file as UTF-8)")]
    from . import yamlsafe  # PyYAML on first use (see parse._read_front_matter)

    loaded = yamlsafe.load(text.replace("\r\n", "\n"))
    for issue in loaded.issues:
        make = error if issue.severity == "error" else warning
        problems.append(make(CONFIG_FILE, issue.line, issue.code, issue.message))
    raw = loaded.data if loaded.ok else None
    if raw is None:
        return Config(), problems
    if not isinstance(raw, dict):
        problems.append(error(CONFIG_FILE, 1, "config-not-mapping", "crm.yaml must be 'key: value' lines"))
        return Config(), problems
    return _config_from(raw, loaded.lines, problems), problems


def _config_from(raw: dict[str, Any], lines: dict[tuple[str | int, ...], int], problems: list[Problem]) -> Config:
    config = Config()
    config.title = as_text(raw.get("title")) or config.title
    config.owner = as_text(raw.get("owner"))
    config.edit_url = as_text(raw.get("edit_url"))
    extra_kinds = [k.lower() for k in as_text_list(raw.get("touch_kinds"))]
    config.touch_kinds = tuple(dict.fromkeys((*DEFAULT_TOUCH_KINDS, *extra_kinds)))
    if "default_cadence" in raw:
        config.default_cadence_days = parse_cadence(raw["default_cadence"])
        if config.default_cadence_days is None:
            problems.append(error(CONFIG_FILE, lines.get(("default_cadence",)), "invalid-cadence",
                                  "default_cadence must be a positive number of days or like 2w, 3m, 1y"))
    for key in ("max_touches_per_week", "birthday_window_days"):
        if key in raw:
            value = raw[key]
            if isinstance(value, int) and not isinstance(value, bool) and value >= 0:
                setattr(config, key, value)
            else:
                problems.append(error(CONFIG_FILE, lines.get((key,)), "invalid-number", f"{key} must be a whole number"))
    config.extra = {k: v for k, v in raw.items() if k not in CONFIG_KEYS}
    for key in config.extra:
        problems.append(warning(CONFIG_FILE, lines.get((key,)), "unknown-config-key",
                                f"unknown setting '{key}' (known: {', '.join(CONFIG_KEYS)})"))
    return config
