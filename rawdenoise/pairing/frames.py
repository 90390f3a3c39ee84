"""Reading one RAW frame for pairing: decode once, keep EXIF, size, camera and a thumbnail.

A RAW header alone (rawpy without unpacking, ~0.5 ms) reports the full image size even for a
file cut to 1 % of its length, so header checks cannot catch truncated files. Every frame is
therefore decoded once with :func:`rawdenoise.rawio.read_raw` (measured on the 2-core test
machine: 80-170 ms for a 24 MP DNG or ARW); the decoded mosaic is reduced at once to a small
thumbnail used by the content check (:mod:`rawdenoise.pairing.similarity`) and then dropped.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from fractions import Fraction
from pathlib import Path
from typing import Any

from rawdenoise.pairing.pair import Pair
from rawdenoise.pairing.similarity import Thumb, _thumbnail


@dataclass(frozen=True, eq=False)
class Frame:
    """What pairing needs from one RAW file (its pixels are not kept)."""

    path: Path
    camera: str
    size: tuple[int, int]
    iso: float
    exposure: Fraction
    capture_time: datetime | None
    thumb: Thumb | None = None

    @property
    def level(self) -> float:
        return float(self.iso) * float(self.exposure)


def _short_reason(path: Path, exc: BaseException) -> str:
    text = getattr(exc, "message", None) or str(exc)
    for prefix in (f"{path}: ", f"{path.name}: "):
        if text.startswith(prefix):
            return text[len(prefix) :]
    return text


def read_frame(path: str | Path, *, thumbnail: bool = True) -> Frame:
    """Decode ``path`` once (catching truncated and non-Bayer files) and read its EXIF."""
    from rawdenoise.exif import read_exif
    from rawdenoise.rawio import read_raw

    path = Path(path)
    raw = read_raw(path)
    info = read_exif(path).require("iso", "exposure_time")
    assert info.iso is not None and info.exposure_time is not None
    return Frame(
        path=path,
        camera=raw.camera or "unknown camera",
        size=raw.shape,
        iso=float(info.iso),
        exposure=info.exposure_time,
        capture_time=info.capture_time,
        thumb=_thumbnail(raw) if thumbnail else None,
    )


def _make_pair(noisy: Frame, clean: Frame, **extra: Any) -> Pair:
    return Pair(
        noisy=noisy.path,
        clean=clean.path,
        ratio=clean.level / noisy.level,
        noisy_iso=noisy.iso,
        clean_iso=clean.iso,
        noisy_exposure=noisy.exposure,
        clean_exposure=clean.exposure,
        camera=noisy.camera,
        size=noisy.size,
        **extra,
    )
