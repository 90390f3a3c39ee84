"""The plugin discovery manifest: what each installed plugin registers, without importing it.

One JSON file per Python environment in ``plugin_cache_dir()``. Each entry is keyed on the
plugin's distribution, version and entry point (:attr:`EntryPointInfo.key`), so installing,
removing or upgrading a plugin changes the key and that plugin is imported again; editable
installs are never cached (their code changes without a version bump). The manifest is only a
hint: a corrupt, foreign or out-of-date file is ignored and rewritten.

It lets ``rawdenoise plugins``, shell completion of ``--arch``/``--camera`` and the registry
work without importing plugin code or torch (shell completion:
:mod:`rawdenoise.name_completion`).
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from rawdenoise.dirs import plugin_cache_dir

MANIFEST_SCHEMA = 1


def _environment_id() -> str:
    """Which Python environment the manifest describes (its own set of installed plugins)."""
    ident = f"{os.path.realpath(sys.prefix)}|{sys.version_info[0]}.{sys.version_info[1]}"
    return hashlib.sha256(ident.encode()).hexdigest()[:12]


def manifest_path() -> Path:
    return plugin_cache_dir() / f"manifest-{_environment_id()}.json"


def _spec_fields() -> str:
    """A digest of the fields cached specs have: a development build that adds one (under an
    unchanged version string) must not read entries that lack it."""
    from dataclasses import fields

    from rawdenoise import specs

    kinds = (specs.ArchitectureSpec, specs.CameraProfile, specs.NoiseParams, specs.LogLinear,
             specs.IsoPoint)  # fmt: skip
    names = ";".join(f"{k.__name__}:{','.join(f.name for f in fields(k))}" for k in kinds)
    return hashlib.sha256(names.encode()).hexdigest()[:12]


def _header() -> dict[str, Any]:
    from rawdenoise import __version__

    return {
        "schema": MANIFEST_SCHEMA,
        "rawdenoise": __version__,
        "spec_fields": _spec_fields(),
        "prefix": os.path.realpath(sys.prefix),
    }


def read_manifest() -> tuple[dict[str, dict[str, Any]], str]:
    """``(entries by key, status)``; status is "ok", "missing", "corrupt" or "stale".

    "stale" means the file was written by another rawdenoise version or schema, or for specs
    with other fields (hook semantics may differ): its entries are dropped and the plugins are
    imported again.
    """
    path = manifest_path()
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return {}, "missing"
    except (OSError, UnicodeDecodeError):  # unreadable, a folder, bytes that are not UTF-8
        return {}, "corrupt"
    try:
        data = json.loads(text)
    except (ValueError, RecursionError):  # RecursionError: absurdly deep nesting
        return {}, "corrupt"
    if not isinstance(data, dict) or not isinstance(data.get("entries"), dict):
        return {}, "corrupt"
    header = _header()
    if any(data.get(k) != v for k, v in header.items()):
        return {}, "stale"
    entries = {
        k: v
        for k, v in data["entries"].items()
        if isinstance(k, str) and isinstance(v, dict) and _valid_entry(v)
    }
    return entries, ("ok" if len(entries) == len(data["entries"]) else "corrupt")


def _valid_entry(entry: Mapping[str, Any]) -> bool:
    return (
        isinstance(entry.get("architectures"), list)
        and isinstance(entry.get("camera_profiles"), list)
        and isinstance(entry.get("errors", []), list)
    )


def write_manifest(entries: Mapping[str, Mapping[str, Any]]) -> bool:
    """Write the manifest atomically; ``False`` when the cache dir is not writable."""
    from rawdenoise.atomic import write_text_atomic
    from rawdenoise.errors import OutputError

    payload = {**_header(), "entries": dict(sorted(entries.items()))}
    try:  # atomic, and no temporary file left behind by Ctrl-C or SIGTERM
        write_text_atomic(manifest_path(), json.dumps(payload, indent=1), overwrite=True)
    except (OSError, OutputError):
        return False
    return True


def clear_manifest() -> None:
    with contextlib.suppress(OSError):
        manifest_path().unlink(missing_ok=True)
