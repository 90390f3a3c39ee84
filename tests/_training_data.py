"""Generated RAW data for the training tests: clean scenes and noisy pairs from a real profile.

Clean frames are random scenes (smooth shading, edges, texture; unique per seed) written as
14-bit DNGs at ISO 100, 1 s. Noisy frames are those scenes darkened by the ratio with the
published Sony A7S2 noise at the noisy ISO (``rawdenoise.training.synthetic``), written with
EXIF that gives the ratio exactly, so pair lists validate like real captures.
"""

from __future__ import annotations

from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

import numpy as np

from rawdenoise.dng import write_dng
from rawdenoise.training.synthetic import write_noisy_dng

BLACK, WHITE = 512, 16383
PROFILE = "sony-a7s2"


def scene_mosaic(seed: int, h: int = 128, w: int = 128) -> np.ndarray:
    """A clean mosaic (uint16 DN) of a random scene, values in about [0.05, 0.9] of range."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float64)
    x = 0.3 + 0.2 * np.sin(xx / rng.uniform(5, 15) + rng.uniform(0, 6)) * np.cos(
        yy / rng.uniform(5, 15)
    )
    for _ in range(6):  # flat patches with sharp edges
        t, l_ = rng.integers(0, h - 16), rng.integers(0, w - 16)
        x[t : t + rng.integers(8, 48), l_ : l_ + rng.integers(8, 48)] = rng.uniform(0.05, 0.9)
    x += 0.05 * (xx / w) + rng.normal(0, 0.003, size=(h, w))
    return np.rint(BLACK + np.clip(x, 0, 1) * (WHITE - BLACK)).astype(np.uint16)


def write_clean(path: Path, seed: int, *, h: int = 128, w: int = 128, model: str = "A7S2") -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    return write_dng(
        path,
        scene_mosaic(seed, h, w),
        cfa="RGGB",
        black_level=BLACK,
        white_level=WHITE,
        make="Synthetic",
        model=model,
        iso=100,
        exposure_time=Fraction(1),
        capture_time="2024:05:01 12:00:00",
    )


def write_pairs(
    folder: Path,
    scenes: list[int],
    ratios: list[int],
    *,
    list_name: str = "pairs.txt",
    noisy_iso: float = 6400,
    h: int = 128,
    w: int = 128,
) -> Path:
    """One clean frame per scene and one noisy frame per (scene, ratio); returns the list."""
    folder.mkdir(parents=True, exist_ok=True)
    lines = []
    for s in scenes:
        clean = folder / f"scene{s}_clean.dng"
        if not clean.exists():
            write_clean(clean, s, h=h, w=w)
        for r in ratios:
            noisy = folder / f"scene{s}_x{r}.dng"
            if not noisy.exists():
                write_noisy_dng(
                    clean, noisy, profile=PROFILE, noisy_iso=noisy_iso, ratio=r, seed=1000 * s + r
                )
            lines.append(f"{noisy.name} {clean.name}")
    out = folder / list_name
    out.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return out


# --------------------------------------------------------------------------------------------
# One generated data set and one tiny pretrained base model per test session
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class TrainingSet:
    root: Path
    clean_dir: Path  #: clean frames for pretraining (scenes 10-13)
    pairs: Path  #: fine-tuning pairs: scenes 1 and 2 at ratios 100 and 250
    held: Path  #: held-out pairs: scene 3 at ratios 100 and 250
    base: Path  #: a tiny RepNR model pretrained on clean_dir (virtual cameras)


_CACHE: dict[str, TrainingSet] = {}


def training_set(factory) -> TrainingSet:
    """Build (once per session) the data and a tiny base model; ``factory``: tmp_path_factory."""
    if "set" in _CACHE:
        return _CACHE["set"]
    import pytest

    from rawdenoise.training.pretrain import PretrainConfig, pretrain

    root = factory.mktemp("training_set")
    clean_dir = root / "clean"
    for s in range(10, 14):
        write_clean(clean_dir / f"clean{s}.dng", s)
    pairs = write_pairs(root / "pairs", [1, 2], [100, 250])
    held = write_pairs(root / "held", [3], [100, 250])
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("RAWDENOISE_HOME", str(root / "home"))
        result = pretrain(
            PretrainConfig(
                inputs=[clean_dir],
                name="base",
                arch="tiny",
                iterations=60,
                batch=4,
                crop=32,
                lr=3e-3,
                checkpoint_every=0,
                threads=1,
            )
        )
    _CACHE["set"] = TrainingSet(root, clean_dir, pairs, held, result.path)
    return _CACHE["set"]
