"""Exposure level (ISO x seconds), ratio (digital gain) and LED's capture plan.

LED needs, for each ratio, pairs shot at a low ISO (<= 500) and at a high ISO (>= 3200) with the
same dark exposure level (``../shared/seeds/customized-denoiser.md``): from 30 s ISO 100 (3000)
and 1/10 s ISO 6400 (640) the ratio is 4.6875, and a second dark frame at 640 (ISO 320, 2 s)
is also needed.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field
from fractions import Fraction
from typing import TYPE_CHECKING

from rawdenoise.errors import UsageError

if TYPE_CHECKING:
    import numpy as np

LOW_ISO_MAX = 500
HIGH_ISO_MIN = 3200

#: Full-stop and third-stop ISO values cameras offer.
STANDARD_ISOS = (
    50,
    64,
    80,
    100,
    125,
    160,
    200,
    250,
    320,
    400,
    500,
    640,
    800,
    1000,
    1250,
    1600,
    2000,
    2500,
    3200,
    4000,
    5000,
    6400,
    8000,
    10000,
    12800,
    16000,
    20000,
    25600,
    32000,
    40000,
    51200,
    64000,
    80000,
    102400,
)
#: Shutter speeds cameras offer (seconds), third stops from 1/8000 s to 30 s.
STANDARD_SHUTTERS: tuple[Fraction, ...] = tuple(
    Fraction(1, d)
    for d in (
        8000,
        6400,
        5000,
        4000,
        3200,
        2500,
        2000,
        1600,
        1250,
        1000,
        800,
        640,
        500,
        400,
        320,
        250,
        200,
        160,
        125,
        100,
        80,
        60,
        50,
        40,
        30,
        25,
        20,
        15,
        13,
        10,
        8,
        6,
        5,
        4,
        3,
    )
) + (
    Fraction(2, 5),
    Fraction(1, 2),
    Fraction(3, 5),
    Fraction(4, 5),
    Fraction(1),
    Fraction(13, 10),
    Fraction(8, 5),
    Fraction(2),
    Fraction(5, 2),
    Fraction(16, 5),
    Fraction(4),
    Fraction(5),
    Fraction(6),
    Fraction(8),
    Fraction(10),
    Fraction(13),
    Fraction(15),
    Fraction(20),
    Fraction(25),
    Fraction(30),
)

_SHUTTER_RE = re.compile(
    r"^\s*(\d+(?:\.\d*)?|\.\d+)(?:\s*/\s*(\d+(?:\.\d*)?))?\s*(s|sec|\"|'')?\s*$"
)


def parse_shutter(text: str | float | Fraction) -> Fraction:
    """``"1/10"``, ``"0.1"``, ``"2s"``, ``'30"'`` -> seconds as a Fraction."""
    if isinstance(text, (int, float, Fraction)):
        try:
            value = Fraction(text).limit_denominator(1_000_000)
        except (ValueError, OverflowError):  # NaN, infinity
            raise UsageError(f"shutter speed must be a finite number, got {text!r}") from None
    else:
        match = _SHUTTER_RE.match(str(text).replace("″", '"'))
        if not match:
            raise UsageError(
                f"cannot read shutter speed {text!r}",
                hint='write it as 1/10, 0.1, 2s or 30"',
            )
        num, den = match.group(1), match.group(2)
        if den is not None and Fraction(den) == 0:
            raise UsageError(f"shutter speed {text!r} divides by zero", hint="e.g. 1/10")
        value = Fraction(num) / (Fraction(den) if den else 1)
    if value <= 0:
        raise UsageError(f"shutter speed must be positive, got {text!r}")
    if not 0 < _as_float(value) < math.inf:
        raise UsageError(
            f"shutter speed {text!r} is out of range", hint='write it as 1/10, 0.1, 2s or 30"'
        )
    return value


def _as_float(value: float | Fraction) -> float:
    """``float(value)``, infinite where the value is too large for a float."""
    try:
        return float(value)
    except OverflowError:
        return math.inf


def format_shutter(seconds: float | Fraction) -> str:
    """1/10 s style for short exposures, 2 s / 2.5 s for long ones."""
    seconds = Fraction(seconds).limit_denominator(100000)
    if seconds < 1:
        inv = 1 / seconds
        if inv.denominator == 1 or abs(float(inv) - round(float(inv))) < 0.05:
            return f"1/{round(float(inv))} s"
        return f"{float(seconds):.4g} s"
    return f"{float(seconds):g} s"


def exposure_level(iso: float, seconds: float | Fraction) -> float:
    """LED's exposure level: ISO x exposure time in seconds (positive and finite)."""
    if not (math.isfinite(iso) and iso > 0):
        raise UsageError(f"ISO must be a positive, finite number, got {iso:g}")
    level = _as_float(iso) * _as_float(seconds)
    if not 0 < level < math.inf:
        raise UsageError(
            f"exposure level ISO {iso:g} x {_as_float(seconds):g} s is out of range "
            "(it must be a positive, finite number)"
        )
    return level


