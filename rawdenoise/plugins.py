"""Plugin discovery and loading (pluggy, entry-point group ``rawdenoise``).

Built-in architectures and camera profiles are default plugins registered through the same hooks
as third-party ones (``rawdenoise.default_plugins``), plus the user's ``profiles/`` folder.

Every third-party entry point is loaded in isolation: a plugin that fails to import, raises in a
hook or registers garbage is reported with one ``rawdenoise: warning: ...`` line on stderr and
skipped, and rawdenoise carries on. ``RAWDENOISE_LOAD_PLUGINS`` is an allow-list of distribution
or entry-point names (comma-separated); set but empty loads no third-party plugin.

What each installed (non-editable) plugin registers is remembered in a discovery manifest
(:mod:`rawdenoise.plugin_cache`), so later runs neither import plugin code nor torch. Nothing in
this module imports torch: networks are built by :func:`rawdenoise.registry.create_network`.
"""

from __future__ import annotations

import contextlib
import importlib
import os
import sys
from collections.abc import Iterable, Iterator, Mapping
from types import ModuleType
from typing import Any

import pluggy

from rawdenoise import hookspecs
from rawdenoise.errors import PluginError
from rawdenoise.plugin_records import (
    BUILTIN,
    ENTRY_POINT_GROUP,
    LOAD_ENV,
    USER,
    Discovery,
    EntryPointInfo,
    PluginRecord,
    allow_list,
    forget_warnings,
    installed_entry_points,
    is_allowed,
    warn,
)
from rawdenoise.specs import ArchitectureSpec, CameraProfile

_DEFAULT_PLUGINS: tuple[tuple[str, str], ...] = (
    (BUILTIN, "rawdenoise.default_plugins.architectures"),
    (BUILTIN, "rawdenoise.default_plugins.cameras"),
    (USER, "rawdenoise.default_plugins.user_profiles"),
)
_HOOKS: tuple[tuple[str, str], ...] = (
    ("register_architectures", "architecture"),
    ("register_camera_profiles", "camera profile"),
)

# --------------------------------------------------------------------------- hook calls


def new_plugin_manager() -> pluggy.PluginManager:
    pm = pluggy.PluginManager("rawdenoise")
    pm.add_hookspecs(hookspecs)
    return pm


def _coerce(kind: str, item: Any) -> ArchitectureSpec | CameraProfile:
    if isinstance(item, BaseException):  # a plugin reporting one bad item (user_profiles does)
        raise item
    if kind == "architecture":
        if isinstance(item, ArchitectureSpec):
            return item
        if isinstance(item, Mapping):
            return ArchitectureSpec.from_dict(item)
        expected = "an ArchitectureSpec"
    else:
        if isinstance(item, CameraProfile):
            return item
        if isinstance(item, Mapping):
            return CameraProfile.from_dict(item)
        expected = "a CameraProfile"
    shown = repr(item)
    shown = shown if len(shown) <= 60 else shown[:57] + "..."
    raise PluginError(f"registered {type(item).__name__} {shown}, expected {expected}")


def _label(record: PluginRecord) -> str:
    if record.kind == "plugin":
        return f"plugin {record.name!r} ({record.distribution} {record.version})"
    return f"{record.kind} plugin"


@contextlib.contextmanager
def plugin_code() -> Iterator[None]:
    """Run a plugin's code (its import, hooks, network factory) with ``print`` going to stderr.

    stdout carries only results (``--json`` must stay parseable); a plugin that prints while it
    loads must not corrupt them.
    """
    with contextlib.redirect_stdout(sys.stderr):
        yield


def call_hooks(pm: pluggy.PluginManager, plugin: object, record: PluginRecord) -> None:
    """Run ``plugin``'s hook implementations one by one, collecting valid items into ``record``.

    Each registered item is validated on its own: a bad item becomes an error line on the
    record and the plugin's other items are kept. A third-party hook that raises fails the
    whole plugin: what it registered before raising (in any hook) is dropped, because a plugin
    that crashed half-way cannot be trusted to have registered what it meant to.
    """
    for caller in pm.get_hookcallers(plugin) or []:
        if caller.spec is None:
            record.errors.append(f"{_label(record)}: unknown hook {caller.name!r}")
    for hook_name, kind in _HOOKS:
        caller = getattr(pm.hook, hook_name)
        for impl in caller.get_hookimpls():
            if impl.plugin is not plugin:
                continue
            items: list[Any] = []

            def register(item: Any, _kind: str = kind, _items: list[Any] = items) -> None:
                try:
                    _items.append(_coerce(_kind, item))
                except PluginError as exc:
                    record.errors.append(f"{_label(record)}: invalid {_kind}: {exc.message}")
                except Exception as exc:
                    record.errors.append(
                        f"{_label(record)}: invalid {_kind}: {type(exc).__name__}: {exc}"
                    )

            try:
                with plugin_code():
                    impl.function(**{name: register for name in impl.argnames})
            except Exception as exc:
                record.errors.append(
                    f"{_label(record)}: {hook_name} failed: {type(exc).__name__}: {exc}"
                    + ("; the plugin is skipped" if record.kind == "plugin" else "")
                )
                if record.kind == "plugin":
                    record.status = "failed"
                    record.architectures.clear()
                    record.camera_profiles.clear()
                    return
                continue
            target = record.architectures if kind == "architecture" else record.camera_profiles
            target.extend(items)


