"""Shared fixtures: an isolated RAWDENOISE_HOME, tiny DNG writers, the shared real samples."""

from __future__ import annotations

import os
from fractions import Fraction
from pathlib import Path

import numpy as np
import pytest

from rawdenoise.dng import write_dng

SHARED_DATA = Path(
    os.environ.get(
        "RAWDENOISE_SHARED_DATA", Path(__file__).resolve().parents[2] / "shared" / "data"
    )
)


@pytest.fixture(autouse=True)
def rawdenoise_home(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch):
    """Every test gets its own RAWDENOISE_HOME: no test touches the user's directories."""
    home = tmp_path_factory.mktemp("rawdenoise_home")
    monkeypatch.setenv("RAWDENOISE_HOME", str(home))
    return home


@pytest.fixture
def shared_data() -> Path:
    """The real RAW samples in ../shared/data (skipped with a reason where absent)."""
    if not (SHARED_DATA / "MANIFEST.md").exists():
        pytest.skip(f"real RAW samples not found at {SHARED_DATA} (set RAWDENOISE_SHARED_DATA)")
    return SHARED_DATA


def synthetic_mosaic(
    h: int, w: int, *, black: float = 64, white: float = 1023, seed: int = 0
) -> np.ndarray:
    """A smooth scene with edges plus a little noise, as uint16 DN between black and white."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    scene = 0.35 + 0.25 * np.sin(xx / 7.0) * np.cos(yy / 11.0)
    scene += 0.2 * ((xx // 16 + yy // 16) % 2)
    scene = np.clip(scene + rng.normal(0, 0.01, size=(h, w)), 0, 1)
    return (black + scene * (white - black)).astype(np.uint16)


@pytest.fixture
def make_dng(tmp_path: Path):
    """Factory writing a tiny real CFA DNG (rawpy reads it) with chosen CFA, levels and EXIF."""

    def _make(
        name: str = "frame.dng",
        *,
        h: int = 64,
        w: int = 96,
        cfa: str = "RGGB",
        black: float | list[float] = 64,
        white: float = 1023,
        iso: float | None = 100,
        exposure: float | Fraction | str | None = Fraction(1, 100),
        make: str = "Test",
        model: str = "Cam",
        capture_time: str | None = "2024:05:01 12:00:00",
        mosaic: np.ndarray | None = None,
        seed: int = 0,
        folder: Path | None = None,
    ) -> Path:
        folder = folder or tmp_path
        folder.mkdir(parents=True, exist_ok=True)
        path = folder / name
        if mosaic is None:
            bl = float(np.mean(black)) if not np.isscalar(black) else float(black)
            mosaic = synthetic_mosaic(h, w, black=bl, white=white, seed=seed)
        if isinstance(exposure, str):
            exposure = Fraction(exposure)
        write_dng(
            path,
            mosaic,
            cfa=cfa,
            black_level=black,
            white_level=white,
            make=make,
            model=model,
            iso=iso,
            exposure_time=exposure,
            capture_time=capture_time,
        )
        return path

    return _make


@pytest.fixture(scope="session")
def unprivileged_ok(tmp_path_factory: pytest.TempPathFactory) -> None:
    """Tests that chmod files away from the command they run need it to respect permissions:
    as root, ``_faults.Run(unprivileged=True)`` drops the file access override; skip where
    that is not allowed (no CAP_SETPCAP)."""
    import subprocess
    import sys

    from _faults import drop_file_access_override

    if os.geteuid() != 0:
        return
    probe = tmp_path_factory.mktemp("probe") / "secret"
    probe.write_text("x")
    probe.chmod(0)
    proc = subprocess.run(
        [sys.executable, "-c", f"open({str(probe)!r}).read()"],
        preexec_fn=drop_file_access_override,
        capture_output=True,
    )
    if proc.returncode == 0:
        pytest.skip("running as root and the file access override cannot be dropped here")


@pytest.fixture
def tiny_model(tmp_path: Path) -> Path:
    """A saved TinyNet model (fixed weights, target exposure 0.64): a network for the commands."""
    import torch

    from rawdenoise.networks.tiny import TinyNet
    from rawdenoise.specs import ModelInfo
    from rawdenoise.weights import save_model

    torch.manual_seed(0)
    path = tmp_path / "tiny.safetensors"
    save_model(path, TinyNet(), ModelInfo(architecture="tiny", target_exposure=0.64))
    return path
