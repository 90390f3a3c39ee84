"""The job behind ``rawdenoise evaluate``: PSNR/SSIM of a model on a pair list (LED's
raw-domain protocol, :mod:`rawdenoise.training.evaluate`), skipping lines that cannot be
scored and saying so."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from rawdenoise.errors import InputError, UsageError

PROTOCOL = (
    "LED raw-domain: clamp, illumination correction, crop_border 2, "
    "PSNR float64, SSIM gaussian 11/1.5 on x255"
)


@dataclass(frozen=True)
class EvaluateOptions:
    """One field per option of ``rawdenoise evaluate`` (``ratio`` None: from EXIF)."""

    pairs: Path
    model: str = "default"
    root: Path | None = None
    device: str = "auto"
    threads: int | None = None
    tile: int | None = None
    ensemble: int = 1
    ratio: float | None = None
    level_lock: bool = False  #: score what process writes (off: LED's protocol)

    def check(self) -> None:
        """The settings first: one error, nothing loaded."""
        from rawdenoise import devices, tiling
        from rawdenoise.ensemble import check_ensemble
        from rawdenoise.training.options import check_finite

        devices.check_threads(self.threads)
        check_ensemble(self.ensemble)
        devices.choose_device(self.device)
        tiling.check_tiling(self.tile, None, 1)  # its sign now; the network's stride later
        if self.ratio is not None:
            check_finite(self.ratio, "--ratio")
            if self.ratio <= 0:
                raise UsageError(f"--ratio must be positive, got {self.ratio:g}")


@dataclass
class EvaluateReport:
    options: EvaluateOptions
    model_path: Path
    scores: list[Any]  #: rawdenoise.training.evaluate.PairScore, one per scored pair
    means: dict[str, float]
    skipped: list[str] = field(default_factory=list)  #: why each skipped line was skipped

    def to_dict(self) -> dict[str, Any]:
        """The JSON of ``rawdenoise evaluate --json``."""
        ratio = self.options.ratio
        return {
            "model": self.options.model,
            "model_path": str(self.model_path),
            "ensemble": self.options.ensemble,
            "level_lock": self.options.level_lock,
            "ratio": ratio if ratio is not None else "exif",
            "pairs": [s.to_dict() for s in self.scores],
            **self.means,
            "skipped": self.skipped,
            "protocol": PROTOCOL,
        }

    def skipped_error(self) -> InputError | None:
        """Lines were skipped: the command's exit code is then 3, after the means."""
        if not self.skipped:
            return None
        n, pairs, scored = len(self.skipped), self.options.pairs, len(self.scores)
        return InputError(
            f"pair list {pairs}: {n} line{'s' if n != 1 else ''} skipped (reasons "
            f"above); the means are over the other {scored} pair{'s' if scored != 1 else ''}",
            hint=f"'rawdenoise pair --check {pairs}' lists every problem",
        )


def evaluate(
    options: EvaluateOptions,
    *,
    info: Callable[[str], None] = lambda _m: None,
    warn: Callable[[str], None] = lambda _m: None,
) -> EvaluateReport:
    """Score the model on every pair of the list; ``info`` gets a line per pair, ``warn`` one
    per skipped line."""
    from rawdenoise import heap
    from rawdenoise.interrupts import preload

    heap.keep_freed_memory()  # each tile's activations reuse the last one's pages
    preload("numpy", "rawpy", "torch")  # a Ctrl-C waits for them: see preload
    from rawdenoise import tiling
    from rawdenoise.pairing import SAME_LEVEL, check_pair_list
    from rawdenoise.training.device import cpu_threads
    from rawdenoise.training.evaluate import evaluate_pairs, summarize
    from rawdenoise.weights import load_model

    opts = options
    opts.check()
    # a ratio-1 pair is valid here (same exposure level); a clean frame darker is not
    check = check_pair_list(
        opts.pairs, opts.root, verify=False, one_camera=False, min_ratio=1 / SAME_LEVEL
    )
    if not check.pairs:
        check.raise_for_problems()
    pair_list = check.pairs
    loaded = load_model(opts.model)
    tiling.check_tiling(opts.tile, None, loaded.multiple_of)
    skipped: list[str] = []

    def skip(problem: str) -> None:
        warn(f"skipped {problem}")
        skipped.append(problem)

    for problem in check.problems:
        skip(problem)
    info(f"evaluating {loaded.path.name} on {len(pair_list)} pair(s)")

    def progress(i: int, score: Any) -> None:
        info(
            f"[{i + 1}/{len(pair_list)}] {score.noisy}: {score.psnr:.2f} dB / {score.ssim:.4f} "
            f"(noisy {score.noisy_psnr:.2f} dB / {score.noisy_ssim:.4f})"
        )

    with cpu_threads(opts.threads):
        scores = evaluate_pairs(
            pair_list,
            loaded,  # its network at each pair's ratio (a ratio blend's differ)
            multiple_of=loaded.multiple_of,
            device=opts.device,
            tile=opts.tile,
            on_pair=progress,
            on_warning=warn,
            on_skip=lambda pair, reason: skip(f"line {pair.line}: {reason}"),
            ensemble=opts.ensemble,
            ratio=opts.ratio,
            architecture=loaded.spec,
            level_lock=opts.level_lock,
        )
    return EvaluateReport(opts, loaded.path, scores, summarize(scores), skipped)