def _import_target(info: EntryPointInfo) -> object:
    if info.entry_point is not None:
        return info.entry_point.load()
    module, _, attr = info.value.partition(":")
    obj: Any = importlib.import_module(module.strip())
    for part in filter(None, attr.strip().split(".")):
        obj = getattr(obj, part)
    return obj


def _load_entry_point(pm: pluggy.PluginManager, info: EntryPointInfo) -> PluginRecord:
    record = PluginRecord(
        name=info.name,
        kind="plugin",
        distribution=info.distribution,
        version=info.version,
        value=info.value,
        editable=info.editable,
    )
    try:
        with plugin_code():
            target = _import_target(info)
    except BaseException as exc:  # SystemExit/KeyboardInterrupt from a plugin's import too
        if isinstance(exc, KeyboardInterrupt):
            raise
        record.status = "failed"
        record.errors.append(
            f"{_label(record)} failed to load {info.value}: {type(exc).__name__}: {exc}"
        )
        return record
    try:
        pm.register(target, name=f"{ENTRY_POINT_GROUP}:{info.key}")
    except Exception as exc:  # pluggy validation: wrong hook arguments, registered twice
        record.status = "failed"
        record.errors.append(f"{_label(record)} is not a valid plugin: {exc}")
        return record
    call_hooks(pm, target, record)
    return record


def _default_records(pm: pluggy.PluginManager) -> list[PluginRecord]:
    records: dict[str, PluginRecord] = {}
    for kind, module_name in _DEFAULT_PLUGINS:
        record = records.setdefault(
            kind,
            PluginRecord(name=kind, kind=kind, distribution="rawdenoise", version=_own_version()),
        )
        module: ModuleType = importlib.import_module(module_name)
        if pm.get_plugin(module_name) is None:
            pm.register(module, name=module_name)
        call_hooks(pm, module, record)
    return [records[BUILTIN], records[USER]]


def _own_version() -> str:
    from rawdenoise import __version__

    return __version__


# --------------------------------------------------------------------------- discovery

_memo: tuple[tuple[Any, ...], Discovery] | None = None


def _memo_key(infos: Iterable[EntryPointInfo]) -> tuple[Any, ...]:
    from rawdenoise.default_plugins.user_profiles import signature

    return (
        tuple((i.key, i.editable) for i in infos),
        os.environ.get(LOAD_ENV),
        os.environ.get("RAWDENOISE_HOME"),
        signature(),
    )


def discover(*, refresh: bool = False, quiet: bool = False) -> Discovery:
    """Find and load every plugin (third-party ones from the manifest where it is current).

    ``refresh`` ignores the manifest and in-process memo (imports every allowed plugin and
    rewrites the manifest). ``quiet`` suppresses the warning lines (used by shell completion).
    The result is memoized in-process until the installed plugins, the allow-list, the data
    directory or the user's profiles change.
    """
    global _memo
    from rawdenoise import plugin_cache

    infos = installed_entry_points()
    key = _memo_key(infos)
    if not refresh and _memo is not None and _memo[0] == key:
        if not quiet:
            for message in _memo[1].errors:
                warn(message)
        return _memo[1]

    pm = new_plugin_manager()
    records = _default_records(pm)
    allowed = allow_list()
    excluded: list[EntryPointInfo] = []
    if refresh:
        plugin_cache.clear_manifest()
    manifest, status = plugin_cache.read_manifest()
    fresh: dict[str, dict[str, Any]] = {}
    changed = status != "ok"
    for info in infos:
        if not is_allowed(info, allowed):
            excluded.append(info)
            if not info.editable and info.key in manifest:
                fresh[info.key] = manifest[info.key]  # keep it for when it is allowed again
            continue
        record = None
        if not info.editable and info.key in manifest:
            try:
                record = PluginRecord.from_cache(info, manifest[info.key])
                fresh[info.key] = manifest[info.key]
            except Exception:
                changed = True  # malformed entry: import the plugin and write it again
                record = None
        if record is None:
            record = _load_entry_point(pm, info)
            if not info.editable and record.status == "loaded":
                fresh[info.key] = record.to_cache()
                changed = True
        records.append(record)
    if set(fresh) != set(manifest):
        changed = True
    if changed:
        written = plugin_cache.write_manifest(fresh)
        manifest_status = "rebuilt" if status in ("corrupt", "stale") else "updated"
        if not written:
            manifest_status = "unwritable"
    else:
        manifest_status = "hit"
    result = Discovery(
        plugins=records,
        excluded=excluded,
        manifest=str(plugin_cache.manifest_path()),
        manifest_status=manifest_status,
        pm=pm,
    )
    if not quiet:
        for message in result.errors:
            warn(message)
    _memo = (key, result)
    return result


def reset() -> None:
    """Forget the in-process discovery (tests; after installing a plugin at run time)."""
    global _memo
    _memo = None
    forget_warnings()


def plugin_manager() -> pluggy.PluginManager:
    """The plugin manager of the current discovery (built-ins and imported plugins).

    Plugins served from the manifest are not imported and so are not registered here; use
    :mod:`rawdenoise.registry` to look things up.
    """
    return discover().pm


__all__ = [
    "ENTRY_POINT_GROUP",
    "LOAD_ENV",
    "Discovery",
    "EntryPointInfo",
    "PluginRecord",
    "allow_list",
    "discover",
    "installed_entry_points",
    "plugin_manager",
    "reset",
    "warn",
]
