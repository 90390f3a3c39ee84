"""rawdenoise calibrate --learn-noise: a simulated sensor's dark frames as DNG files, end to end."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from rawdenoise.calibration.synthetic import true_parameters, write_calibration_set
from rawdenoise.cli import main
from rawdenoise.default_plugins.camera_profiles import PROFILES
from rawdenoise.noise.learned import LearnedNoise
from rawdenoise.noise.simsensor import SimulatedSensor
from rawdenoise.specs import CameraProfile

ISOS = (800, 1600, 3200)
SENSOR = SimulatedSensor(height=64, width=64)


@pytest.fixture(autouse=True)
def one_thread():
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture(scope="module")
def shoot(tmp_path_factory) -> tuple[Path, Path]:
    folder = tmp_path_factory.mktemp("learn_shoot")
    _, flat = write_calibration_set(
        folder / "param",
        true_parameters(PROFILES[0], ISOS),
        height=2 * SENSOR.height,
        width=2 * SENSOR.width,
        dark_frames=0,
        flat_levels=(0.1, 0.4),
    )
    dark = folder / "dark"
    SENSOR.write_dark_dngs(dark, ISOS, 3)
    return dark, flat


def _run(capsys, *args: str) -> tuple[int, str, str]:
    code = main(["calibrate", *args])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def test_learn_noise_writes_model_beside_profile_and_judges_it(shoot, tmp_path, capsys):
    dark, flat = shoot
    out = tmp_path / "sim.json"
    code, stdout, stderr = _run(
        capsys, "--dark", str(dark), "--flat", str(flat), "--learn-noise", "--iterations", "3",
        "--device", "cpu", "--json", "--out", str(out),
    )  # fmt: skip
    assert code == 0, stderr
    data = json.loads(stdout)
    learned = data["learned_noise"]
    weights = Path(learned["weights"])
    assert weights == tmp_path / "sim_noise.safetensors" and weights.exists()
    profile = CameraProfile.from_dict(json.loads(out.read_text()))
    assert profile.learned_noise == "sim_noise.safetensors"
    model = LearnedNoise.load(out.parent / profile.learned_noise)
    assert model.isos == tuple(float(i) for i in ISOS) and model.info["iterations"] == 3
    assert [e["iso"] for e in learned["per_iso"]] == list(ISOS)
    for entry in learned["per_iso"]:
        assert entry["train_frames"] == 2 and entry["held_out_frames"] == 1
        for model_name in ("learned", "parametric"):
            assert set(entry[model_name]) >= {"kl", "row_std", "col_std", "spectrum"}
        assert set(entry["learned_closer"]) == {"kl", "row_std", "col_std", "spectrum"}
    assert set(learned["plots"]) == {"800", "1600", "3200"}
    for path in learned["plots"].values():
        assert Path(path).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    # the checkpoint of the finished run is gone
    from rawdenoise.training.checkpoint import checkpoint_path

    assert not checkpoint_path("calibrate", profile.id).exists()


def test_learn_noise_table_output(shoot, tmp_path, capsys):
    dark, flat = shoot
    code, stdout, stderr = _run(
        capsys, "--dark", str(dark), "--flat", str(flat), "--learn-noise", "--iterations", "2",
        "--no-plots", "--out", str(tmp_path / "t.json"),
    )  # fmt: skip
    assert code == 0, stderr
    assert "learned vs parametric" in stdout and "histogram KL" in stdout
    assert "t_noise.safetensors" in stdout
    assert not list(tmp_path.glob("*.png"))


def test_stale_checkpoint_is_refused(shoot, tmp_path, capsys):
    from rawdenoise.training.checkpoint import checkpoint_path

    dark, flat = shoot
    ckpt = checkpoint_path("calibrate", "sim")
    ckpt.parent.mkdir(parents=True, exist_ok=True)
    ckpt.write_bytes(b"x")
    code, _, stderr = _run(
        capsys, "--dark", str(dark), "--flat", str(flat), "--learn-noise", "--name", "sim",
        "--out", str(tmp_path),
    )  # fmt: skip
    assert code == 5 and stderr.startswith("rawdenoise: error: ") and "--resume" in stderr
    assert "Traceback" not in stderr and not (tmp_path / "sim.json").exists()


def test_too_few_dark_frames_to_hold_one_out(tmp_path, capsys):
    _, flat = write_calibration_set(
        tmp_path / "param",
        true_parameters(PROFILES[0], ISOS),
        height=2 * SENSOR.height,
        width=2 * SENSOR.width,
        dark_frames=0,
        flat_levels=(0.1, 0.4),
    )
    dark = tmp_path / "dark"
    SENSOR.write_dark_dngs(dark, ISOS, 2)
    (dark / "dark_iso800_01.dng").unlink()
    code, _, stderr = _run(capsys, "--dark", str(dark), "--flat", str(flat), "--learn-noise")
    assert code == 3 and stderr.startswith("rawdenoise: error: ") and "Traceback" not in stderr


def test_resume_needs_learn_noise(shoot, capsys):
    dark, flat = shoot
    code, _, stderr = _run(capsys, "--dark", str(dark), "--flat", str(flat), "--resume")
    assert code == 2 and "--learn-noise" in stderr and "Traceback" not in stderr
