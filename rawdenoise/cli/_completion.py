"""Shell-completion callbacks shared by commands (plugin_cache imported only when completing)."""

from __future__ import annotations


def complete_arch(incomplete: str) -> list[str]:
    """Architecture names for ``--arch``, from the discovery manifest (no torch import)."""
    from rawdenoise.plugin_cache import complete_architectures

    return complete_architectures(incomplete)
