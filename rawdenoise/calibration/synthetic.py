"""Synthetic calibration shoots: dark and flat DNG files from known noise parameters.

Used by the round-trip tests and ``tests/benchmarks/calibration_accuracy.py``: the noise comes
from :mod:`rawdenoise.noise` (shot, read, row, colour bias) and the ADC's rounding is the real
one (values are rounded to integers when written), so the files look like a camera's. Flats
carry vignetting and a fixed per-pixel gain (PRNU) that the temporal pair method must cancel;
one flat level can be set near saturation to exercise the clipping checks.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from rawdenoise.bayer import pattern_from_cfa, unpack_bayer
from rawdenoise.dng import write_dng
from rawdenoise.specs import CameraProfile


@dataclass(frozen=True)
class TrueIso:
    """The parameters one ISO's frames were synthesized with (DN, DN per electron)."""

    iso: float
    k: float
    read_sigma: float  #: Tukey-lambda scale (read_kind "tukey") or Gaussian sigma
    tl_lambda: float
    row_sigma: float
    color_bias: tuple[float, float, float, float]


def true_parameters(
    profile: CameraProfile,
    isos: Sequence[float],
    *,
    read_kind: str = "tukey",
    k_values: Sequence[float] | None = None,
) -> list[TrueIso]:
    """Per-ISO values on the profile's log-linear fits (no residual spread).

    K comes from ``k_values``, else :meth:`CameraProfile.k_for_iso`, else it is proportional to
    ISO and centred in the profile's K range. Lambda walks through the profile's list.
    """
    isos = sorted(float(i) for i in isos)
    noise = profile.noise
    if k_values is None:
        ks = [profile.k_for_iso(i) for i in isos]
        if any(k is None for k in ks):
            # K proportional to ISO, centred (geometrically) in the profile's K range
            centre = math.sqrt(noise.k_min * noise.k_max) / math.sqrt(isos[0] * isos[-1])
            ks = [centre * i for i in isos]
    else:
        ks = [float(k) for k in k_values]
    fit = noise.tukey if read_kind == "tukey" else noise.gaussian
    lambdas = noise.tukey_lambdas or (0.14,)
    out = []
    for j, (iso, k) in enumerate(zip(isos, ks, strict=True)):
        log_k = math.log(k)
        lam = lambdas[round(j * (len(lambdas) - 1) / max(len(isos) - 1, 1))]
        bias = (0.0, 0.0, 0.0, 0.0)
        if noise.color_bias:
            count = len(noise.color_bias)
            width = (noise.k_max - noise.k_min) / count
            idx = min(max(int((k - noise.k_min) // width), 0), count - 1) if width > 0 else 0
            bias = tuple(noise.color_bias[idx])
        out.append(
            TrueIso(
                iso=iso,
                k=k,
                read_sigma=math.exp(fit.mean_log(log_k)),
                tl_lambda=lam,
                row_sigma=math.exp(noise.row.mean_log(log_k)),
                color_bias=bias,  # type: ignore[arg-type]
            )
        )
    return out


def write_calibration_set(
    folder: Path,
    truth: Sequence[TrueIso],
    *,
    height: int = 256,
    width: int = 256,
    dark_frames: int = 4,
    flat_levels: Sequence[float] = (0.05, 0.25, 0.6, 0.97),
    flat_frames: int = 2,
    read_kind: str = "tukey",
    black: float = 512,
    white: float = 16383,
    cfa: str = "RGGB",
    make: str = "rawdenoise",
    model: str = "Synthetic",
    vignetting: float = 0.25,
    prnu: float = 0.01,
    seed: int = 0,
) -> tuple[Path, Path]:
    """Write ``folder/dark/*.dng`` and ``folder/flat/*.dng``; return the two folders.

    ``flat_levels`` are fractions of ``white - black`` at the frame centre; corners are
    ``vignetting`` darker.
    """
    import torch

    from rawdenoise.noise import NoiseSample, synthesize_dn

    dark_dir, flat_dir = folder / "dark", folder / "flat"
    dark_dir.mkdir(parents=True, exist_ok=True)
    flat_dir.mkdir(parents=True, exist_ok=True)
    pattern = pattern_from_cfa(cfa)
    ph, pw = height // 2, width // 2
    gen = torch.Generator().manual_seed(seed)
    yy, xx = torch.meshgrid(
        torch.linspace(-1, 1, ph, dtype=torch.float64),
        torch.linspace(-1, 1, pw, dtype=torch.float64),
        indexing="ij",
    )
    shading = 1 - vignetting * (xx**2 + yy**2) / 2
    gain = 1 + prnu * torch.randn((4, ph, pw), generator=gen, dtype=torch.float64)
    read_letter = "t" if read_kind == "tukey" else "g"
    letters = "p" + read_letter + "rc"
    span = white - black
    count = 0
    for t in truth:
        params = NoiseSample(
            k=torch.tensor([t.k]),
            read_sigma=torch.tensor([t.read_sigma]),
            tl_lambda=torch.tensor([t.tl_lambda]),
            row_sigma=torch.tensor([t.row_sigma]),
            color_bias=torch.tensor([t.color_bias], dtype=torch.float32),
        )
        shots: list[tuple[Path, float, torch.Tensor]] = []
        for i in range(dark_frames):
            name = f"dark_iso{t.iso:g}_{i:02d}.dng"
            shots.append((dark_dir / name, 1 / 100, torch.zeros(4, ph, pw)))
        for level in flat_levels:
            scene = (level * span * shading * gain).float()
            for i in range(flat_frames):
                name = f"flat_iso{t.iso:g}_L{level:g}_{i:02d}.dng"
                shots.append((flat_dir / name, level / 10, scene))
        # synthesize in batches of about 16 M values (full-size frames one by one)
        per_batch = max(1, (1 << 24) // (4 * ph * pw))
        for first in range(0, len(shots), per_batch):
            chunk = shots[first : first + per_batch]
            n = len(chunk)
            batch = NoiseSample(
                k=params.k.expand(n),
                read_sigma=params.read_sigma.expand(n),
                tl_lambda=params.tl_lambda.expand(n),
                row_sigma=params.row_sigma.expand(n),
                color_bias=params.color_bias.expand(n, 4),
            )
            signal = torch.stack([s for _, _, s in chunk])
            noisy = synthesize_dn(signal, batch, letters, generator=gen).double().numpy()
            del signal
            dn = np.clip(np.rint(noisy + black), 0, white).astype(np.uint16)
            del noisy
            for (path, exposure, _), frame in zip(chunk, dn, strict=True):
                count += 1
                write_dng(
                    path,
                    unpack_bayer(frame, pattern),
                    cfa=cfa,
                    black_level=black,
                    white_level=white,
                    make=make,
                    model=model,
                    iso=t.iso,
                    exposure_time=exposure,
                    capture_time=f"2024:05:01 12:{count // 60 % 60:02d}:{count % 60:02d}",
                )
    return dark_dir, flat_dir
