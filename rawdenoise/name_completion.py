"""Architecture and camera profile names for shell completion, from the plugin manifest
(:mod:`rawdenoise.plugin_cache`) through the registry: no plugin code, no torch.
:func:`complete_architectures` and :func:`complete_cameras` are ready for Typer's
``autocompletion=``."""

from __future__ import annotations


def _names(kind: str) -> list[str]:
    from rawdenoise import registry

    try:
        return registry.names(kind, quiet=True)
    except Exception:  # completion must never print a traceback into the shell
        return []


def complete_architectures(incomplete: str = "") -> list[str]:
    """Architecture names, aliases and ``plugin:name`` forms starting with ``incomplete``.

    Reads the manifest (plus built-ins and editable plugins, whose entry modules import no
    torch); suitable for ``typer.Option(..., autocompletion=complete_architectures)``.
    """
    return [n for n in _names("architecture") if n.startswith(incomplete)]


def complete_cameras(incomplete: str = "") -> list[str]:
    """Camera profile ids (and ``plugin:id`` forms) starting with ``incomplete``."""
    return [n for n in _names("camera profile") if n.startswith(incomplete)]