@dataclass(frozen=True)
class Exposure:
    iso: float
    seconds: Fraction

    @property
    def level(self) -> float:
        return exposure_level(self.iso, self.seconds)

    def describe(self) -> str:
        return f"ISO {self.iso:g} x {format_shutter(self.seconds)} = {self.level:g}"

    def to_dict(self) -> dict[str, float | str]:
        return {
            "iso": self.iso,
            "exposure_time": float(self.seconds),
            "exposure_time_text": format_shutter(self.seconds),
            "exposure_level": self.level,
        }


@dataclass(frozen=True)
class Suggestion:
    """One capture to add: a dark frame at ``level`` shot at ``iso`` for ``seconds``."""

    iso: float
    seconds: Fraction
    exact_seconds: float
    reason: str

    def describe(self) -> str:
        return f"also shoot ISO {self.iso:g} at {format_shutter(self.seconds)} ({self.reason})"

    def to_dict(self) -> dict[str, float | str]:
        return {
            "iso": self.iso,
            "exposure_time": float(self.seconds),
            "exposure_time_text": format_shutter(self.seconds),
            "exposure_level": self.iso * float(self.seconds),
            "reason": self.reason,
            "text": self.describe(),
        }


@dataclass(frozen=True)
class RatioPlan:
    bright: Exposure
    dark: Exposure
    ratio: float
    suggestions: tuple[Suggestion, ...] = field(default=())
    notes: tuple[str, ...] = field(default=())

    def to_dict(self) -> dict[str, object]:
        return {
            "bright": self.bright.to_dict(),
            "dark": self.dark.to_dict(),
            "ratio": self.ratio,
            "plan": [s.to_dict() for s in self.suggestions],
            "notes": list(self.notes),
        }


#: Full-stop shutter speeds, preferred when several captures reach the level equally well.
FULL_STOP_SHUTTERS = frozenset(
    [Fraction(1, d) for d in (8000, 4000, 2000, 1000, 500, 250, 125, 60, 30, 15, 8, 4, 2)]
    + [Fraction(n) for n in (1, 2, 4, 8, 15, 30)]
)


def _nearest_shutter(seconds: float) -> Fraction:
    return min(STANDARD_SHUTTERS, key=lambda s: abs(math.log(float(s) / seconds)))


def _shot_for(level: float, isos: list[int], threshold: int, reason: str) -> Suggestion | None:
    """The capture in ``isos`` that best reaches ``level`` with a real camera setting.

    Score: mismatch between the exact time and the nearest standard shutter speed (dominant),
    then distance from the ISO threshold in stops (stay near the low/high-ISO limit), then a
    small preference for full-stop speeds. For the seed's level 640 at low ISO: ISO 320 at 2 s.
    """
    best: tuple[float, Suggestion] | None = None
    for iso in isos:
        exact = level / iso
        if not float(STANDARD_SHUTTERS[0]) / 1.2 <= exact <= 30 * 1.2:
            continue
        nearest = _nearest_shutter(exact)
        score = (
            5 * abs(math.log(float(nearest) / exact))
            + 0.1 * abs(math.log2(iso / threshold))
            + (0.0 if nearest in FULL_STOP_SHUTTERS else 0.05)
        )
        if best is None or score < best[0] - 1e-9:
            best = (score, Suggestion(float(iso), nearest, exact, reason))
    return best[1] if best else None


