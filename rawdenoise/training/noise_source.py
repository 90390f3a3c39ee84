"""Where pretraining noise comes from: virtual cameras, one calibrated profile, or dark frames.

A :class:`NoiseSource` wraps a :class:`rawdenoise.noise.NoisyPairGenerator` with the DN scale
its parameters are expressed in and the number of RepNR branches it needs (one per camera).

The scale: LED's virtual-camera and published parameters are in DN of 14-bit sensors (SID's
Sony A7S2: white 16383, black 512), so virtual cameras and profiles without levels use that
scale whatever the clean frames' bit depth, and the noise a model learns does not depend on
which clean frames it was trained on. Dark frames bring their own camera's levels.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from rawdenoise.errors import InputError, UsageError

#: White minus black of LED's reference sensor (SID Sony A7S2, 14 bit: 16383 - 512).
REFERENCE_SCALE = 16383.0 - 512.0


@dataclass
class NoiseSource:
    generator: Any  #: rawdenoise.noise.NoisyPairGenerator
    scale: tuple[float, float, float, float]
    kind: str  #: "virtual", "profile", "learned" or "dark-frames"
    description: str
    branches: int
    metadata: dict[str, Any] = field(default_factory=dict)

    def __call__(
        self,
        clean: torch.Tensor,
        ratio: torch.Tensor,
        camera: int,
        generator: torch.Generator,
    ) -> tuple[torch.Tensor, torch.Tensor]:
        # (1, 4): per channel whatever the batch size ((4,) would be per image for a batch of 4)
        scale = torch.tensor([self.scale], dtype=clean.dtype, device=clean.device)
        pair = self.generator(
            clean, scale, ratio.to(clean.device), camera=camera, generator=generator
        )
        return pair[0], pair[1]


def virtual_source(
    count: int,
    seed: int,
    noise_type: str = "ptrqc",
    *,
    cameras: Mapping[str, Any] | None = None,
) -> NoiseSource:
    """LED's ``count`` virtual cameras (colour biases drawn from ``seed``: reproducible).

    ``cameras``: the saved parameters of an earlier run's ``count`` cameras (a model's
    ``virtual_camera_params``) to reuse instead of drawing new ones.
    """
    from rawdenoise.noise import NoisyPairGenerator
    from rawdenoise.training.seeding import derive_seed

    if count < 1:
        raise UsageError("--virtual-cameras must be at least 1")
    if cameras is not None:
        gen = NoisyPairGenerator.virtual_from_state(cameras, noise_type=noise_type)
        origin = "the initial model's"
    else:
        g = torch.Generator().manual_seed(derive_seed(seed, 0xCA3E7A5))
        gen = NoisyPairGenerator.virtual(count, noise_type=noise_type, generator=g)
        origin = "LED coverage"
    state = {k: v.tolist() for k, v in gen.source.state_dict().items()}
    return NoiseSource(
        generator=gen,
        scale=(REFERENCE_SCALE,) * 4,
        kind="virtual",
        description=f"{count} virtual cameras ({origin}, {noise_type})",
        branches=count,
        metadata={"virtual_cameras": count, "virtual_camera_params": state},
    )


def _profile_scale(profile: Any) -> tuple[float, float, float, float]:
    if profile.white_level is not None and profile.black_level is not None:
        bl = list(profile.black_level) * (4 if len(profile.black_level) == 1 else 1)
        return tuple(float(profile.white_level) - float(b) for b in bl)  # type: ignore[return-value]
    return (REFERENCE_SCALE,) * 4


def profile_source(camera_id: str, noise_type: str = "ptrqc") -> NoiseSource:
    """The calibrated noise of one camera profile over its whole K range."""
    from rawdenoise.noise import NoisyPairGenerator
    from rawdenoise.registry import get_camera_profile

    profile = get_camera_profile(camera_id)
    gen = NoisyPairGenerator.from_profile(profile, noise_type=noise_type)
    return NoiseSource(
        generator=gen,
        scale=_profile_scale(profile),
        kind="profile",
        description=f"camera profile {profile.id} ({profile.make} {profile.model}, {noise_type})",
        branches=1,
        metadata={"camera_profile": profile.id},
    )


def learned_noise_source(camera_id: str, noise_type: str = "pq") -> NoiseSource:
    """Shot noise with the profile's K plus its learned dark noise (``calibrate --learn-noise``)."""
    from rawdenoise.noise import NoisyPairGenerator
    from rawdenoise.noise.learned import LearnedNoise
    from rawdenoise.registry import get_camera_profile

    profile = get_camera_profile(camera_id)
    if not profile.learned_noise:
        raise UsageError(
            f"the camera profile {profile.id!r} has no learned noise model",
            hint="run rawdenoise calibrate --dark DIR --flat DIR --learn-noise for this camera",
        )
    model = LearnedNoise.load(Path(profile.learned_noise))
    gen = NoisyPairGenerator.from_learned(model, profile, noise_type=noise_type)
    scale = _profile_scale(profile)
    info = model.info
    if (profile.white_level is None or profile.black_level is None) and info.get("black_level"):
        white = float(info.get("white_level", REFERENCE_SCALE + 512))
        scale = tuple(white - float(b) for b in info["black_level"])  # type: ignore[assignment]
    isos = ", ".join(f"{i:g}" for i in model.isos)
    return NoiseSource(
        generator=gen,
        scale=scale,
        kind="learned",
        description=f"camera profile {profile.id}: shot noise + learned dark noise (ISO {isos})",
        branches=1,
        metadata={"camera_profile": profile.id, "learned_noise_isos": list(model.isos)},
    )


def dark_frame_source(folder: Path, camera_id: str | None) -> NoiseSource:
    """Shot noise plus crops of the real dark frames in ``folder`` (K from a camera profile)."""
    from rawdenoise.exif import read_exif
    from rawdenoise.noise import DarkFrameBank, NoisyPairGenerator
    from rawdenoise.rawio import read_raw
    from rawdenoise.registry import find_camera_profile, get_camera_profile
    from rawdenoise.training.frames import list_raw_inputs

    files = list_raw_inputs([folder])
    first = read_raw(files[0])
    if camera_id is not None:
        profile = get_camera_profile(camera_id)
    else:
        info = read_exif(files[0])
        profile = find_camera_profile(info.make, info.model)
        if profile is None:
            raise UsageError(
                f"no camera profile for the dark frames' camera ({first.camera or 'unknown'}): "
                "their system gain K is unknown",
                hint="calibrate the camera (rawdenoise calibrate) and pass --camera ID",
            )
    try:
        bank = DarkFrameBank.from_files(files)
        gen = NoisyPairGenerator.from_dark_frames(bank, profile)
    except ValueError as exc:
        raise InputError(f"dark frames in {folder}: {exc}") from exc
    scale = tuple(float(w - b) for w, b in zip(first.white_level, first.black_level, strict=True))
    isos = ", ".join(f"{i:g}" for i in bank.isos)
    return NoiseSource(
        generator=gen,
        scale=scale,  # type: ignore[arg-type]
        kind="dark-frames",
        description=f"{len(files)} dark frames of {first.camera} (ISO {isos}) + shot noise",
        branches=1,
        metadata={
            "dark_frames": len(files),
            "dark_frame_isos": list(bank.isos),
            "camera_profile": profile.id,
        },
    )


def crop_limit(source: NoiseSource) -> int | None:
    """The largest square crop the source can noise (dark frames bound it)."""
    if source.kind != "dark-frames":
        return None
    h, w = source.generator.source.bank.frame_shape
    return min(h, w)
