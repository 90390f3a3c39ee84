"""Where rawdenoise keeps its files (platformdirs, app name ``rawdenoise``).

``RAWDENOISE_HOME`` puts everything under one folder (``data/`` and ``cache/``); the
test suite always sets it so that no test touches the user's real directories.
"""

from __future__ import annotations

import os
from pathlib import Path

APP_NAME = "rawdenoise"
HOME_ENV = "RAWDENOISE_HOME"


def _home() -> Path | None:
    value = os.environ.get(HOME_ENV)
    if not value:
        return None
    try:
        return Path(value).expanduser()
    except RuntimeError as exc:  # "~nouser/x": no such user's home to expand
        from rawdenoise.errors import UsageError

        raise UsageError(
            f"{HOME_ENV}={value!r}: cannot expand {value.split('/', 1)[0]!r}",
            hint=f"set {HOME_ENV} to an absolute path",
        ) from exc


def data_dir() -> Path:
    """User data: ``models/`` and ``profiles/``."""
    home = _home()
    if home is not None:
        return home / "data"
    import platformdirs

    return Path(platformdirs.user_data_dir(APP_NAME, appauthor=False))


def cache_dir() -> Path:
    """Disposable files: the plugin discovery manifest, decoded-frame caches."""
    home = _home()
    if home is not None:
        return home / "cache"
    import platformdirs

    return Path(platformdirs.user_cache_dir(APP_NAME, appauthor=False))


def models_dir() -> Path:
    return data_dir() / "models"


def profiles_dir() -> Path:
    return data_dir() / "profiles"


def plugin_cache_dir() -> Path:
    return cache_dir() / "plugins"


def all_paths() -> dict[str, Path]:
    """Every location, for ``rawdenoise plugins --paths``."""
    return {
        "data": data_dir(),
        "models": models_dir(),
        "profiles": profiles_dir(),
        "cache": cache_dir(),
        "checkpoints": data_dir() / "checkpoints",
        "plugin_cache": plugin_cache_dir(),
        "frames_cache": cache_dir() / "frames",
    }
