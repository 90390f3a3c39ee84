"""``rawdenoise plugins``: installed plugins, what each registers, load errors, where files live."""

from __future__ import annotations

import typer

from rawdenoise.cli._console import emit_json
from rawdenoise.cli._errors import handle_errors


@handle_errors
def plugins(
    json_out: bool = typer.Option(False, "--json", help="Print the result as JSON."),
    refresh: bool = typer.Option(
        False, "--refresh", help="Ignore the discovery cache: import every plugin again."
    ),
    paths: bool = typer.Option(
        False, "--paths", help="Only show where rawdenoise keeps its files."
    ),
) -> None:
    """Installed plugins, their versions, what each registers, load errors, and where files live.

    Third-party plugins are Python packages with an entry point in the group `rawdenoise`;
    `RAWDENOISE_LOAD_PLUGINS=name,...` loads only those (set but empty: none). What a plugin
    registers is cached, so this command imports neither plugin code nor torch once the
    cache is warm; `--refresh` rebuilds it.
    """
    from rawdenoise.dirs import all_paths

    file_paths = {k: str(v) for k, v in all_paths().items()}
    if paths:
        from rawdenoise.plugin_cache import manifest_path

        file_paths["plugin_manifest"] = str(manifest_path())
        if json_out:
            emit_json({"paths": file_paths})
        else:
            _print_paths(file_paths)
        return

    payload = report(refresh=refresh)
    payload["paths"] = file_paths
    if json_out:
        emit_json(payload)
        return
    _print_report(payload)


def report(*, refresh: bool = False) -> dict:
    """Everything ``plugins`` shows, as JSON-ready data."""
    import os

    from rawdenoise import registry
    from rawdenoise.plugin_records import LOAD_ENV
    from rawdenoise.plugins import discover

    found = discover(refresh=refresh)
    architectures = [
        {
            "name": e.item.name,
            "qualified": e.qualified,
            "aliases": list(e.item.aliases),
            "plugin": e.plugin.name,
            "factory": e.item.factory,
            "multiple_of": e.item.multiple_of,
            "default_options": dict(e.item.default_options),
            "description": e.item.description,
        }
        for e in registry._unique(registry.ARCHITECTURE, found)
    ]
    profiles = [
        {
            "id": e.item.id,
            "qualified": e.qualified,
            "make": e.item.make,
            "model": e.item.model,
            "plugin": e.plugin.name,
            "source": e.item.source,
        }
        for e in registry._unique(registry.CAMERA_PROFILE, found)
    ]
    return {
        "plugins": [p.to_dict() for p in found.plugins],
        "excluded": [
            {"name": i.name, "distribution": i.distribution, "version": i.version}
            for i in found.excluded
        ],
        "load_plugins": os.environ.get(LOAD_ENV),
        "architectures": architectures,
        "camera_profiles": profiles,
        "clashes": registry.clashes(found),
        "errors": found.errors,
        "manifest": {"path": found.manifest, "status": found.manifest_status},
    }


def _print_paths(file_paths: dict[str, str]) -> None:
    width = max(len(k) for k in file_paths)
    for key, value in file_paths.items():
        typer.echo(f"{key:<{width}}  {value}")


def _print_report(payload: dict) -> None:
    say = typer.echo
    say("plugins:")
    for p in payload["plugins"]:
        if p["kind"] == "plugin":
            where = f"{p['distribution']} {p['version']}"
            flags = [p["status"]] + (["editable"] if p["editable"] else [])
            say(f"  {p['name']}  ({where}; {', '.join(flags)}; {p['entry_point']})")
        elif p["kind"] == "user":
            say(f"  {p['name']}  (camera profiles in {payload['paths']['profiles']})")
        else:
            say(f"  {p['name']}  (rawdenoise {p['version']})")
        if p["architectures"]:
            say(f"      architectures:   {', '.join(p['architectures'])}")
        if p["camera_profiles"]:
            say(f"      camera profiles: {', '.join(p['camera_profiles'])}")
        for error in p["errors"]:
            say(f"      error: {error}")
    for item in payload["excluded"]:
        say(
            f"  {item['name']}  ({item['distribution']} {item['version']}; not loaded: "
            f"not in RAWDENOISE_LOAD_PLUGINS)"
        )
    if payload["clashes"]:
        say("name clashes:")
        for c in payload["clashes"]:
            chosen = c["resolves_to"] or "ambiguous: use PLUGIN:NAME"
            say(f"  {c['kind']} {c['name']!r}: {', '.join(c['providers'])} -> {chosen}")
    say("files:")
    paths = dict(payload["paths"])
    paths["plugin_manifest"] = f"{payload['manifest']['path']} ({payload['manifest']['status']})"
    width = max(len(k) for k in paths)
    for key, value in paths.items():
        say(f"  {key:<{width}}  {value}")
