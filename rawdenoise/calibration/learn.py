"""``calibrate --learn-noise``: learn a camera's dark noise and judge it on held-out frames.

The dark frames of every ISO are read as the camera wrote them (black level subtracted,
nothing else: colour bias, dark shading and fixed patterns stay in), centre-cropped to
``crop`` packed pixels, and split: the last ``holdout`` frames of each ISO (by file name) are
kept out of training. The learned generator and the parametric model (fitted to the same
training frames) are both sampled at the held-out frames' size and compared with them by the
statistics of :mod:`rawdenoise.noise.noise_stats`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from rawdenoise.errors import InputError
from rawdenoise.noise.noise_stats import NoiseStats, compare, wins
from rawdenoise.noise.parametric_dark import DarkParams


@dataclass
class IsoJudgement:
    """One ISO: the held-out real frames and both models' samples (DN above black)."""

    iso: float
    train_frames: int
    real: np.ndarray
    learned: np.ndarray
    parametric: np.ndarray
    learned_stats: NoiseStats
    parametric_stats: NoiseStats

    def wins(self) -> dict[str, bool]:
        return wins(self.learned_stats, self.parametric_stats)

    def to_json(self) -> dict:
        return {
            "iso": self.iso,
            "train_frames": self.train_frames,
            "held_out_frames": int(self.real.shape[0]),
            "learned": self.learned_stats.to_json(),
            "parametric": self.parametric_stats.to_json(),
            "learned_closer": self.wins(),
        }


@dataclass
class LearnResult:
    model: object  #: :class:`rawdenoise.noise.learned.LearnedNoise`
    judgements: list[IsoJudgement]
    parametric: list[DarkParams]


def load_dark_frames(dark_dir: Path, crop: int) -> tuple[dict[float, list[np.ndarray]], str, dict]:
    """{ISO: packed (4, h, w) frames in DN above black, in file-name order}, the camera, and
    its levels, CFA and frame size (kept with the learned model to write DNGs like the
    camera's)."""
    from rawdenoise.calibration.frames import (
        FrameLoader,
        check_one_camera,
        find_raw_files,
        read_infos,
    )
    from rawdenoise.calibration.per_iso import _centre_crop

    infos = read_infos(find_raw_files(Path(dark_dir), "dark"), "dark")
    camera = check_one_camera(infos)
    loader = FrameLoader()
    groups: dict[float, list[np.ndarray]] = {}
    for info in sorted(infos, key=lambda f: (f.iso, f.path.name)):
        groups.setdefault(float(info.iso), []).append(_centre_crop(loader.load(info.path), crop))
    assert loader.black is not None and loader.white is not None and loader.shape is not None
    levels = {
        "black_level": [float(v) for v in loader.black],
        "white_level": float(np.max(loader.white)),
        "cfa": loader.cfa,
        "size": [int(loader.shape[1]), int(loader.shape[0])],
    }
    return groups, camera, levels


def split(
    groups: dict[float, list[np.ndarray]], holdout: int, patch: int
) -> tuple[dict[float, np.ndarray], dict[float, np.ndarray]]:
    """(training, held-out) frames per ISO; refuses ISOs too small or with too few frames."""
    train, held = {}, {}
    for iso, frames in sorted(groups.items()):
        if len(frames) < holdout + 1:
            raise InputError(
                f"too few dark frames at ISO {iso:g} to learn the noise: {len(frames)}, need at "
                f"least {holdout + 1} ({holdout} held out to judge the model)",
                hint="shoot more dark frames per ISO (8 or more is better)",
            )
        h, w = frames[0].shape[1:]
        if min(h, w) < patch:
            raise InputError(
                f"dark frames of {2 * w}x{2 * h} pixels are too small to learn the noise from "
                f"{patch}-pixel patches",
                hint="use full-size RAW files",
            )
        train[iso] = np.stack(frames[:-holdout]).astype(np.float32)
        held[iso] = np.stack(frames[-holdout:]).astype(np.float64)
    return train, held


def judge(
    model, params: list[DarkParams], held: dict[float, np.ndarray], train_counts: dict, seed: int
) -> list[IsoJudgement]:
    """Sample both models like the held-out frames and compare."""
    from rawdenoise.noise.learn_train import sample_frames
    from rawdenoise.noise.parametric_dark import interpolate, sample_parametric

    out = []
    for iso, real in held.items():
        n, _, h, w = real.shape
        learned = sample_frames(model, iso, n, h, w, seed=seed)
        parametric = sample_parametric(interpolate(params, iso), n, h, w, seed=seed)
        out.append(
            IsoJudgement(
                iso=iso,
                train_frames=int(train_counts.get(iso, 0)),
                real=real,
                learned=learned,
                parametric=parametric,
                learned_stats=compare(real, learned),
                parametric_stats=compare(real, parametric),
            )
        )
    return out


def learn_noise(
    dark_dir: Path,
    config,
    *,
    crop: int = 256,
    holdout: int = 1,
    device="cpu",
    checkpoint: Path | None = None,
    resume: bool = False,
    progress: Callable[[int, int, dict[str, float]], None] | None = None,
    say: Callable[[str], None] | None = None,
) -> LearnResult:
    """Learn the dark noise in ``dark_dir`` (``config``: a LearnConfig) and judge it."""
    from rawdenoise.noise.learn_train import train_learned_noise
    from rawdenoise.noise.parametric_dark import fit_dark_params

    say = say or (lambda _msg: None)
    groups, camera, levels = load_dark_frames(dark_dir, crop)
    train, held = split(groups, holdout, config.patch)
    say("fitting the parametric model")
    params = [fit_dark_params(iso, list(frames)) for iso, frames in train.items()]
    say("learning the noise")
    model = train_learned_noise(
        train,
        config,
        device=device,
        checkpoint=checkpoint,
        resume=resume,
        progress=progress,
        info={
            "camera": camera,
            "crop": crop,
            "frames": {f"{i:g}": len(x) for i, x in train.items()},
            **levels,
        },
    )
    say("judging on held-out frames")
    counts = {iso: len(x) for iso, x in train.items()}
    return LearnResult(model, judge(model, params, held, counts, config.seed), params)
