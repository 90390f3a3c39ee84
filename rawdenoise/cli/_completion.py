"""Shell-completion callbacks shared by commands.

Each one answers without importing torch or plugin code: names come from the discovery
manifest (:mod:`rawdenoise.plugin_cache`), model names from the models folder, the rest are
fixed lists. Modules are imported only when the shell asks.
"""

from __future__ import annotations

from collections.abc import Callable

#: values of options that take one of a few words
FORMATS = ("png", "tiff", "jpeg", "dng")
DEVICES = ("auto", "cpu", "cuda", "mps")
PRECISIONS = ("fp32", "bf16", "fp16", "auto")
TRAINING_PRECISIONS = ("fp32", "bf16")
PRESETS = ("paper", "quick")


def words(*values: str) -> Callable[[str], list[str]]:
    """A completion callback offering ``values`` that start with what was typed."""

    def complete(incomplete: str) -> list[str]:
        return [v for v in values if v.startswith(incomplete)]

    return complete


complete_format = words(*FORMATS)
complete_device = words(*DEVICES)
complete_precision = words(*PRECISIONS)
complete_training_precision = words(*TRAINING_PRECISIONS)
complete_preset = words(*PRESETS)


def complete_arch(incomplete: str) -> list[str]:
    """Architecture names for ``--arch``, from the discovery manifest (no torch import)."""
    from rawdenoise.name_completion import complete_architectures

    return complete_architectures(incomplete)


def complete_camera_profile(incomplete: str) -> list[str]:
    """Camera profile ids (built-in, plugins, your ``profiles/`` folder) for ``--camera``."""
    from rawdenoise.name_completion import complete_cameras

    return complete_cameras(incomplete)


def complete_model(incomplete: str) -> list[str]:
    """Installed model names for ``--model``: the bundled ones and the models folder's files."""
    from rawdenoise.weights import list_models

    return [name for name, _path in list_models() if name.startswith(incomplete)]


def complete_removable_model(incomplete: str) -> list[str]:
    """The models folder's names for ``models remove`` (bundled models cannot be removed)."""
    from rawdenoise.model_names import bundled_models

    return [name for name in complete_model(incomplete) if name not in bundled_models()]
