"""One ISO's calibration (method.md §6): K from the photon transfer of flat-frame pairs
(temporal variance, clipped tiles dropped, dark pairs as the zero-signal anchor), read noise,
Tukey lambda, row noise and colour bias from the dark frames; with the checks on the flats."""

from __future__ import annotations

import math
import re
from collections.abc import Sequence

import numpy as np

from rawdenoise.calibration import stats
from rawdenoise.calibration.frames import (
    FrameLoader,
    IsoGroup,
)
from rawdenoise.calibration.results import (
    DARK_CROP,
    DIM,
    FLAT_TILES,
    PAIR_TOLERANCE,
    TILE,
    TOO_DARK,
    IsoResult,
)
from rawdenoise.errors import InputError


def slugify(text: str) -> str:
    slug = re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")
    return slug or "camera"


def _centre_crop(x: np.ndarray, size: int) -> np.ndarray:
    _, h, w = x.shape
    ch, cw = min(h, size), min(w, size)
    y0, x0 = (h - ch) // 2, (w - cw) // 2
    return x[:, y0 : y0 + ch, x0 : x0 + cw]


def _spread_tiles(x: np.ndarray, tile: int, per_side: int) -> np.ndarray:
    """At most ``per_side`` x ``per_side`` tiles spread evenly over the frame, re-assembled."""
    _, h, w = x.shape
    nh, nw = h // tile, w // tile
    rows = np.unique(np.linspace(0, nh - 1, min(nh, per_side)).round().astype(int))
    cols = np.unique(np.linspace(0, nw - 1, min(nw, per_side)).round().astype(int))
    if rows.size == nh and cols.size == nw:
        return x[:, : nh * tile, : nw * tile]
    t = x[:, : nh * tile, : nw * tile].reshape(x.shape[0], nh, tile, nw, tile)
    t = t[:, rows][:, :, :, cols]
    return t.reshape(x.shape[0], rows.size * tile, cols.size * tile)


def _pair_flats(means: Sequence[float]) -> list[tuple[int, int]]:
    """Consecutive frames in brightness order whose means differ by < PAIR_TOLERANCE."""
    order = np.argsort(means)
    pairs, i = [], 0
    while i + 1 < len(order):
        a, b = int(order[i]), int(order[i + 1])
        hi = max(abs(means[a]), abs(means[b]), 1e-9)
        if abs(means[a] - means[b]) / hi < PAIR_TOLERANCE:
            pairs.append((a, b))
            i += 2
        else:
            i += 1
    return pairs


def calibrate_iso(
    group: IsoGroup,
    loader: FrameLoader,
    *,
    warnings: list[str],
    rng: np.random.Generator,
) -> IsoResult:
    """Measure one ISO (see module docstring)."""
    iso = group.iso
    darks = [_centre_crop(loader.load(f.path), DARK_CROP) for f in group.darks]
    span = loader.span
    white_dn = span.astype(np.float64)
    low = -loader.black.astype(np.float64)  # raw value 0
    try:
        dark = stats.dark_frame_stats(darks, rng=rng)
    except stats.NoiseFreeError:
        names = ", ".join(f.path.name for f in group.darks[:3])
        more = ", ..." if len(group.darks) > 3 else ""
        raise InputError(
            f"the dark frames at ISO {iso:g} ({names}{more}) have no read noise (every pixel "
            "at the same value): noise-free frames cannot be calibrated",
            hint="use the camera's original RAW dark frames, not synthetic or edited files",
        ) from None
    if np.any(dark.color_bias > np.maximum(0.01 * span, 20)):
        level = float(dark.color_bias.max())
        raise InputError(
            f"the dark frames at ISO {iso:g} are not dark: mean signal {level:.0f} DN above "
            f"black ({100 * level / float(span.max()):.1f}% of the range)",
            hint="shoot dark frames with the lens cap on in a dark room (and check that "
            "--dark and --flat are not swapped)",
        )

    dark_points = stats.TransferPoints()
    for a, b in zip(darks[0::2], darks[1::2], strict=False):
        dark_points.extend(stats.photon_transfer_points(a, b, low=low, high=white_dn, tile=TILE))
    points = dark_points.pooled()  # the zero-signal anchor of the photon transfer

    flats, means, clipped = [], [], []
    for f in group.flats:
        packed = loader.load(f.path)
        raw_hi = packed >= white_dn.reshape(4, 1, 1)
        raw_lo = packed <= low.reshape(4, 1, 1)
        clipped.append(float((raw_hi | raw_lo).mean()))
        flats.append(_spread_tiles(packed, TILE, FLAT_TILES))
        means.append(float(packed.mean()))
        del packed
    high = _clip_level(flats, white_dn)
    pairs = _pair_flats(means)
    flat_points = stats.TransferPoints()
    spatial = not pairs
    if spatial:
        warnings.append(
            f"ISO {iso:g}: no two flat frames with the same brightness, so K comes from the "
            "spatial variance of single frames, which texture and pixel gain differences "
            "inflate; shoot flats in pairs"
        )
        for frame in flats:
            flat_points.extend(
                stats.photon_transfer_points(frame, None, low=low, high=high, tile=TILE)
            )
    else:
        for a, b in pairs:
            flat_points.extend(
                stats.photon_transfer_points(flats[a], flats[b], low=low, high=high, tile=TILE)
            )
    clipped_fraction = float(np.mean(clipped))
    _check_flats(iso, flat_points, clipped_fraction, span, warnings)
    max_signal = float(max(np.max(m) for m in flat_points.means))
    points.extend(flat_points)

    fits = [
        stats.fit_photon_transfer(
            points.means[c],
            points.variances[c],
            tile_pixels=TILE * TILE,
            counts=points.counts[c],
        )
        for c in range(4)
    ]
    k_channels = np.array([f.slope for f in fits])
    if np.any(k_channels <= 0):
        raise InputError(
            f"the flat frames at ISO {iso:g} show no photon-transfer slope (K <= 0)",
            hint="flat frames must be evenly lit and brighter than the dark frames",
        )
    k = float(k_channels.mean())
    _iso_warnings(iso, k_channels, fits, dark, warnings)
    return IsoResult(
        iso=iso,
        k=k,
        k_channels=k_channels,
        ptc=fits,
        read_sigma=dark.read_sigma,
        tl_sigma=dark.tl_sigma,
        tl_lambda=dark.tl_lambda,
        row_sigma=dark.row_sigma,
        color_bias=dark.color_bias,
        temporal_read_sigma=dark.temporal_read_sigma,
        pixel_std=dark.pixel_std,
        n_dark=len(group.darks),
        n_flat=len(group.flats),
        pairs=len(pairs),
        spatial=spatial,
        clipped_fraction=clipped_fraction,
        max_signal=max_signal,
        ppcc_lambdas=dark.ppcc_lambdas,
        ppcc_values=dark.ppcc_values,
        ppcc_max=dark.ppcc_max,
        ptc_points=[stats.binned(points.means[c], points.variances[c]) for c in range(4)],
    )


