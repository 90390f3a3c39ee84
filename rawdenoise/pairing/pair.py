"""The validated noisy/clean :class:`Pair` and the exposure-level vocabulary shared by pairing."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import Any

from rawdenoise.exposure import HIGH_ISO_MIN, LOW_ISO_MAX

#: Frames whose exposure levels differ by less than this factor count as the same level.
SAME_LEVEL = 1.01
#: A same-level pair (ratio 1: a normally exposed high-ISO photo and its clean twin) needs the
#: noisy frame's ISO at least this many times the clean one's (two stops): otherwise the two
#: are equally noisy, or swapped.
RATIO1_ISO_GAP = 4.0


def is_ratio1_pair(
    noisy_level: float, noisy_iso: float, clean_level: float, clean_iso: float
) -> bool:
    """Whether two frames of the same exposure level make a ratio-1 pair in this order: the
    noisy one at a clearly higher ISO (:data:`RATIO1_ISO_GAP`)."""
    same = clean_level * SAME_LEVEL >= noisy_level and noisy_level * SAME_LEVEL >= clean_level
    return same and noisy_iso >= RATIO1_ISO_GAP * clean_iso


@dataclass(frozen=True)
class Pair:
    """A validated noisy/clean pair with what fine-tuning needs from EXIF."""

    noisy: Path
    clean: Path
    ratio: float  #: clean exposure level / noisy exposure level (LED's digital gain)
    noisy_iso: float
    clean_iso: float
    noisy_exposure: Fraction  #: seconds
    clean_exposure: Fraction  #: seconds
    camera: str
    size: tuple[int, int]  #: (height, width) of the visible mosaic
    line: int | None = None  #: line in the pair list it came from
    scene: int | None = None  #: scene number when found by :func:`find_pairs`
    similarity: float | None = None  #: content-check correlation, when checked

    @property
    def noisy_level(self) -> float:
        return float(self.noisy_iso) * float(self.noisy_exposure)

    @property
    def clean_level(self) -> float:
        return float(self.clean_iso) * float(self.clean_exposure)

    @property
    def iso_class(self) -> str:
        """``"low"`` (noisy ISO <= 500), ``"high"`` (>= 3200) or ``"mid"``, as LED asks."""
        return iso_class(self.noisy_iso)

    def to_dict(self) -> dict[str, Any]:
        return {
            "noisy": str(self.noisy),
            "clean": str(self.clean),
            "ratio": self.ratio,
            "noisy_iso": self.noisy_iso,
            "clean_iso": self.clean_iso,
            "noisy_exposure": float(self.noisy_exposure),
            "clean_exposure": float(self.clean_exposure),
            "noisy_level": self.noisy_level,
            "clean_level": self.clean_level,
            "iso_class": self.iso_class,
            "camera": self.camera,
            "size": list(self.size),
            "line": self.line,
            "scene": self.scene,
            "similarity": self.similarity,
        }


def iso_class(iso: float) -> str:
    if iso <= LOW_ISO_MAX:
        return "low"
    if iso >= HIGH_ISO_MIN:
        return "high"
    return "mid"


def _count(items: Iterable[str]) -> dict[str, int]:
    out: dict[str, int] = {}
    for item in items:
        out[item] = out.get(item, 0) + 1
    return out
