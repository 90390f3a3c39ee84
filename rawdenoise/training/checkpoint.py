"""Training checkpoints: model, optimizer, schedule, RNG states and iteration, written atomically.

A checkpoint also records a *fingerprint* of the settings that shape the result (architecture,
iterations, learning rates, crop, batch, seed, data). ``--resume`` refuses a checkpoint whose
fingerprint differs, naming the settings that changed, because continuing it would silently
produce a model nobody asked for.
"""

from __future__ import annotations

import contextlib
import io
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from rawdenoise.atomic import write_bytes_atomic
from rawdenoise.checkpoint_format import FORMAT, VERSION, is_newer, torch_load_reason
from rawdenoise.errors import InputError, OutputExistsError, UsageError


def checkpoint_path(command: str, name: str) -> Path:
    """Where ``command``'s run for model ``name`` keeps its checkpoint (user data dir)."""
    from rawdenoise.dirs import data_dir

    return data_dir() / "checkpoints" / f"{command}-{name}.ckpt"


def run_lock(command: str, name: str) -> contextlib.AbstractContextManager[None]:
    """Keeps two runs of ``command`` for the model ``name`` apart (:mod:`rawdenoise.runlock`).

    Only the first process of a torchrun job (``RANK`` 0) takes it: the others write nothing.
    """
    from rawdenoise.model_names import check_model_name
    from rawdenoise.runlock import run_lock as lock

    check_model_name(name)
    if os.environ.get("RANK", "0").strip() not in ("0", ""):
        return contextlib.nullcontext()
    what = {"pretrain": "pretraining", "finetune": "fine-tune"}.get(command, command)
    return lock(checkpoint_path(command, name).with_suffix(".lock"), f"{what} of {name!r}")


def refuse_stale_checkpoint(
    path: Path, what: str, name: str, *, resume: bool, start_over: bool
) -> None:
    """A fresh run must not silently discard hours of an interrupted one (a file in the way)."""
    if path.exists() and not resume and not start_over:
        raise OutputExistsError(
            f"an interrupted {what} of {name!r} left a checkpoint ({path})",
            hint="pass --resume to continue it, or --overwrite to start over",
            path=path,
        )


@dataclass
class Checkpoint:
    """Everything needed to continue a run exactly where it stopped."""

    iteration: int  #: iterations completed, counted over all stages
    stage: int  #: index of the stage the next iteration belongs to
    model: dict[str, torch.Tensor]
    optimizer: dict[str, Any] | None
    fingerprint: dict[str, Any]
    schedule: dict[str, Any] = field(default_factory=dict)
    rng: dict[str, Any] = field(default_factory=dict)
    extra: dict[str, Any] = field(default_factory=dict)


def save_checkpoint(path: Path, ckpt: Checkpoint) -> None:
    payload = {
        "format": FORMAT,
        "version": VERSION,
        "iteration": ckpt.iteration,
        "stage": ckpt.stage,
        "model": {k: v.detach().cpu() for k, v in ckpt.model.items()},
        "optimizer": ckpt.optimizer,
        "fingerprint": ckpt.fingerprint,
        "schedule": ckpt.schedule,
        "rng": ckpt.rng,
        "extra": ckpt.extra,
    }
    # serialized in memory and written by Python: torch.save reports a full disk as a
    # RuntimeError ("unexpected pos"), which would not become the one-line error (exit 5)
    buffer = io.BytesIO()
    torch.save(payload, buffer)
    write_bytes_atomic(path, buffer.getvalue(), overwrite=True)


def load_checkpoint(path: Path, fingerprint: dict[str, Any] | None = None) -> Checkpoint:
    """Read ``path``; with ``fingerprint``, refuse a checkpoint made with other settings."""
    try:
        data = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # torch raises many types on damaged files
        raise InputError(
            f"{path}: cannot read the checkpoint ({torch_load_reason(exc)})",
            hint="delete it to start over",
        ) from exc
    if not isinstance(data, dict) or data.get("format") != FORMAT:
        raise InputError(f"{path}: not a rawdenoise training checkpoint")
    if is_newer(data):
        raise InputError(f"{path}: checkpoint from a newer rawdenoise", hint="upgrade rawdenoise")
    saved = dict(data.get("fingerprint") or {})
    if fingerprint is not None:
        diff = fingerprint_diff(saved, fingerprint)
        if diff:
            raise UsageError(
                f"the checkpoint {path.name} was made with other settings ({'; '.join(diff)})",
                hint="run with the original settings, or without --resume (and with "
                "--overwrite) to start over",
            )
    return Checkpoint(
        iteration=int(data["iteration"]),
        stage=int(data["stage"]),
        model=data["model"],
        optimizer=data.get("optimizer"),
        fingerprint=saved,
        schedule=dict(data.get("schedule") or {}),
        rng=dict(data.get("rng") or {}),
        extra=dict(data.get("extra") or {}),
    )


def fingerprint_diff(saved: dict[str, Any], wanted: dict[str, Any]) -> list[str]:
    """``"key: saved -> wanted"`` for every setting that differs."""
    out = []
    for key in sorted(set(saved) | set(wanted)):
        a, b = saved.get(key), wanted.get(key)
        if _normal(a) != _normal(b):
            out.append(f"{key}: {_short(a)} -> {_short(b)}")
    return out


def _normal(value: Any) -> Any:
    if isinstance(value, (list, tuple)):
        return [_normal(v) for v in value]
    if isinstance(value, dict):
        return {str(k): _normal(v) for k, v in value.items()}
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return value


def _short(value: Any, limit: int = 60) -> str:
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."
