"""Checkpoints that are not our model files: LED's ``.pth`` (method.md §2.3), plain state
dicts, and rawdenoise's own training checkpoints, read with ``torch.load(weights_only=True)``
only, so a pickle holding anything but tensors and plain containers is refused.

LED checkpoints are ``torch.save`` dicts with ``params_deploy``, ``params_ema`` and/or
``params`` (picked in that order), possibly with ``module.`` prefixes, holding either a plain
UNet state dict or RepNR keys (``main_weight``, ``align_weights.N``, ...).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from rawdenoise.errors import ModelFileError, PluginError
from rawdenoise.specs import ModelInfo

if TYPE_CHECKING:
    import torch

from rawdenoise.checkpoint_format import FORMAT as CHECKPOINT_FORMAT
from rawdenoise.checkpoint_format import is_newer, torch_load_reason
from rawdenoise.state_dicts import _SHOW, _short

#: LED's param keys, in the order we prefer them.
LED_PARAM_KEYS = ("params_deploy", "params_ema", "params")


#: ``_read_torch``'s param key for one of rawdenoise's own training checkpoints
CHECKPOINT_KEY = "checkpoint"


def _read_torch(path: Path) -> tuple[dict[str, torch.Tensor], str | None, Mapping[str, Any]]:
    """An LED/PyTorch checkpoint's state dict (weights_only), the param key picked and the
    whole object (a rawdenoise training checkpoint's fingerprint, extra and iteration)."""
    import pickle

    import torch

    try:
        obj = torch.load(str(path), map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as exc:
        text = str(exc)
        found = re.search(r"GLOBAL (\S+)", text)
        if found or re.search(r"unsupported (global|class)", text, re.IGNORECASE):
            what = f" ({found.group(1)})" if found else ""
            raise ModelFileError(
                f"{path} holds Python objects{what}, not just tensors; refused: rawdenoise "
                "never unpickles code",
                hint="re-save it as a plain dict of tensors (state_dict), or as safetensors",
            ) from None
        raise ModelFileError(
            f"{path} is not a PyTorch checkpoint or is corrupt ({torch_load_reason(exc)})"
        ) from None
    except Exception as exc:  # the unpickler raises KeyError, IndexError, ... on garbage
        raise ModelFileError(
            f"{path} is not a PyTorch checkpoint or is corrupt ({torch_load_reason(exc)})"
        ) from None
    if not isinstance(obj, Mapping):
        raise ModelFileError(
            f"{path} holds a {type(obj).__name__}, not a dict of tensors; refused",
            hint="a checkpoint must be a state_dict or LED's {'params': state_dict, ...}",
        )
    if obj.get("format") == CHECKPOINT_FORMAT:
        if is_newer(obj):
            raise ModelFileError(
                f"{path} is a training checkpoint from a newer rawdenoise",
                hint="upgrade rawdenoise",
            )
        if isinstance(obj.get("model"), Mapping):
            _check_tensor_dict(path, obj["model"], "model")
            return dict(obj["model"]), CHECKPOINT_KEY, obj
    key = next((k for k in LED_PARAM_KEYS if isinstance(obj.get(k), Mapping)), None)
    if key is None and isinstance(obj.get("state_dict"), Mapping):
        key = "state_dict"
    state = obj[key] if key is not None else obj
    _check_tensor_dict(path, state, key)
    return _strip_prefixes(state), key, obj


def _info_from_checkpoint(path: Path, ckpt: Mapping[str, Any]) -> ModelInfo | None:
    """What an unfinished run's checkpoint says about its model; ``None`` when it names no
    architecture (finetune checkpoints written before ``extra`` held it: known by their keys).
    """
    fingerprint = ckpt.get("fingerprint") if isinstance(ckpt.get("fingerprint"), Mapping) else {}
    extra = ckpt.get("extra") if isinstance(ckpt.get("extra"), Mapping) else {}
    arch = extra.get("arch", fingerprint.get("arch"))
    if not isinstance(arch, str) or not arch:
        return None
    options = extra.get("options", fingerprint.get("options"))
    ratio = fingerprint.get("ratio_range")
    command = str(fingerprint.get("command", "training"))
    iteration, total = ckpt.get("iteration"), fingerprint.get("iterations")
    total = sum(total) if isinstance(total, list) else total
    try:
        return ModelInfo(
            architecture=arch,
            options=dict(options) if isinstance(options, Mapping) else {},
            name=path.stem,
            ratio_range=(float(ratio[0]), float(ratio[1])) if isinstance(ratio, list) else None,
            trained_on=f"unfinished {command} run, checkpoint at iteration {iteration}/{total}",
            extra={
                **{k: v for k, v in fingerprint.items() if k not in ("arch", "options")},
                **{k: v for k, v in extra.items() if k not in ("arch", "options")},
                "source": "checkpoint",
                "iterations_done": iteration,
            },
        )
    except (PluginError, TypeError, ValueError) as exc:
        raise ModelFileError(f"{path}: invalid training checkpoint: {exc}") from exc


def _check_tensor_dict(path: Path, state: Mapping[Any, Any], key: str | None) -> None:
    import torch

    where = f"{path} [{key!r}]" if key else str(path)
    if not state:
        raise ModelFileError(f"{where} holds no tensors")
    for k, v in state.items():
        if not isinstance(k, str) or not isinstance(v, torch.Tensor):
            top = ", ".join(repr(k) for k in list(state)[:_SHOW])
            raise ModelFileError(
                f"{where} is not a plain tensor dict (entry {k!r} holds a "
                f"{type(v).__name__}; keys: {top}); refused",
                hint="a checkpoint must be a state_dict or LED's {'params': state_dict, ...}",
            )


def _check_finite(path: Path, state: Mapping[str, torch.Tensor]) -> None:
    """Refuse weights holding NaN or infinity: such a network writes garbage (a NaN channel
    becomes black or white after clipping) with nothing to say it went wrong."""
    import torch

    bad = [
        k
        for k, v in state.items()
        if v.is_floating_point() or v.is_complex()
        if not bool(torch.isfinite(v).all())
    ]
    if bad:
        raise ModelFileError(
            f"{path} holds non-finite weights (NaN or infinity) in {_short(bad)}; refused",
            hint="the file is damaged, or was saved from a run that diverged; use another model",
        )


def _strip_prefixes(state: Mapping[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    out = {}
    for k, v in state.items():
        for prefix in ("module.", "_orig_mod."):
            while k.startswith(prefix):
                k = k[len(prefix) :]
        out[k] = v
    return out
