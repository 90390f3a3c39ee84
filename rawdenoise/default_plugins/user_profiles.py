"""Camera profiles from the user's ``profiles/`` folder (``*.json``, what ``calibrate`` writes).

Read on every discovery (never cached): the folder changes whenever the user calibrates. A file
that does not parse is reported with one warning line and skipped.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

from rawdenoise import hookimpl
from rawdenoise.dirs import profiles_dir


def profile_files() -> list[Path]:
    folder = profiles_dir()
    try:
        return sorted(p for p in folder.glob("*.json") if p.is_file())
    except OSError:
        return []


def signature() -> tuple[tuple[str, int, int], ...]:
    """Cheap fingerprint of the folder (names, sizes, mtimes) to know when to re-read it."""
    out = []
    for path in profile_files():
        try:
            st = path.stat()
        except OSError:
            continue
        out.append((str(path), st.st_size, st.st_mtime_ns))
    return tuple(out)


@hookimpl
def register_camera_profiles(register: Callable[[Any], None]) -> None:
    from rawdenoise.errors import PluginError
    from rawdenoise.specs import CameraProfile

    seen: dict[str, Path] = {}
    for path in profile_files():
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
            if not isinstance(data, dict):
                raise ValueError("not a JSON object")
            profile = CameraProfile.from_dict(data)
            if profile.id in seen:  # files are read in name order: the first one wins
                raise ValueError(f"its id {profile.id!r} is already used by {seen[profile.id]}")
        except Exception as exc:  # one bad file must not hide the others
            reason = str(exc) or type(exc).__name__
            register(PluginError(f"ignoring camera profile {path}: {reason}"))
            continue
        seen[profile.id] = path
        register(with_absolute_learned_noise(profile, path.parent))


def with_absolute_learned_noise(profile: Any, folder: Path) -> Any:
    """The profile with its ``learned_noise`` file (relative to its JSON file) made absolute."""
    import dataclasses

    if profile.learned_noise and not Path(profile.learned_noise).is_absolute():
        return dataclasses.replace(profile, learned_noise=str(folder / profile.learned_noise))
    return profile
