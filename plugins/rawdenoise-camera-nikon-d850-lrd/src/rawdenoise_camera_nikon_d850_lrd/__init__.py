"""LRD's Nikon D850 noise profile for rawdenoise (entry module; pure data, no torch).

Source: LRD (Zhang et al., "Towards General Low-Light Raw Noise Synthesis and Modeling",
ICCV 2023), github.com/fengzhang427/LRD ``noise_profile/noise_profile_SonyA7S2.py``,
``get_camera_noisy_params`` entry ``NikonD850``::

    Kmin 1.2, Kmax 2.4828 (natural log of K), lam -0.26, q 1/2^14, wp 16383, bl 512,
    sigTL k 0.906 b -0.6754 sig 0.035165; sigR k 0.8322 b -2.3326 sig 0.301333;
    sigGs k 0.8322 b -0.1754 sig 0.035165

Conversion to rawdenoise's ``NoiseParams`` (method.md §5 layout, natural logs, DN of the 14-bit
raw scale): ``k_min = exp(Kmin)``, ``k_max = exp(Kmax)``; each ``sig*`` line becomes a
``LogLinear(slope=k, bias=b, sigma=sig)`` (TL -> ``tukey``, Gs -> ``gaussian``, R -> ``row``);
the single Tukey lambda becomes a one-element ``tukey_lambdas``. LRD has no colour-bias table.
LRD's ``wp``/``bl`` are its own pipeline's levels, not the camera's, so no level override is set:
rawdenoise reads black and white levels from each NEF.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

from rawdenoise import hookimpl
from rawdenoise.specs import CameraProfile, LogLinear, NoiseParams

__version__ = "0.1.0"

SOURCE = (
    "LRD (ICCV 2023) github.com/fengzhang427/LRD noise_profile/noise_profile_SonyA7S2.py "
    "get_camera_noisy_params['NikonD850'] (log K range exponentiated)"
)

PROFILE = CameraProfile(
    id="nikon-d850-lrd",
    make="NIKON CORPORATION",
    model="NIKON D850",
    aliases=("Nikon D850",),
    cfa="RGGB",
    noise=NoiseParams(
        k_min=math.exp(1.2),
        k_max=math.exp(2.4828),
        tukey=LogLinear(slope=0.906, bias=-0.6754, sigma=0.035165),
        gaussian=LogLinear(slope=0.8322, bias=-0.1754, sigma=0.035165),
        row=LogLinear(slope=0.8322, bias=-2.3326, sigma=0.301333),
        tukey_lambdas=(-0.26,),
    ),
    source=SOURCE,
)


@hookimpl
def register_camera_profiles(register: Callable[[Any], None]) -> None:
    register(PROFILE)
