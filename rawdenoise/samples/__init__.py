"""Two small RAW samples shipped with rawdenoise, so the first command works out of the box.

Both are 512x768 crops of real sensor data: the GoPro HERO6 Black ISO 100 frame
``gopro_hero6_iso100_GOPR0024.dng`` from the public ``gopro/gpr`` samples (MIT / Apache-2.0),
rescaled to 14-bit levels (black 512, white 16383).

- ``bright_iso100.dng``: the clean frame, tagged ISO 100, 10 s (exposure level 1000).
- ``dark_iso6400.dng``: the same scene 100x darker with synthetic Sony A7S2 ISO 6400 noise
  (shot noise K = 6.12 DN/e-, read noise 7.1 DN, row noise 0.72 DN: method.md §9.3), tagged
  ISO 6400, 1/640 s (exposure level 10, ratio 100).

``python -m rawdenoise.samples.build SOURCE.dng --out DIR`` rebuilds them into ``DIR``
(byte for byte; the package itself is never written).
"""

from __future__ import annotations

from pathlib import Path

SAMPLES_DIR = Path(__file__).resolve().parent
BRIGHT = SAMPLES_DIR / "bright_iso100.dng"
DARK = SAMPLES_DIR / "dark_iso6400.dng"


def sample_paths() -> dict[str, Path]:
    return {"bright": BRIGHT, "dark": DARK}
