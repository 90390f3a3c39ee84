"""Where rawdenoise keeps its files (platformdirs, app name ``rawdenoise``).

``RAWDENOISE_HOME`` puts everything under one folder (``data/``, ``cache/``, ``config/``); the
test suite always sets it so that no test touches the user's real directories.
"""

from __future__ import annotations

import os
from pathlib import Path

APP_NAME = "rawdenoise"
HOME_ENV = "RAWDENOISE_HOME"


def _home() -> Path | None:
    value = os.environ.get(HOME_ENV)
    return Path(value).expanduser() if value else None


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


def config_dir() -> Path:
    home = _home()
    if home is not None:
        return home / "config"
    import platformdirs

    return Path(platformdirs.user_config_dir(APP_NAME, appauthor=False))


def models_dir() -> Path:
    return data_dir() / "models"


def profiles_dir() -> Path:
    return data_dir() / "profiles"


def plugin_cache_dir() -> Path:
    return cache_dir() / "plugins"


def config_file() -> Path:
    return config_dir() / "config.toml"


def all_paths() -> dict[str, Path]:
    """Every location, for ``rawdenoise plugins --paths``."""
    return {
        "data": data_dir(),
        "models": models_dir(),
        "profiles": profiles_dir(),
        "cache": cache_dir(),
        "plugin_cache": plugin_cache_dir(),
        "config": config_file(),
    }