def _clip_level(flats: Sequence[np.ndarray], white_dn: np.ndarray) -> np.ndarray:
    """Per channel: the white level, or lower where values pile up at a frame maximum."""
    high = white_dn.copy()
    for c in range(4):
        top = max(float(f[c].max()) for f in flats)
        at_top = sum(int((f[c] >= top).sum()) for f in flats)
        total = sum(f[c].size for f in flats)
        if top < high[c] and at_top > 1e-3 * total:
            high[c] = top  # the sensor saturates below the file's white level
    return high


def _check_flats(
    iso: float,
    points: stats.TransferPoints,
    clipped_fraction: float,
    span: np.ndarray,
    warnings: list[str],
) -> None:
    usable = points.count
    if usable < 8:
        if clipped_fraction > 0.5:
            raise InputError(
                f"the flat frames at ISO {iso:g} are saturated: {100 * clipped_fraction:.0f}% "
                "of their pixels are clipped",
                hint="shorten the exposure: flats should sit between about 10% and 80% of the "
                "white level",
            )
        raise InputError(
            f"the flat frames at ISO {iso:g} have no usable area (every tile is clipped or "
            "too noisy)",
            hint="shoot evenly lit, unclipped flat frames",
        )
    top = float(max(np.max(m) for m in points.means))
    full = float(span.max())
    if top < TOO_DARK * full:
        raise InputError(
            f"the flat frames at ISO {iso:g} are too dark: the brightest area is {top:.0f} DN "
            f"above black, {100 * top / full:.1f}% of the range",
            hint="lengthen the exposure: flats should sit between about 10% and 80% of the "
            "white level",
        )
    if top < DIM * full:
        warnings.append(
            f"ISO {iso:g}: the flat frames are dim (brightest area {100 * top / full:.1f}% of "
            "the range); K is more precise from brighter flats"
        )
    if clipped_fraction > 0.2:
        warnings.append(
            f"ISO {iso:g}: {100 * clipped_fraction:.0f}% of the flat pixels are clipped (those "
            "areas are left out)"
        )


def _iso_warnings(
    iso: float,
    k_channels: np.ndarray,
    fits: Sequence[stats.LineFit],
    dark: stats.DarkStats,
    warnings: list[str],
) -> None:
    spread = float(k_channels.max() / k_channels.min() - 1)
    if spread > 0.1:
        values = ", ".join(f"{v:.4g}" for v in k_channels)
        warnings.append(
            f"ISO {iso:g}: K differs by {100 * spread:.0f}% between channels ({values})"
        )
    worst = min(f.r2 for f in fits)
    if worst < 0.95:
        warnings.append(
            f"ISO {iso:g}: the mean-variance fit is poor (r^2 {worst:.3f}); check the plot"
        )
    outliers = sum(f.outliers for f in fits)
    total = sum(f.n + f.outliers for f in fits)
    if total and outliers > 0.1 * total:
        warnings.append(
            f"ISO {iso:g}: {100 * outliers / total:.0f}% of the mean-variance points are outliers "
            "(uneven light, flicker or moving subject?)"
        )
    total_frame = dark.pixel_std**2 + dark.row_sigma**2 - stats.QUANT_VAR
    temporal = dark.temporal_read_sigma**2
    if math.isfinite(temporal) and temporal > 0 and total_frame > 1.5 * temporal:
        warnings.append(
            f"ISO {iso:g}: the dark frames hold strong fixed-pattern noise (dark shading): "
            f"per-frame noise variance {total_frame:.3g} vs temporal {temporal:.3g} DN^2"
        )
    analog = math.sqrt(max(dark.pixel_std**2 - stats.QUANT_VAR, 0.0))
    if analog < 0.8:
        warnings.append(
            f"ISO {iso:g}: read noise ({analog:.2f} DN) is below the 1-DN quantization step; "
            "its sigma and Tukey lambda are less reliable (a few percent)"
        )