def capture_plan(bright: Exposure, dark: Exposure) -> RatioPlan:
    """Ratio of ``bright`` over ``dark`` and the extra dark capture LED needs at that ratio."""
    ratio = bright.level / dark.level
    if not 0 < ratio < math.inf:
        raise UsageError(
            f"the ratio {bright.level:g} / {dark.level:g} is out of range",
            hint="check the ISO and shutter values of both frames",
        )
    suggestions: list[Suggestion] = []
    notes: list[str] = []
    if ratio < 1:
        notes.append("the 'bright' frame is darker than the 'dark' one: swap them")
    low = ([i for i in STANDARD_ISOS if i <= LOW_ISO_MAX], LOW_ISO_MAX, "low")
    high = ([i for i in STANDARD_ISOS if i >= HIGH_ISO_MIN], HIGH_ISO_MIN, "high")
    if dark.iso >= HIGH_ISO_MIN:
        wanted = [low]
    elif dark.iso <= LOW_ISO_MAX:
        wanted = [high]
    else:
        wanted = [low, high]
    for isos, threshold, label in wanted:
        s = _shot_for(dark.level, isos, threshold, f"{label}-ISO pair at ratio {ratio:.4g}")
        if s:
            suggestions.append(s)
    if len(wanted) == 2:
        notes.append(
            f"ISO {dark.iso:g} is neither low (<= {LOW_ISO_MAX}) nor high (>= {HIGH_ISO_MIN}); "
            "LED fine-tunes best with one pair of each"
        )
    if not suggestions:
        notes.append(
            f"no standard ISO/shutter combination reaches exposure level {dark.level:g}; "
            "use an ND filter or change the aperture between the two shots"
        )
    notes.append(
        f"shoot each clean frame at the lowest ISO with exposure level {bright.level:g} "
        "(tripod, remote trigger)"
    )
    return RatioPlan(bright, dark, ratio, tuple(suggestions), tuple(notes))


# --------------------------------------------------------------------------------------------
# --ratio auto by the picture's own level (models that record an ``auto_level``)
# --------------------------------------------------------------------------------------------

#: The level ``--ratio auto`` brings a photo to, as pretrained models record it: the brightest
#: 1% of its areas at 20% of white. Normally exposed frames sit at or above it (``../shared/
#: data``: the A7R III concert frame at ISO 3200 0.24, the GoPro daylight frames 0.76-0.98), so
#: they get ratio 1; a frame under-exposed by 6 EV gets about 64.
AUTO_LEVEL = 0.2
#: Side of the packed blocks averaged before the level is read (16x16 RAW pixels): noise
#: shrinks 8x, so a dark frame's noise does not pass for light.
LEVEL_BLOCK = 8
LEVEL_PERCENTILE = 99.0


def frame_level(packed: np.ndarray) -> float:
    """How bright a normalized packed frame (C, H, W) is: the 99th percentile, over blocks of
    :data:`LEVEL_BLOCK` packed px, of the block's brightest channel mean."""
    import numpy as np

    c, h, w = packed.shape
    b = min(LEVEL_BLOCK, h, w)
    blocks = packed[:, : h // b * b, : w // b * b].reshape(c, h // b, b, w // b, b)
    top = blocks.mean(axis=(2, 4), dtype=np.float64).max(axis=0)
    return float(np.percentile(top, LEVEL_PERCENTILE))


def level_ratio(packed: np.ndarray, target: float, limits: tuple[float, float] | None) -> float:
    """The ratio that brings ``packed`` to ``target`` (:func:`frame_level`), within ``limits``
    (the model's ratio range; at least 1 without one: ``auto`` never darkens a photo)."""
    lo, hi = limits if limits is not None else (1.0, float("inf"))
    level = frame_level(packed)
    ratio = target / level if level > 0 else hi
    return float(min(max(ratio, lo), hi))
