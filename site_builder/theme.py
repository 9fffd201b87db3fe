"""Where the site's theme is: the built-in one and a CRM's own templates/ (which
overrides it one template at a time). Apart from render.py so that finding the theme
imports no Jinja (a no-op build, build_start.py)."""

from __future__ import annotations

from pathlib import Path

from .fs import is_inside


def builtin_theme_dir() -> Path:
    """site_builder/templates in an installed wheel; the repository's templates/ otherwise."""
    import site_builder

    package = Path(site_builder.__file__).resolve().parent
    installed = package / "templates"
    if (installed / "base.html").is_file():
        return installed
    return package.parent / "templates"


def user_theme_dir(root: Path) -> Path | None:
    folder = root / "templates"
    if not folder.is_dir() or not is_inside(folder, root):
        return None
    if folder.resolve() == builtin_theme_dir().resolve():
        return None  # the repository itself: its templates/ is the built-in theme
    return folder
