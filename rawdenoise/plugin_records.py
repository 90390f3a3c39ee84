"""What plugins there are and what they registered: installed entry points of the group
``rawdenoise`` (distribution metadata only, no import), the ``RAWDENOISE_LOAD_PLUGINS``
allow-list, and the records of a discovery. No plugin code and no torch is imported here."""

from __future__ import annotations

import json
import os
import re
import sys
from collections.abc import Mapping
from dataclasses import dataclass, field
from importlib import metadata
from typing import Any

import pluggy

from rawdenoise.specs import ArchitectureSpec, CameraProfile

ENTRY_POINT_GROUP = "rawdenoise"
LOAD_ENV = "RAWDENOISE_LOAD_PLUGINS"

#: Names of the pseudo-plugins; also accepted as ``builtin:NAME`` / ``user:ID`` qualifiers.
BUILTIN = "builtin"
USER = "user"

#: Lower tiers win when several plugins register the same name.
TIERS = {USER: 0, BUILTIN: 1, "plugin": 2}


def normalize_name(name: str) -> str:
    """Distribution-name normalization (PEP 503): case-insensitive, ``-_.`` equivalent."""
    return re.sub(r"[-_.]+", "-", name).lower()


@dataclass(frozen=True)
class EntryPointInfo:
    """One installed entry point of the group, with its distribution (read without importing)."""

    name: str
    value: str
    distribution: str
    version: str
    editable: bool
    entry_point: metadata.EntryPoint | None = field(default=None, compare=False, repr=False)

    @property
    def key(self) -> str:
        """Manifest key: changes when the distribution's version or the entry point changes."""
        return f"{normalize_name(self.distribution)}=={self.version}|{self.name}={self.value}"


@dataclass
class PluginRecord:
    """What one plugin is and what it registered (or why it could not be loaded)."""

    name: str
    kind: str  #: "builtin", "user" or "plugin"
    distribution: str = ""
    version: str = ""
    value: str = ""  #: entry-point target "module:attr"
    editable: bool = False
    #: "loaded" (imported this run), "cache" (from the manifest, not imported), "failed"
    status: str = "loaded"
    architectures: list[ArchitectureSpec] = field(default_factory=list)
    camera_profiles: list[CameraProfile] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)

    @property
    def tier(self) -> int:
        return TIERS[self.kind]

    @property
    def qualifiers(self) -> set[str]:
        """Names that select this plugin in ``PLUGIN:NAME``."""
        if self.kind == BUILTIN:
            return {BUILTIN, "rawdenoise"}
        if self.kind == USER:
            return {USER}
        return {normalize_name(self.name), normalize_name(self.distribution)}

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "kind": self.kind,
            "distribution": self.distribution,
            "version": self.version,
            "entry_point": self.value,
            "editable": self.editable,
            "status": self.status,
            "architectures": [a.name for a in self.architectures],
            "camera_profiles": [p.id for p in self.camera_profiles],
            "errors": list(self.errors),
        }

    def to_cache(self) -> dict[str, Any]:
        """The manifest entry: everything needed to use the plugin without importing it."""
        return {
            "name": self.name,
            "distribution": self.distribution,
            "version": self.version,
            "value": self.value,
            "architectures": [a.to_dict() for a in self.architectures],
            "camera_profiles": [p.to_dict() for p in self.camera_profiles],
            "errors": list(self.errors),
        }

    @classmethod
    def from_cache(cls, info: EntryPointInfo, data: Mapping[str, Any]) -> PluginRecord:
        """Rebuild from a manifest entry (raises on anything malformed: then it is reloaded)."""
        return cls(
            name=info.name,
            kind="plugin",
            distribution=info.distribution,
            version=info.version,
            value=info.value,
            editable=info.editable,
            status="cache",
            architectures=[ArchitectureSpec.from_dict(d) for d in data["architectures"]],
            camera_profiles=[CameraProfile.from_dict(d) for d in data["camera_profiles"]],
            errors=[str(e) for e in data.get("errors", [])],
        )


@dataclass
class Discovery:
    """Result of one discovery: every plugin in precedence order, and what was left out."""

    plugins: list[PluginRecord]
    excluded: list[EntryPointInfo]  #: installed but not in RAWDENOISE_LOAD_PLUGINS
    manifest: str  #: manifest path
    manifest_status: str  #: "hit", "updated", "rebuilt" (was corrupt/stale) or "unwritable"
    pm: pluggy.PluginManager = field(repr=False)

    @property
    def errors(self) -> list[str]:
        return [e for p in self.plugins for e in p.errors]


# --------------------------------------------------------------------------- warnings

_warned: set[str] = set()


def warn(message: str) -> None:
    """One ``rawdenoise: warning: ...`` line on stderr, once per process per message."""
    line = " ".join(message.split())
    if line in _warned:
        return
    _warned.add(line)
    try:
        sys.stderr.write(f"rawdenoise: warning: {line}\n")
        sys.stderr.flush()
    except (OSError, ValueError):
        pass


def forget_warnings() -> None:
    """Warn again about what was warned about already (a fresh discovery)."""
    _warned.clear()


# --------------------------------------------------------------------------- entry points


def _is_editable(dist: metadata.Distribution) -> bool:
    """PEP 610: ``direct_url.json`` with ``dir_info.editable`` marks an editable install."""
    try:
        text = dist.read_text("direct_url.json")
    except Exception:
        return False
    if not text:
        return False
    try:
        data = json.loads(text)
    except ValueError:
        return False
    return bool(isinstance(data, dict) and (data.get("dir_info") or {}).get("editable"))


def installed_entry_points() -> list[EntryPointInfo]:
    """Every entry point in the group ``rawdenoise`` (distribution metadata only; no import)."""
    out: list[EntryPointInfo] = []
    seen: set[tuple[str, str]] = set()
    for ep in metadata.entry_points(group=ENTRY_POINT_GROUP):
        dist = getattr(ep, "dist", None)
        dist_name = (dist.metadata["Name"] if dist is not None else None) or "unknown"
        version = (dist.version if dist is not None else None) or "0"
        ident = (normalize_name(dist_name), ep.name)
        if ident in seen:  # the same distribution found twice on sys.path
            continue
        seen.add(ident)
        editable = _is_editable(dist) if dist is not None else True
        out.append(EntryPointInfo(ep.name, ep.value, dist_name, version, editable, ep))
    return sorted(out, key=lambda i: (normalize_name(i.distribution), i.name))


def allow_list() -> set[str] | None:
    """Normalized names from ``RAWDENOISE_LOAD_PLUGINS``; ``None`` when unset (load all)."""
    value = os.environ.get(LOAD_ENV)
    if value is None:
        return None
    return {normalize_name(n.strip()) for n in value.split(",") if n.strip()}


def is_allowed(info: EntryPointInfo, allowed: set[str] | None) -> bool:
    if allowed is None:
        return True
    return normalize_name(info.name) in allowed or normalize_name(info.distribution) in allowed
