"""What identifies a file as one of rawdenoise's training checkpoints, and how to say why
``torch.load`` refused a file. Shared by the training checkpoints
(:mod:`rawdenoise.training.checkpoint`) and model loading (:mod:`rawdenoise.foreign_checkpoints`),
which both read such files; no torch import."""

from __future__ import annotations

import re
from typing import Any

FORMAT = "rawdenoise-checkpoint"
VERSION = 1


def is_newer(data: Any) -> bool:
    """Whether a loaded checkpoint object was written by a newer checkpoint format version
    (whose fields this rawdenoise may misread, so it is refused rather than guessed at)."""
    try:
        return int(data.get("version", 0)) > VERSION
    except (TypeError, ValueError):
        return True


def torch_load_reason(exc: BaseException) -> str:
    """One line saying why ``torch.load`` failed.

    Its unpickling errors span several lines of advice (e.g. to retry with
    ``weights_only=False``, which rawdenoise never does); keep the line that says what is wrong.
    """
    text = str(exc)
    detail = re.search(r"WeightsUnpickler error:\s*(.+)", text)
    lines = text.strip().splitlines()
    line = detail.group(1).strip() if detail else (lines[0].strip() if lines else "")
    return f"{type(exc).__name__}: {line}" if line else type(exc).__name__
