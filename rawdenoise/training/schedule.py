"""Learning-rate schedules as pure functions of the iteration (so resuming needs no state)."""

from __future__ import annotations

import math

from rawdenoise.errors import UsageError

SCHEDULES = ("constant", "cosine")


def lr_factor(
    kind: str, iteration: int, total: int, *, warmup: int = 0, final: float = 0.0
) -> float:
    """Multiplier of the base learning rate at 0-based ``iteration`` of ``total``.

    ``constant``: linear warm-up over ``warmup`` iterations, then 1. ``cosine``: the same
    warm-up, then a half cosine from 1 down to ``final`` at the last iteration.
    """
    if kind not in SCHEDULES:
        raise UsageError(f"unknown schedule {kind!r}", hint=f"use one of {', '.join(SCHEDULES)}")
    if warmup > 0 and iteration < warmup:
        return (iteration + 1) / warmup
    if kind == "constant":
        return 1.0
    span = max(total - warmup - 1, 1)
    progress = min(max((iteration - warmup) / span, 0.0), 1.0)
    return final + (1.0 - final) * 0.5 * (1.0 + math.cos(math.pi * progress))
