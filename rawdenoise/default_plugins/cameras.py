"""Built-in camera profiles (the published calibrations in ``camera_profiles.PROFILES``)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from rawdenoise import hookimpl


def builtin_profiles() -> tuple[Any, ...]:
    """The tuple ``PROFILES``; empty while the data module is absent (it is pure data)."""
    try:
        from rawdenoise.default_plugins.camera_profiles import PROFILES
    except ModuleNotFoundError as exc:
        if exc.name == "rawdenoise.default_plugins.camera_profiles":
            return ()
        raise
    return tuple(PROFILES)


@hookimpl
def register_camera_profiles(register: Callable[[Any], None]) -> None:
    for profile in builtin_profiles():
        register(profile)
