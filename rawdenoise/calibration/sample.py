"""``calibrate --sample``: synthetic dark frames from a camera profile, written as DNG.

So that a person can open them beside real dark frames in any raw editor. The learned model
(the profile's ``learned_noise``) or the parametric one (the profile's per-ISO values,
interpolated in log ISO between the calibrated ISOs) gives the noise in DN above black; it is
rounded like the ADC's output, the black level added and the frame clipped to the white level.
CFA and levels are the profile's overrides, else those of the dark frames the learned model
was trained on, else a 14-bit camera's (black 512, white 16383).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from rawdenoise.errors import InputError, UsageError
from rawdenoise.specs import CameraProfile

NOISE_KINDS = ("learned", "parametric")
DEFAULT_SIZE = (1024, 1024)


@dataclass(frozen=True)
class SampleSpec:
    iso: float
    count: int
    noise: str = "learned"
    size: tuple[int, int] | None = None  #: (width, height) in RAW pixels
    seed: int = 0


def parse_size(text: str) -> tuple[int, int]:
    """``WxH`` in RAW pixels, both even and positive."""
    try:
        w, h = (int(v) for v in text.lower().split("x"))
    except ValueError:
        raise UsageError(
            f"invalid --size {text!r}", hint="use WIDTHxHEIGHT, e.g. 1024x768"
        ) from None
    if w < 2 or h < 2 or w % 2 or h % 2:
        raise UsageError(f"invalid --size {text!r}: width and height must be even and >= 2")
    return w, h


def resolve_profile(spec: str) -> CameraProfile:
    """A profile JSON file (its ``learned_noise`` relative to it) or a registered profile id."""
    from rawdenoise.default_plugins.user_profiles import with_absolute_learned_noise

    path = Path(spec)
    if path.suffix.lower() == ".json" or path.is_file():
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            raise InputError(f"camera profile not found: {path}") from None
        except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise InputError(f"cannot read the camera profile {path}: {exc}") from None
        if not isinstance(data, dict):
            raise InputError(f"{path} is not a camera profile")
        return with_absolute_learned_noise(CameraProfile.from_dict(data), path.parent)
    from rawdenoise.registry import get_camera_profile

    return get_camera_profile(spec)


def _levels(profile: CameraProfile, info: dict) -> tuple[str, list[float], float]:
    cfa = profile.cfa or info.get("cfa") or "RGGB"
    if profile.black_level is not None:
        black = list(profile.black_level)
    else:
        black = list(info.get("black_level") or [512.0])
    if len(black) == 1:
        black *= 4
    white = float(profile.white_level or info.get("white_level") or 16383)
    return cfa, black, white


def cfa_order(black: list[float], cfa: str) -> list[float]:
    """Packed-order (R, G1, B, G2) black levels in the 2x2 CFA repeat order a DNG stores."""
    from rawdenoise.bayer import pattern_from_cfa

    pattern = pattern_from_cfa(cfa).reshape(-1)  # colour index at each 2x2 position
    return [float(black[int(colour)]) for colour in pattern]


def sample_noise(profile: CameraProfile, spec: SampleSpec) -> tuple[np.ndarray, dict]:
    """(count, 4, H/2, W/2) DN above black, rounded; and the learned model's info (or {})."""
    if spec.noise not in NOISE_KINDS:
        raise UsageError(f"unknown --noise {spec.noise!r}", hint="use learned or parametric")
    info: dict = {}
    model = None
    if profile.learned_noise:
        from rawdenoise.noise.learned import LearnedNoise

        model = LearnedNoise.load(Path(profile.learned_noise))
        info = model.info
    elif spec.noise == "learned":
        raise UsageError(
            f"the camera profile {profile.id!r} has no learned noise model",
            hint="calibrate with --learn-noise, or sample with --noise parametric",
        )
    w, h = spec.size or tuple(info.get("size") or DEFAULT_SIZE)
    w, h = min(w, 4096), min(h, 4096)  # full frames of big sensors: a crop is enough to look at
    if spec.noise == "learned":
        from rawdenoise.noise.learn_train import sample_frames

        assert model is not None
        # one frame at a time: a full-size frame alone takes the generator a few GB
        frames = [
            sample_frames(model, spec.iso, 1, h // 2, w // 2, seed=spec.seed + i)
            for i in range(spec.count)
        ]
        return np.concatenate(frames), info
    return _parametric(profile, spec, h // 2, w // 2), info


def _parametric(profile: CameraProfile, spec: SampleSpec, h: int, w: int) -> np.ndarray:
    from rawdenoise.noise.parametric_dark import DarkParams, interpolate, sample_parametric

    points = [
        DarkParams(
            iso=p.iso,
            color_bias=p.color_bias or (0.0, 0.0, 0.0, 0.0),
            tl_sigma=p.tl_sigma if p.tl_sigma is not None else p.read_sigma,
            tl_lambda=p.tl_lambda if p.tl_lambda is not None else 0.14,
            row_sigma=p.row_sigma or 0.0,
        )
        for p in profile.iso_points
        if p.iso > 0
    ]
    if not points:
        raise UsageError(
            f"the camera profile {profile.id!r} has no per-ISO values to sample from",
            hint="use a profile written by rawdenoise calibrate",
        )
    return sample_parametric(interpolate(points, spec.iso), spec.count, h, w, seed=spec.seed)


def output_names(profile: CameraProfile, spec: SampleSpec, out_dir: Path) -> list[Path]:
    stem = f"{profile.id}_iso{spec.iso:g}_{spec.noise}"
    return [out_dir / f"{stem}_{i:03d}.dng" for i in range(spec.count)]


def write_samples(
    profile: CameraProfile, spec: SampleSpec, out_dir: Path, *, overwrite: bool = False
) -> list[Path]:
    """Write ``spec.count`` DNG dark frames into ``out_dir``; returns their paths."""
    from rawdenoise.atomic import atomic_paths, check_output
    from rawdenoise.bayer import pattern_from_cfa, unpack_bayer
    from rawdenoise.dng import write_dng

    paths = output_names(profile, spec, out_dir)
    for path in paths:
        check_output(path, overwrite=overwrite)
    noise, info = sample_noise(profile, spec)
    cfa, black, white = _levels(profile, info)
    pattern = pattern_from_cfa(cfa)
    black4 = np.asarray(black, dtype=np.float64)[None, :, None, None]
    frames = np.clip(noise + black4, 0, white).astype(np.uint16)
    with atomic_paths(paths, overwrite=overwrite) as tmps:
        for tmp, frame in zip(tmps, frames, strict=True):
            write_dng(
                tmp,
                unpack_bayer(frame, pattern),
                cfa=cfa,
                black_level=cfa_order(black, cfa),
                white_level=white,
                make=profile.make,
                model=profile.model,
                iso=spec.iso,
                software=f"rawdenoise calibrate --sample ({spec.noise} noise)",
            )
    return paths
