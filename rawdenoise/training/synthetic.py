"""Synthetic noisy/clean RAW pairs from a clean frame and a published camera profile.

For tests, benchmarks and trying the workflow without a camera: the clean frame's scene is
darkened by ``ratio`` and given the calibrated noise of ``profile`` at ``noisy_iso`` (shot,
read, row, quantization, colour bias; :mod:`rawdenoise.noise`), in the clean frame's own DN
scale, and written as a DNG whose EXIF (ISO, exposure time) gives exactly that ratio.
"""

from __future__ import annotations

from fractions import Fraction
from pathlib import Path

import numpy as np
import torch

from rawdenoise.errors import UsageError


def noisy_mosaic(
    mosaic: np.ndarray,
    pattern: np.ndarray,
    black: np.ndarray,
    white: np.ndarray,
    *,
    profile: str,
    noisy_iso: float,
    ratio: float,
    seed: int = 0,
    noise_type: str = "ptrqc",
) -> np.ndarray:
    """The uint16 mosaic of a ``ratio``-times darker capture of ``mosaic`` at ``noisy_iso``."""
    from rawdenoise.bayer import normalize, pack_bayer, unpack_bayer
    from rawdenoise.noise import NoisyPairGenerator, synthesize_dn
    from rawdenoise.registry import get_camera_profile

    prof = get_camera_profile(profile)
    packed = pack_bayer(mosaic, pattern)
    x = np.clip(normalize(packed, black, white), 0.0, 1.0)
    scale = (np.asarray(white, np.float32) - np.asarray(black, np.float32)).reshape(1, 4, 1, 1)
    gen = NoisyPairGenerator.from_profile(prof, iso=noisy_iso, noise_type=noise_type)
    g = torch.Generator().manual_seed(int(seed))
    clean = torch.from_numpy(x)[None].double()
    params = gen.sample_params(1, clean.shape[2], clean.shape[3], generator=g)
    dark = clean * torch.from_numpy(scale).double() / float(ratio)
    noisy = synthesize_dn(dark.float(), params, gen.noise_type, generator=g)[0].numpy()
    dn = noisy + np.asarray(black, np.float32).reshape(4, 1, 1)
    dn = np.clip(np.rint(dn), 0, 65535).astype(np.uint16)
    return unpack_bayer(dn, pattern, mosaic.shape)


def write_noisy_dng(
    clean_path: Path,
    out: Path,
    *,
    profile: str,
    noisy_iso: float,
    ratio: float,
    seed: int = 0,
) -> Path:
    """Write ``out``: ``clean_path`` darkened ``ratio`` times with ``profile``'s noise.

    The exposure time is chosen so that EXIF gives the ratio exactly:
    ``t_noisy = ISO_clean * t_clean / (ratio * ISO_noisy)``.
    """
    from rawdenoise.dng import write_dng
    from rawdenoise.exif import read_exif
    from rawdenoise.rawio import read_raw

    frame = read_raw(clean_path)
    exif = read_exif(clean_path).require("iso", "exposure_time")
    assert exif.iso is not None and exif.exposure_time is not None
    if ratio < 1 or noisy_iso <= 0:
        raise UsageError("the ratio must be >= 1 and the ISO positive")
    level = Fraction(exif.iso).limit_denominator(1000) * exif.exposure_time
    exposure = level / (Fraction(ratio).limit_denominator(1000) * Fraction(noisy_iso))
    mosaic = noisy_mosaic(
        frame.mosaic,
        frame.pattern,
        frame.black_level,
        frame.white_level,
        profile=profile,
        noisy_iso=noisy_iso,
        ratio=ratio,
        seed=seed,
    )
    black = [float(frame.black_level[int(c)]) for c in frame.pattern.reshape(-1)]
    write_dng(
        out,
        mosaic,
        cfa=frame.cfa,
        black_level=black,
        white_level=float(frame.white_level.max()),
        make=frame.make,
        model=frame.model,
        iso=noisy_iso,
        exposure_time=exposure,
        capture_time=exif.capture_time.strftime("%Y:%m:%d %H:%M:%S") if exif.capture_time else None,
    )
    return out
