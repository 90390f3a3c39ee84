"""Fine-tuning presets, and which one a device gets when the user names none.

``paper`` is LED's schedule: 1000 alignment + 500 aux iterations on 1024 px crops. On a GPU
that is minutes; on a CPU it is hours (a 2-core CPU: about 0.12 iterations a second, 3.5 h;
tests/benchmarks/finetune.py), so a CPU gets ``quick`` (150 + 50 iterations of 256 px crops at
LED's learning rates, a minute or two) unless ``--preset paper`` asks for LED's.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

#: LED's settings (``paper``) and a CPU-sized run (``quick``): 256 px crops and 150 + 50 steps
#: at LED's learning rates, which did better than 10x larger ones on the bundled default model
#: (tests/benchmarks/finetune.py).
PRESETS: Mapping[str, Mapping[str, Any]] = {
    "paper": {"iterations": (1000, 500), "lr": (1e-4, 1e-5), "crop": 1024, "batch": 1},
    "quick": {"iterations": (150, 50), "lr": (1e-4, 1e-5), "crop": 256, "batch": 1},
}


def _summary(name: str) -> str:
    p = PRESETS[name]
    align, aux = p["iterations"]
    return f"{align} + {aux} iterations of {p['crop']} px crops"


def choose_preset(device_type: str) -> tuple[str, str]:
    """(preset, why) for a device type (``cpu``, ``cuda``, ``mps``) when none was named."""
    if device_type == "cpu":
        return "quick", (
            f"chosen for the CPU: {_summary('quick')}, minutes; LED's 'paper' preset "
            f"({_summary('paper')}) takes hours on a CPU (--preset paper to use it anyway)"
        )
    return "paper", (
        f"LED's settings, chosen for the GPU ({device_type}): {_summary('paper')} "
        "(--preset quick for a short trial run)"
    )


def format_duration(seconds: float) -> str:
    """``42 s``, ``3 min``, ``1 h 20 min``: a rough duration for an estimate."""
    seconds = max(float(seconds), 0.0)
    if seconds < 90:
        return f"{seconds:.0f} s"
    minutes = round(seconds / 60)
    if minutes < 90:
        return f"{minutes} min"
    hours, rest = divmod(minutes, 60)
    return f"{hours} h {rest} min" if rest else f"{hours} h"
