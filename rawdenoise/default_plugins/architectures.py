"""Built-in architectures, registered through the same hook as third-party plugins."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from rawdenoise import hookimpl
from rawdenoise.specs import ArchitectureSpec

UNET = ArchitectureSpec(
    name="unet",
    factory="rawdenoise.networks.unet:UNet",
    multiple_of=16,
    default_options={"channels": 32},
    description="SID/LED U-Net (LED checkpoint keys; the default model's architecture); "
    "-O residual=true adds the input to the output",
    repnr_exclude=("conv10_1",),
    widen="rawdenoise.networks.widen:widen_unet",
)

TINY = ArchitectureSpec(
    name="tiny",
    factory="rawdenoise.networks.tiny:TinyNet",
    multiple_of=4,
    default_options={"channels": 8},
    description="tiny test network: small and fast, for tests and smoke runs only",
    repnr_exclude=("conv_out",),
)

ARCHITECTURES: tuple[ArchitectureSpec, ...] = (UNET, TINY)


@hookimpl
def register_architectures(register: Callable[[Any], None]) -> None:
    for spec in ARCHITECTURES:
        register(spec)
