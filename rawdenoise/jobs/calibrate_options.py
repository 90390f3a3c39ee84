"""The options, events and report of ``rawdenoise calibrate``
(:mod:`rawdenoise.jobs.calibrate`), and where its files go."""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from rawdenoise.errors import UsageError


@dataclass(frozen=True)
class CalibrateOptions:
    """One field per option of ``rawdenoise calibrate`` (same defaults)."""

    dark: Path | None = None
    flat: Path | None = None
    out: Path | None = None
    name: str | None = None
    overwrite: bool = False
    plots_on: bool = True
    learn: bool = False
    iterations: int = 800
    seed: int = 0
    device: str = "auto"
    threads: int | None = None
    resume: bool = False
    sample: str | None = None
    iso: float | None = None
    count: int = 4
    noise: str = "learned"
    size: str | None = None

    def validated(self) -> CalibrateOptions:
        """Raise :class:`UsageError` for a combination the command refuses."""
        from rawdenoise.specs import _NAME_RE

        if self.name is not None and not _NAME_RE.match(self.name):
            raise UsageError(
                f"invalid --name {self.name!r}",
                hint="use letters, digits, '.', '_', '+' and '-', starting with a letter or digit",
            )
        if self.sample is not None:
            if self.dark is not None or self.flat is not None or self.learn:
                raise UsageError(
                    "--sample does not calibrate: leave out --dark, --flat and --learn-noise"
                )
            if self.iso is None or not self.iso > 0:
                raise UsageError("--sample needs --iso N (a positive ISO)")
            if self.out is None:
                raise UsageError("--sample needs --out DIR (the folder for the DNG files)")
            if self.out.exists() and not self.out.is_dir():
                raise UsageError(f"--out {self.out} is a file; --sample writes into a folder")
            return self
        if self.dark is None:
            raise UsageError("missing option --dark", hint="see rawdenoise calibrate --help")
        if self.flat is None and not self.learn:
            raise UsageError(
                "missing option --flat",
                hint="flat frames give the system gain K; without them only --learn-noise runs "
                "(adding a learned noise model to an existing profile)",
            )
        if self.resume and not self.learn:
            raise UsageError(
                "--resume continues an interrupted --learn-noise", hint="add --learn-noise"
            )
        return self


@contextlib.contextmanager
def _silent(_text: str) -> Iterator[Callable[[str], None]]:
    yield lambda _message: None


@dataclass
class CalibrateEvents:
    """``stage(text)``: a context manager around calibrating, yielding a status callback;
    ``training``: a :class:`~rawdenoise.training.progress.ProgressSink` for --learn-noise (or
    None); ``warning(message)`` for what the profile's user should know."""

    stage: Callable[[str], contextlib.AbstractContextManager[Callable[[str], None]]] = _silent
    training: Any = None
    warning: Callable[[str], None] = lambda _message: None


@dataclass
class CalibrateReport:
    """What was written. ``mode``: ``calibrate`` (``result``: the fits), ``learn`` (the
    learned model added to an existing ``profile``), ``sample`` (``files``)."""

    mode: str
    target: Path | None = None  #: the profile JSON
    result: Any = None  #: rawdenoise.calibration.results.CalibrationResult
    plots: dict[str, Path] = field(default_factory=dict)
    learned: Any = None  #: rawdenoise.calibration.learn.LearnedResult
    learn_plots: dict[float, Path] = field(default_factory=dict)
    profile: Any = None  #: the CameraProfile written
    files: list[Path] = field(default_factory=list)
    sample: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        """The JSON of ``rawdenoise calibrate --json``."""
        if self.mode == "sample":
            return {**self.sample, "files": [str(p) for p in self.files]}
        if self.mode == "learn":
            return {"profile": str(self.target), "learned_noise": self._learned_dict()}
        payload = calibration_payload(self.result, self.target, self.plots)
        if self.learned is not None:
            payload["learned_noise"] = self._learned_dict()
        return payload

    def _learned_dict(self) -> dict[str, Any]:
        assert self.target is not None
        return {
            "weights": str(learned_path(self.target)),
            "iterations": self.learned.model.info.get("iterations"),
            "per_iso": [j.to_json() for j in self.learned.judgements],
            "plots": {f"{iso:g}": str(p) for iso, p in self.learn_plots.items()},
        }


def learned_path(profile_path: Path) -> Path:
    """The learned noise model's weights beside the profile."""
    return profile_path.with_name(profile_path.stem + "_noise.safetensors")


def profile_target(out: Path | None, name: str, default_dir: Path) -> Path:
    """The profile JSON ``--out`` names (a folder: NAME.json inside it)."""
    if out is None:
        return default_dir / f"{name}.json"
    if out.is_dir():
        return out / f"{name}.json"
    return out if out.suffix.lower() == ".json" else out.with_name(out.name + ".json")


def residuals(result: Any) -> list[dict[str, float]]:
    """Per ISO, log sigma minus the log-linear fit, for each read-noise kind."""
    import math

    out = []
    for r in result.isos:
        lk = math.log(r.k)
        row = {}
        for key, value in (("tukey", r.tl_sigma), ("gaussian", r.read_sigma), ("row", r.row_sigma)):
            fit = result.fits[key]
            row[key] = math.log(max(value, 1e-6)) - (fit.slope * lk + fit.intercept)
        out.append(row)
    return out


def calibration_payload(result: Any, target: Path | None, plots: dict[str, Path]) -> dict:
    per_iso = []
    for r, resid in zip(result.isos, residuals(result), strict=True):
        entry = r.to_json()
        entry["residuals"] = resid
        per_iso.append(entry)
    noise = result.profile.noise
    return {
        "profile": str(target),
        "id": result.profile.id,
        "camera": f"{result.profile.make} {result.profile.model}",
        "cfa": result.cfa,
        "size": [result.shape[1], result.shape[0]],
        "k_range": [noise.k_min, noise.k_max],
        "per_iso": per_iso,
        "fits": {
            key: {"slope": f.slope, "bias": f.intercept, "sigma": f.residual_sigma, "r2": f.r2}
            for key, f in result.fits.items()
        },
        "plots": {kind: str(p) for kind, p in plots.items()},
        "warnings": list(result.warnings),
    }
