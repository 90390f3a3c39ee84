"""Look up architectures and camera profiles registered by plugins; build networks.

Names resolve in precedence tiers: the user's ``profiles/`` folder (camera profiles only), then
built-ins, then third-party plugins. When two plugins of the same tier register one name, the
bare name is ambiguous and ``PLUGIN:NAME`` (entry-point or distribution name; ``builtin:`` and
``user:`` for the pseudo-plugins) picks one. Unknown names get did-you-mean suggestions.

Only :func:`create_network` imports torch (through the architecture's factory).
"""

from __future__ import annotations

import difflib
import warnings
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from rawdenoise.errors import NetworkOutputError, PluginError, RawDenoiseError
from rawdenoise.factory import (
    _accepted_options,
    _binds,
    _check_option_values,
    _import_factory,
    _invalid_options,
)
from rawdenoise.plugin_records import Discovery, PluginRecord, normalize_name
from rawdenoise.plugins import discover, plugin_code
from rawdenoise.specs import ArchitectureSpec, CameraProfile

ARCHITECTURE = "architecture"
CAMERA_PROFILE = "camera profile"


@dataclass(frozen=True)
class Entry:
    """One registered item with the plugin that registered it."""

    plugin: PluginRecord
    item: ArchitectureSpec | CameraProfile
    alias: bool = False  #: found through an alias rather than the name

    @property
    def name(self) -> str:
        return self.item.name if isinstance(self.item, ArchitectureSpec) else self.item.id

    @property
    def qualified(self) -> str:
        return f"{self._qualifier()}:{self.name}"

    def _qualifier(self) -> str:
        if self.plugin.kind == "plugin":
            return normalize_name(self.plugin.name)
        return self.plugin.kind


def _items(record: PluginRecord, kind: str) -> list[ArchitectureSpec] | list[CameraProfile]:
    return record.architectures if kind == ARCHITECTURE else record.camera_profiles


def _index(kind: str, found: Discovery) -> dict[str, list[Entry]]:
    """name (and alias, for architectures) -> entries in precedence order, names before aliases."""
    index: dict[str, list[Entry]] = {}
    records = sorted(found.plugins, key=lambda r: r.tier)
    for record in records:
        for item in _items(record, kind):
            if isinstance(item, ArchitectureSpec):
                index.setdefault(item.name, []).append(Entry(record, item))
                for alias in item.aliases:
                    if alias != item.name:
                        index.setdefault(alias, []).append(Entry(record, item, alias=True))
            else:
                index.setdefault(item.id, []).append(Entry(record, item))
    for entries in index.values():
        entries.sort(key=lambda e: (e.plugin.tier, e.alias))
    return index


def _suggest(name: str, candidates: list[str]) -> str | None:
    close = difflib.get_close_matches(name, candidates, n=3, cutoff=0.6)
    if not close:
        lowered = {c.lower(): c for c in candidates}
        close = [lowered[c] for c in difflib.get_close_matches(name.lower(), list(lowered), n=3)]
    return ", ".join(close) if close else None


def _resolve(kind: str, name: str, *, quiet: bool = False) -> Entry:
    found = discover(quiet=quiet)
    index = _index(kind, found)
    listing = "rawdenoise plugins"
    if ":" in name:
        qualifier, _, bare = name.partition(":")
        wanted = normalize_name(qualifier)
        entries = [e for e in index.get(bare, []) if wanted in e.plugin.qualifiers]
        if not entries:
            candidates = sorted({e.qualified for es in index.values() for e in es})
            close = _suggest(name, candidates)
            hint = f"did you mean {close}?" if close else f"see '{listing}'"
            raise PluginError(f"no plugin {qualifier!r} registers the {kind} {bare!r}", hint=hint)
        return entries[0]
    entries = index.get(name)
    if not entries:
        close = _suggest(name, sorted(index))
        known = ", ".join(sorted(index)) or "none"
        hint = f"did you mean {close}?" if close else f"known: {known} (see '{listing}')"
        raise PluginError(f"unknown {kind} {name!r}", hint=hint)
    best = entries[0]
    rivals = {
        e.qualified
        for e in entries
        if (e.plugin.tier, e.alias) == (best.plugin.tier, best.alias)
        and e.plugin is not best.plugin
    }
    if rivals:
        options = ", ".join(sorted({best.qualified, *rivals}))
        raise PluginError(
            f"the {kind} name {name!r} is registered by several plugins",
            hint=f"pick one with PLUGIN:NAME: {options}",
        )
    return best


