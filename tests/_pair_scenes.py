"""Synthetic capture sessions for the pairing tests: scenes, bursts, dark frames that match.

Each scene is a random blocky pattern (different per seed, so scenes do not correlate); a dark
frame is the same pattern divided by its ratio plus Gaussian read noise, so the content check
sees one scene after exposure normalization. A "moved" frame is the pattern shifted sideways.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

import numpy as np

BLACK = 64
WHITE = 16383
H, W = 64, 96


def scene(seed: int, h: int = H, w: int = W) -> np.ndarray:
    """Scene radiance in [0.1, 0.8] (fraction of the range), 8-px blocks, unique per seed."""
    rng = np.random.default_rng(seed)
    coarse = rng.random((h // 8 + 1, w // 8 + 1))
    return 0.1 + 0.7 * np.kron(coarse, np.ones((8, 8)))[:h, :w]


def mosaic(
    radiance: np.ndarray, ratio: float = 1.0, *, seed: int = 0, shift: int = 0, noise: float = 3
) -> np.ndarray:
    """A frame of ``radiance`` exposed ``ratio`` times darker than the clean one (uint16 DN)."""
    rng = np.random.default_rng(seed)
    r = np.roll(radiance, shift, axis=1)
    dn = BLACK + r * (WHITE - BLACK) / ratio + rng.normal(0, noise, r.shape)
    return np.clip(np.rint(dn), 0, WHITE).astype(np.uint16)


@dataclass(frozen=True)
class Shot:
    """One capture: the scene, its settings and when it was taken (seconds after 12:00:00)."""

    scene: int
    iso: float
    exposure: Fraction
    at: int
    ratio: float = 1.0  #: how much darker than the scene's clean frame
    shift: int = 0
    camera: tuple[str, str] = ("Test", "Cam")

    def time(self, day: str = "2024:05:01") -> str | None:
        """EXIF DateTimeOriginal; None (no capture time) when ``day`` is empty."""
        if not day:
            return None
        m, s = divmod(self.at, 60)
        h, m = divmod(m, 60)
        return f"{day} {12 + h:02d}:{m:02d}:{s:02d}"


#: Three scenes, low (400) and high (3200/6400) ISO dark frames; scene 2 shoots the clean frame
#: last; scene 3 is the seed's example (30 s ISO 100 vs 1/10 s ISO 6400, ratio 4.6875) and
#: lacks its low-ISO pair.
SESSION: tuple[Shot, ...] = (
    Shot(1, 100, Fraction(10), 0),
    Shot(1, 400, Fraction(1, 4), 15, ratio=10),
    Shot(1, 3200, Fraction(1, 32), 20, ratio=10),
    Shot(2, 400, Fraction(1, 400), 300, ratio=100),
    Shot(2, 6400, Fraction(1, 6400), 305, ratio=100),
    Shot(2, 100, Fraction(1), 310),
    Shot(3, 100, Fraction(30), 600),
    Shot(3, 6400, Fraction(1, 10), 635, ratio=4.6875),
)


def shoot(
    make_dng: Callable[..., Path],
    folder: Path,
    shots: tuple[Shot, ...] | list[Shot] = SESSION,
    names: list[str] | None = None,
    *,
    day: str = "2024:05:01",
) -> list[Path]:
    """Write one DNG per shot (named ``names[i]``, default DSC00001.dng ...); returns paths."""
    names = names or [f"DSC{i + 1:05d}.dng" for i in range(len(shots))]
    paths = []
    for i, (shot, name) in enumerate(zip(shots, names, strict=True)):
        paths.append(
            make_dng(
                name,
                folder=folder,
                mosaic=mosaic(scene(shot.scene), shot.ratio, seed=100 + i, shift=shot.shift),
                black=BLACK,
                white=WHITE,
                iso=shot.iso,
                exposure=shot.exposure,
                capture_time=shot.time(day),
                make=shot.camera[0],
                model=shot.camera[1],
            )
        )
    return paths


def shuffled_names(n: int, seed: int = 7) -> list[str]:
    """File names whose order has nothing to do with the shooting order (mixed case too)."""
    order = np.random.default_rng(seed).permutation(n)
    return [f"IMG_{5000 + int(k) * 3:04d}.{'DNG' if k % 2 else 'dng'}" for k in order]


def expected_pairs(
    shots: tuple[Shot, ...] | list[Shot], names: list[str]
) -> list[tuple[str, str, float]]:
    """(noisy, clean, ratio) in shooting order of scenes, then of the dark frames."""
    out = []
    for number in dict.fromkeys(s.scene for s in shots):
        members = [(s, n) for s, n in zip(shots, names, strict=True) if s.scene == number]
        clean = next(n for s, n in members if s.ratio == 1)
        clean_level = next(s.iso * float(s.exposure) for s, _ in members if s.ratio == 1)
        out.extend(
            (n, clean, clean_level / (s.iso * float(s.exposure)))
            for s, n in sorted(members, key=lambda m: m[0].at)
            if s.ratio != 1
        )
    return out
