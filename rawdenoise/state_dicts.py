"""Recognising a state dict: plain or RepNR (and how many camera branches), which
architecture it is for and with which options, loaded strictly with messages that name the
mismatching keys."""

from __future__ import annotations

import re
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from rawdenoise.errors import ModelFileError, PluginError, UsageError
from rawdenoise.specs import ArchitectureSpec

if TYPE_CHECKING:
    import torch
    from torch import nn


_SHOW = 4  # keys named in a mismatch message, per list


def is_repnr_state(state: Mapping[str, Any]) -> bool:
    return any(k.endswith(".main_weight") for k in state)


def repnr_branches(state: Mapping[str, Any]) -> int:
    """Camera branches of a RepNR state (the align lists hold branches + 1 entries)."""
    found = [
        int(m.group(1))
        for k in state
        if (m := re.search(r"\.align_weights\.(\d+)$", k)) is not None
    ]
    if not found:
        raise ModelFileError("RepNR state without alignment parameters (align_weights.N)")
    return max(found)


def _weight(state: Mapping[str, Any], name: str) -> Any:
    return state.get(f"{name}.weight", state.get(f"{name}.main_weight"))


def infer_options(factory: str, state: Mapping[str, Any]) -> dict[str, Any]:
    """Options of the built-in UNet/TinyNet that a state dict implies (channels, in/out)."""
    first, last = {
        "rawdenoise.networks.unet:UNet": ("conv1_1", "conv10_1"),
        "rawdenoise.networks.tiny:TinyNet": ("conv1", "conv_out"),
    }.get(factory, (None, None))
    if first is None:
        return {}
    w_in, w_out = _weight(state, first), _weight(state, last)
    if w_in is None or w_out is None or w_in.ndim != 4 or w_out.ndim != 4:
        return {}
    opts: dict[str, Any] = {"channels": int(w_in.shape[0])}
    if w_in.shape[1] != 4:
        opts["in_channels"] = int(w_in.shape[1])
    if w_out.shape[0] != 4:
        opts["out_channels"] = int(w_out.shape[0])
    if (
        factory.endswith("TinyNet")
        and f"{first}.bias" not in state
        and "conv1.main_bias" not in state
    ):
        opts["bias"] = False
    return opts


def describe_state(state: Mapping[str, Any]) -> str:
    """What architecture a state dict looks like, for error messages."""
    repnr = " (RepNR state)" if is_repnr_state(state) else ""
    keys = set(state)
    w = _weight(state, "conv1_1")
    if w is not None and ({"conv10_1.weight", "conv10_1.main_weight"} & keys):
        return f"an LED/SID UNet with channels={int(w.shape[0])}{repnr}"
    w = _weight(state, "conv1")
    if w is not None and "conv_out.weight" in keys:
        return f"the tiny test network with channels={int(w.shape[0])}{repnr}"
    if {"intro.weight", "ending.weight"} <= keys or "intro.main_weight" in keys:
        return f"LED's NAFNet{repnr}"
    if "patch_embed.proj.weight" in keys or "patch_embed.proj.main_weight" in keys:
        return f"LED's Restormer{repnr}"
    first = ", ".join(list(state)[:_SHOW])
    return f"an unknown architecture{repnr} (first keys: {first})"


def _guess_architecture(state: Mapping[str, Any]) -> str | None:
    keys = set(state)
    if {"conv10_1.weight"} & keys and _weight(state, "conv1_1") is not None:
        return "unet"
    if "conv_out.weight" in keys and _weight(state, "conv1") is not None:
        return "tiny"
    return None


def _ratio_from_name(name: str) -> tuple[float, float] | None:
    m = re.search(r"ratio[_-]?(\d+(?:\.\d+)?)[-_](\d+(?:\.\d+)?)", name, re.IGNORECASE)
    if m is None:
        return None
    lo, hi = float(m.group(1)), float(m.group(2))
    return (lo, hi) if 0 < lo <= hi else None


# --------------------------------------------------------------------------- loading


def _short(keys: list[str]) -> str:
    more = f" (+{len(keys) - _SHOW} more)" if len(keys) > _SHOW else ""
    return ", ".join(keys[:_SHOW]) + more


def load_state_strict(
    module: nn.Module, state: Mapping[str, torch.Tensor], *, path: Path, arch: str, options: dict
) -> None:
    """``load_state_dict(strict=True)`` with one readable :class:`ModelFileError` line."""
    expected = module.state_dict()
    missing = [k for k in expected if k not in state]
    unexpected = [k for k in state if k not in expected]
    shapes = [
        f"{k} {tuple(state[k].shape)} vs {tuple(v.shape)}"
        for k, v in expected.items()
        if k in state and tuple(state[k].shape) != tuple(v.shape)
    ]
    if missing or unexpected or shapes:
        opts = ", ".join(f"{k}={v}" for k, v in options.items())
        parts = [f"missing keys: {_short(missing)}"] if missing else []
        if unexpected:
            parts.append(f"unexpected keys: {_short(unexpected)}")
        if shapes:
            parts.append(f"shape mismatch (file vs network): {_short(shapes)}")
        raise ModelFileError(
            f"{path.name} does not fit architecture {arch!r} ({opts or 'defaults'}): it looks "
            f"like {describe_state(state)}; " + "; ".join(parts),
            hint="pass --arch NAME and --option KEY=VALUE matching the file",
        )
    module.load_state_dict(dict(state), strict=True)


def _blame_file_options(
    exc: UsageError | PluginError,
    path: Path,
    spec: ArchitectureSpec,
    opts: Mapping[str, Any],
    user_options: Mapping[str, Any] | None,
) -> Exception:
    """``exc`` (building the network failed), or a :class:`ModelFileError` when the options
    that came from the file (its metadata, or read from its weights), not the user's
    ``--option``, are what the architecture refuses."""
    from rawdenoise.registry import create_network

    user = dict(user_options or {})
    from_file = {k: v for k, v in opts.items() if k not in user}
    defaults = spec.default_options
    if not any(k not in defaults or defaults[k] != v for k, v in from_file.items()):
        return exc  # nothing of the file's own: the user's options or a broken architecture

    def builds(options: Mapping[str, Any]) -> bool:  # only on this error path
        try:
            create_network(spec, options)
        except (UsageError, PluginError):
            return False
        return True

    if not builds({}):
        return exc  # the architecture fails on its own defaults: a broken plugin
    if user and builds(from_file):
        return exc  # the file's options build: the user's --option is to blame
    return ModelFileError(
        f"{path} stores architecture options that do not work: {exc.message}",
        hint="override a bad value with --option KEY=VALUE, or re-save the model from its source"
        if isinstance(exc, UsageError)
        else "re-save the model from its source",
    )