# --------------------------------------------------------------------------- architectures


def get_architecture(name: str) -> ArchitectureSpec:
    """The spec registered as ``name`` (a name, an alias or ``plugin:name``).

    Raises :class:`PluginError` with did-you-mean suggestions when unknown or ambiguous.
    """
    if isinstance(name, ArchitectureSpec):
        return name
    item = _resolve(ARCHITECTURE, name).item
    assert isinstance(item, ArchitectureSpec)
    return item


def list_architectures() -> list[ArchitectureSpec]:
    """Every registered architecture, built-ins first, then by name."""
    return [e.item for e in _unique(ARCHITECTURE)]  # type: ignore[misc]


def architecture_provider(name: str) -> PluginRecord:
    """The plugin that registers the architecture ``name`` resolves to."""
    return _resolve(ARCHITECTURE, name).plugin


def create_network(name: str | ArchitectureSpec, options: Mapping[str, Any] | None = None) -> Any:
    """Build the network ``name`` with the spec's default options updated with ``options``.

    The factory (``"module:callable"``) is imported only now, so torch and the plugin's
    network code load only when a network is actually needed. An option value the factory
    cannot build (``channels=abc``, ``channels=0``, a list) is a :class:`UsageError` naming the
    option and the architecture; an option it does not take is a :class:`PluginError`.
    """
    spec = get_architecture(name) if isinstance(name, str) else name
    factory = _import_factory(spec)
    merged = spec.options(options)
    _check_option_values(spec, merged)
    try:
        with warnings.catch_warnings(), plugin_code():
            # torch's warning, before the empty layer is refused below
            warnings.filterwarnings("ignore", message="Initializing zero-element tensors")
            network = factory(**merged)
    except TypeError as exc:
        accepted = _accepted_options(factory)
        if not _binds(factory, merged):
            unknown = sorted(set(merged) - set(accepted)) if accepted else []
            what = ", ".join(repr(u) for u in unknown) if unknown else f"these options ({exc})"
            raise PluginError(
                f"architecture {spec.name!r} does not accept {what}",
                hint=f"its options: {', '.join(accepted)}" if accepted else None,
            ) from exc
        raise _invalid_options(spec, merged, str(exc)) from exc
    except (ValueError, ArithmeticError, RuntimeError) as exc:  # e.g. int('abc'), channels=-3
        raise _invalid_options(spec, merged, str(exc)) from exc
    from torch import nn

    if not isinstance(network, nn.Module):
        raise network_fault(
            spec,
            NetworkOutputError(
                f"its factory {spec.factory} returned a {type(network).__name__}, "
                "not a torch.nn.Module"
            ),
        )
    if any(p.numel() == 0 for p in network.parameters()):
        raise _invalid_options(spec, merged, "it builds a layer without weights")
    return network


def provider_label(spec: ArchitectureSpec) -> str | None:
    """``"plugin 'NAME' (DIST VERSION)"`` for an architecture a third-party plugin registers;
    ``None`` for built-ins and for specs no plugin registers."""
    try:
        found = discover(quiet=True)
    except Exception:  # naming the culprit must not become a second failure
        return None
    for record in found.plugins:
        if record.kind == "plugin" and any(
            a.name == spec.name and a.factory == spec.factory for a in record.architectures
        ):
            return f"plugin {record.name!r} ({record.distribution} {record.version})"
    return None


