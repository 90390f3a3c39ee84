"""Reproducible randomness driven by (seed, iteration), never by wall clock or worker order.

Every iteration gets fresh generators seeded from ``(seed, iteration[, rank])``. A run resumed
from a checkpoint at iteration ``i`` therefore draws exactly the crops, flips, ratios, camera
ids and noise that an uninterrupted run draws from iteration ``i`` on, and the final weights
are identical (bit-exact on CPU).
"""

from __future__ import annotations

import random
from dataclasses import dataclass

import numpy as np
import torch

_MASK63 = (1 << 63) - 1


def derive_seed(*keys: int) -> int:
    """A 63-bit seed mixed from integer ``keys`` (numpy SeedSequence: well spread)."""
    words = np.random.SeedSequence([int(k) & 0xFFFFFFFFFFFFFFFF for k in keys]).generate_state(
        2, dtype=np.uint32
    )
    return ((int(words[0]) << 32) | int(words[1])) & _MASK63


def seed_everything(seed: int) -> None:
    """Seed Python, numpy and torch's global generators (model initialisation uses them)."""
    random.seed(seed)
    np.random.seed(seed % (1 << 32))
    torch.manual_seed(seed)


@dataclass
class IterationRng:
    """The generators one iteration may use.

    ``shared`` is identical on every DDP rank (e.g. the virtual camera id, which selects the
    RepNR branch); ``local`` differs per rank (crops, flips, ratios); ``device`` is ``local``'s
    counterpart on the training device, for noise drawn there.
    """

    shared: torch.Generator
    local: torch.Generator
    device: torch.Generator


def iteration_rng(seed: int, iteration: int, rank: int, device: torch.device) -> IterationRng:
    shared = torch.Generator().manual_seed(derive_seed(seed, iteration, 0x5EED))
    local = torch.Generator().manual_seed(derive_seed(seed, iteration, rank + 1))
    if device.type == "cpu":
        dev = torch.Generator().manual_seed(derive_seed(seed, iteration, rank + 1, 0xDE))
    else:
        dev = torch.Generator(device=device).manual_seed(
            derive_seed(seed, iteration, rank + 1, 0xDE)
        )
    return IterationRng(shared=shared, local=local, device=dev)


def rng_state() -> dict:
    """Global generator states, saved in checkpoints (weights_only-loadable types only)."""
    return {"torch": torch.get_rng_state(), "python": repr(random.getstate())}


def restore_rng_state(state: dict) -> None:
    import ast

    if "torch" in state:
        torch.set_rng_state(state["torch"])
    if "python" in state:
        value = ast.literal_eval(state["python"])
        random.setstate((value[0], tuple(value[1]), value[2]))
