"""Content check of a pair: do the two frames show the same scene at the EXIF ratio?

The two frames of a pair are block-averaged to <= 64 px, normalized by their black/white
levels, and the noisy one is multiplied by the ratio. A low correlation between the two flags a
pair whose frames do not show the same scene (camera or subject moved, wrong file); a
brightness ratio measured from the data far from the EXIF ratio flags a changed aperture, ND
filter or light. Both are warnings: shifts smaller than one thumbnail block (a few dozen pixels
on a 24 MP frame) are not detected.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from rawdenoise.pairing.pair import SAME_LEVEL

if TYPE_CHECKING:
    import numpy as np

    from rawdenoise.pairing.pair import Pair

#: Below this correlation (after exposure normalization) a pair is flagged as not one scene.
MIN_CORRELATION = 0.7
#: A brightness ratio measured from the data off the EXIF ratio by more than this factor warns.
MAX_RATIO_MISMATCH = 2.0
#: Longest side of the thumbnails compared by the content check (packed pixels).
THUMB_SIDE = 64


@dataclass(frozen=True, eq=False)
class Thumb:
    """Block-averaged normalized luminance of a frame and which blocks are near saturation."""

    lum: np.ndarray
    saturated: np.ndarray
    scale_dn: float  #: mean white - black, to tell real signal from the noise floor


@dataclass(frozen=True)
class Verification:
    """Content check of one pair (``None`` where the data cannot tell)."""

    correlation: float | None
    measured_ratio: float | None
    note: str = ""


def _thumbnail(raw: Any) -> Thumb:
    import numpy as np

    packed = raw.packed()
    _, h, w = packed.shape
    block = max(1, math.ceil(max(h, w) / THUMB_SIDE))
    hh, ww = max(1, h // block), max(1, w // block)
    bh, bw = min(block, h), min(block, w)
    view = packed[:, : hh * bh, : ww * bw].reshape(4, hh, bh, ww, bw)
    means = view.mean(axis=(2, 4), dtype=np.float64)
    peaks = view.max(axis=(2, 4)).astype(np.float64)
    black = np.asarray(raw.black_level, np.float64).reshape(4, 1, 1)
    white = np.asarray(raw.white_level, np.float64).reshape(4, 1, 1)
    lum = ((means - black) / (white - black)).mean(axis=0)
    saturated = (peaks >= black + 0.95 * (white - black)).any(axis=0)
    return Thumb(lum=lum, saturated=saturated, scale_dn=float(np.mean(white - black)))


def verify_pair(noisy: Thumb, clean: Thumb, ratio: float) -> Verification:
    """Correlate the clean thumbnail with the noisy one scaled by ``ratio`` (see module doc)."""
    import numpy as np

    if noisy.lum.shape != clean.lum.shape:
        return Verification(None, None, "frames differ in size")
    mask = ~(noisy.saturated | clean.saturated)
    if int(mask.sum()) < 16:
        return Verification(None, None, "clean frame almost fully saturated")
    a = noisy.lum[mask]
    b = clean.lum[mask]
    measured = None
    if float(a.mean()) * noisy.scale_dn > 0.5:  # more than half a DN of signal on average
        measured = float(b.mean() / a.mean())
    if float(b.std()) < 0.01 * abs(float(b.mean())) + 1e-4:
        return Verification(None, measured, "scene too flat to compare")
    scaled = a * ratio
    if float(scaled.std()) == 0.0:
        return Verification(0.0, measured, "noisy frame is uniform")
    corr = float(np.corrcoef(scaled, b)[0, 1])
    return Verification(corr, measured)


def verification_warnings(
    pair: Pair, check: Verification, where: str, *, source: str = "EXIF"
) -> list[str]:
    """What a content check says is wrong with ``pair`` (messages prefixed with ``where``).

    ``source`` names where ``pair.ratio`` comes from (``--ratio`` when the user gave it).
    """
    out = []
    names = f"{pair.noisy.name} and {pair.clean.name}"
    if check.correlation is not None and check.correlation < MIN_CORRELATION:
        out.append(
            f"{where}{names} do not show the same scene (correlation {check.correlation:.2f} "
            "after exposure normalization): the camera or the subject moved, or a frame "
            "belongs elsewhere; drop the pair or reshoot it"
        )
    if check.measured_ratio is not None and pair.ratio > 0:
        off = check.measured_ratio / pair.ratio
        if check.measured_ratio <= 1 and pair.ratio > SAME_LEVEL:  # not for a ratio-1 pair
            out.append(
                f"{where}the data of {pair.clean.name} is not brighter than {pair.noisy.name} "
                f"(measured ratio {check.measured_ratio:.3g}, {source} ratio {pair.ratio:.4g})"
            )
        elif not 1 / MAX_RATIO_MISMATCH <= off <= MAX_RATIO_MISMATCH:
            out.append(
                f"{where}brightness ratio measured from {names} is {check.measured_ratio:.3g} "
                f"but {source} says {pair.ratio:.4g}: did the aperture, an ND filter or the light "
                "change? (the ratio uses ISO x shutter time only)"
            )
    return out


def _with_similarity(pair: Pair, check: Verification) -> Pair:
    from dataclasses import replace

    return replace(pair, similarity=check.correlation)