def network_fault(
    spec: ArchitectureSpec, exc: NetworkOutputError, *, precision: str = "fp32"
) -> RawDenoiseError:
    """The error for a network of ``spec`` that returned something unusable.

    A third-party architecture is the plugin's bug: exit 4, naming the plugin. A built-in one
    with non-finite output has a broken model (weights) or overflows in half precision.
    """
    from rawdenoise.errors import ModelFileError

    owner = provider_label(spec)
    if owner is not None:
        return PluginError(
            f"architecture {spec.name!r} of {owner}: {exc.message}",
            hint="the plugin is broken: report it to its authors; 'rawdenoise plugins' lists it",
        )
    if exc.nonfinite:
        hint = (
            "run with --precision fp32: the network overflows in fp16"
            if precision == "fp16"
            else "the model's weights are broken; use another model"
        )
        return ModelFileError(f"the model (architecture {spec.name!r}): {exc.message}", hint=hint)
    return PluginError(f"architecture {spec.name!r}: {exc.message}", hint=exc.hint)


def widen_state(
    spec: ArchitectureSpec,
    state: Mapping[str, Any],
    options: Mapping[str, Any],
    new_options: Mapping[str, Any],
    seed: int,
) -> dict[str, Any]:
    """``state`` (a network of ``spec`` with ``options``) grown to ``new_options``.

    Raises ``ValueError`` when the architecture cannot grow, or not that way.
    """
    if not spec.widen:
        raise ValueError(f"architecture {spec.name!r} cannot change the options of a model")
    return _import_factory(spec, spec.widen)(dict(state), dict(options), dict(new_options), seed)


# --------------------------------------------------------------------------- camera profiles


def camera_profile_owner(profile_id: str) -> tuple[PluginRecord, str] | None:
    """(plugin, qualified name) of the profile ``profile_id`` resolves to; ``None`` if none."""
    try:
        entry = _resolve(CAMERA_PROFILE, profile_id)
    except PluginError:
        return None
    return entry.plugin, entry.qualified


def get_camera_profile(profile_id: str) -> CameraProfile:
    """The profile registered as ``profile_id`` (or ``plugin:id``); did-you-mean when unknown."""
    item = _resolve(CAMERA_PROFILE, profile_id).item
    assert isinstance(item, CameraProfile)
    return item


def find_camera_profile(make: str, model: str) -> CameraProfile | None:
    """The profile whose EXIF make/model (or an alias) matches, by precedence; else ``None``.

    A profile in the user's ``profiles/`` folder wins over a built-in one for the same camera,
    which wins over a plugin's.
    """
    for entry in _unique(CAMERA_PROFILE):
        item = entry.item
        assert isinstance(item, CameraProfile)
        if item.matches(make or "", model or ""):
            return item
    return None


def list_camera_profiles() -> list[CameraProfile]:
    """Every registered camera profile: user ones first, then built-ins, then plugins'."""
    return [e.item for e in _unique(CAMERA_PROFILE)]  # type: ignore[misc]


# --------------------------------------------------------------------------- listings


def _unique(kind: str, found: Discovery | None = None) -> list[Entry]:
    found = found or discover()
    out: list[Entry] = []
    for record in sorted(found.plugins, key=lambda r: r.tier):
        out.extend(Entry(record, item) for item in _items(record, kind))
    return out


def clashes(found: Discovery | None = None) -> list[dict[str, Any]]:
    """Names registered by more than one plugin, with the qualified names that pick each."""
    found = found or discover()
    out = []
    for kind in (ARCHITECTURE, CAMERA_PROFILE):
        for name, entries in sorted(_index(kind, found).items()):
            plugins = {id(e.plugin) for e in entries}
            if len(plugins) < 2:
                continue
            best = entries[0]
            ambiguous = any(
                e.plugin is not best.plugin
                and (e.plugin.tier, e.alias) == (best.plugin.tier, best.alias)
                for e in entries
            )
            out.append(
                {
                    "kind": kind,
                    "name": name,
                    "providers": [e.qualified for e in entries],
                    "resolves_to": None if ambiguous else best.qualified,
                }
            )
    return out


def names(kind: str, *, quiet: bool = False) -> list[str]:
    """Completion candidates: names, aliases and, for clashing names, ``plugin:name``."""
    index = _index(kind, discover(quiet=quiet))
    out = set(index)
    for entries in index.values():
        if len({id(e.plugin) for e in entries}) > 1:
            out.update(e.qualified for e in entries)
    return sorted(out)


__all__ = [
    "clashes",
    "create_network",
    "find_camera_profile",
    "get_architecture",
    "get_camera_profile",
    "list_architectures",
    "list_camera_profiles",
]
