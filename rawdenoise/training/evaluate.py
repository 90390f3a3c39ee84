"""Score a model on a pair list: PSNR/SSIM of its output and of the noisy input (LED protocol)."""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, replace
from typing import Any

import numpy as np

from rawdenoise.training.metrics import raw_metrics


@dataclass
class PairScore:
    noisy: str  #: the noisy frame's path (as the list names it, joined to its folder or root)
    clean: str
    ratio: float  #: the gain applied: the pair's EXIF ratio, or the ``ratio`` given
    psnr: float
    ssim: float
    noisy_psnr: float
    noisy_ssim: float
    line: int | None = None  #: the line of the pair list

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def _mean(values: Sequence[float]) -> float:
    return float(np.mean(values)) if values else float("nan")


def summarize(scores: Sequence[PairScore]) -> dict[str, float]:
    """Means per image (LED averages per image)."""
    return {
        "psnr": _mean([s.psnr for s in scores]),
        "ssim": _mean([s.ssim for s in scores]),
        "noisy_psnr": _mean([s.noisy_psnr for s in scores]),
        "noisy_ssim": _mean([s.noisy_ssim for s in scores]),
    }


def evaluate_pairs(
    pairs: Sequence[Any],
    network: Any,
    *,
    multiple_of: int,
    device: str = "auto",
    tile: int | None = None,
    on_pair: Callable[[int, PairScore], None] | None = None,
    on_warning: Callable[[str], None] | None = None,
    on_skip: Callable[[Any, str], None] | None = None,
    ensemble: int = 1,
    ratio: float | None = None,
    architecture: Any = None,
    level_lock: bool = False,
) -> list[PairScore]:
    """Denoise every pair's noisy frame and score it against the clean one.

    ``pairs`` are :class:`rawdenoise.pairing.Pair`; ``network`` a network or a loaded model (a
    ratio blend runs at each pair's ratio, :func:`~rawdenoise.ratio_blend.network_at`). The
    input is LED's ``min(noisy * ratio, 1)`` with the ratio from EXIF, or ``ratio`` for every
    pair when given (1 for a normally exposed high-ISO frame and its clean twin); the output and
    the input are both scored, in the packed raw domain, by
    :func:`rawdenoise.training.metrics.raw_metrics` (whose brightness correction leaves out the
    pixels saturated in the clean frame). A pair whose file can no longer be decoded (changed
    since the list was checked) goes to ``on_skip(pair, reason)`` and the others are scored;
    without ``on_skip`` the error is raised. ``ensemble``: see
    :func:`rawdenoise.inference.denoise`; ``architecture`` (the network's spec) lets an unusable
    output name the plugin that provides it. ``level_lock``: score the output moved to the
    input's local level, as ``process`` writes it (:mod:`rawdenoise.level_lock`).
    """
    from rawdenoise.errors import InputError
    from rawdenoise.inference import BELOW_BLACK, denoise
    from rawdenoise.level_lock import lock_level
    from rawdenoise.ratio_blend import network_at
    from rawdenoise.training.frames import decode

    scores = []
    last_clean: tuple[Any, np.ndarray] | None = None
    for i, pair in enumerate(pairs):
        try:
            if last_clean is not None and last_clean[0] == pair.clean:
                clean = last_clean[1]
            else:
                clean = np.clip(decode(pair.clean).data, 0.0, 1.0)
                last_clean = (pair.clean, clean)
            noisy = decode(pair.noisy).data
        except InputError as exc:
            if on_skip is None:
                raise
            on_skip(pair, exc.message)
            continue
        gain = float(pair.ratio if ratio is None else ratio)
        if on_warning is not None:  # the data against the gain applied
            source = "EXIF" if ratio is None else "--ratio"
            for message in _pair_warnings(replace(pair, ratio=gain), noisy, clean, source):
                on_warning(message)
        x = np.minimum(noisy * np.float32(gain), np.float32(1.0))
        out = denoise(
            network_at(network, gain), x, multiple_of=multiple_of, tile=tile, device=device,
            ensemble=ensemble, architecture=architecture, low=BELOW_BLACK if level_lock else 0.0,
        )  # fmt: skip
        if level_lock:  # as process writes it, then LED's clip at 0 for the score
            lock_level(x, out, low=0.0)
        p, s = raw_metrics(out, clean)
        np_, ns = raw_metrics(x, clean)
        score = PairScore(str(pair.noisy), str(pair.clean), gain, p, s, np_, ns, line=pair.line)
        if on_warning is not None and not (math.isfinite(p) and math.isfinite(np_)):
            on_warning(
                f"{pair.clean} is uniform (all black or all saturated): PSNR is undefined "
                "for this pair; drop it from the list"
            )
        scores.append(score)
        if on_pair is not None:
            on_pair(i, score)
    return scores


def _pair_warnings(pair: Any, noisy: np.ndarray, clean: np.ndarray, source: str) -> list[str]:
    """``pair``'s frames against its ratio: the check ``pair`` makes, on the decoded data."""
    from rawdenoise.pairing.similarity import Verification, verification_warnings

    dark = float(np.mean(noisy))
    measured = float(np.mean(clean)) / dark if dark > 1e-6 else None
    return verification_warnings(pair, Verification(None, measured), "", source=source)
