"""Entry module (group ``rawdenoise``): registers the ``nafnet`` architecture.

No torch here: rawdenoise imports this module to list plugins and to complete ``--arch``; the
factory string is resolved only when a network is built.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from rawdenoise import hookimpl
from rawdenoise.specs import ArchitectureSpec

NAFNET = ArchitectureSpec(
    name="nafnet",
    factory="rawdenoise_nafnet.network:NAFNet",
    aliases=("naf",),
    in_channels=4,
    out_channels=4,
    # four 2x downsamplings: the network pads to a multiple of 16 itself, and tiles of a
    # multiple of 16 avoid that padding
    multiple_of=16,
    default_options={
        "width": 32,
        "enc_blocks": [2, 2, 2, 2],
        "middle_blocks": 2,
        "dec_blocks": [2, 2, 2, 2],
    },
    description="NAFNet (simple gate, simplified channel attention) for packed RAW; ~7.6M params",
    # RepNR leaves the output conv and the resampling convs plain (depthwise convs it skips)
    repnr_exclude=("ending", "downconv", "upconv", "dwconv"),
)


@hookimpl
def register_architectures(register: Callable[[Any], None]) -> None:
    register(NAFNET)
