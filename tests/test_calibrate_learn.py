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


@pytest.fixture(scope="module")
def learned_profile(shoot, tmp_path_factory) -> Path:
    """A profile with a (briefly) learned noise model, written by calibrate itself."""
    import os

    dark, flat = shoot
    folder = tmp_path_factory.mktemp("learned_profile")
    old = os.environ.get("RAWDENOISE_HOME")
    os.environ["RAWDENOISE_HOME"] = str(folder / "home")
    try:
        code = main(
            ["calibrate", "-q", "--dark", str(dark), "--flat", str(flat), "--learn-noise",
             "--iterations", "2", "--no-plots", "--name", "cam", "--out", str(folder / "cam.json")]
        )  # fmt: skip
    finally:
        if old is None:
            os.environ.pop("RAWDENOISE_HOME", None)
        else:
            os.environ["RAWDENOISE_HOME"] = old
    assert code == 0
    return folder / "cam.json"


@pytest.mark.parametrize("noise", ["learned", "parametric"])
def test_sample_writes_camera_like_dngs(learned_profile, tmp_path, capsys, noise):
    from rawdenoise.exif import read_exif
    from rawdenoise.rawio import read_raw

    out = tmp_path / "samples"
    code, stdout, stderr = _run(
        capsys, "--sample", str(learned_profile), "--iso", "1200", "--count", "2",
        "--noise", noise, "--size", "96x64", "--out", str(out), "--json",
    )  # fmt: skip
    assert code == 0, stderr
    files = [Path(p) for p in json.loads(stdout)["files"]]
    assert [p.name for p in files] == [f"cam_iso1200_{noise}_{i:03d}.dng" for i in range(2)]
    for path in files:
        frame = read_raw(path)
        assert frame.mosaic.shape == (64, 96) and frame.cfa == "RGGB"
        assert list(frame.black_level) == [SENSOR.black] * 4
        assert float(frame.white_level.max()) == SENSOR.white
        assert read_exif(path).iso == 1200
        above = frame.mosaic.astype(float) - SENSOR.black
        assert abs(above.mean()) < 10 and 0.5 < above.std() < 50
    # again: the files exist
    code, _, stderr = _run(
        capsys, "--sample", str(learned_profile), "--iso", "1200", "--count", "2",
        "--noise", noise, "--size", "96x64", "--out", str(out),
    )  # fmt: skip
    assert code == 5 and "--overwrite" in stderr


def test_sample_from_a_registered_profile_id(learned_profile, rawdenoise_home, tmp_path, capsys):
    import shutil

    from rawdenoise.dirs import profiles_dir

    profiles_dir().mkdir(parents=True, exist_ok=True)
    shutil.copy(learned_profile, profiles_dir() / "cam.json")
    shutil.copy(learned_profile.parent / "cam_noise.safetensors", profiles_dir())
    code, _, stderr = _run(
        capsys, "--sample", "cam", "--iso", "800", "--count", "1", "--size", "32x32",
        "--out", str(tmp_path),
    )  # fmt: skip
    assert code == 0, stderr
    assert (tmp_path / "cam_iso800_learned_000.dng").exists()


def test_sample_errors(learned_profile, tmp_path, capsys):
    args = ("--sample", str(learned_profile), "--out", str(tmp_path))
    code, _, stderr = _run(capsys, *args)
    assert code == 2 and "--iso" in stderr
    code, _, stderr = _run(capsys, *args, "--iso", "800", "--size", "33x20")
    assert code == 2 and "even" in stderr
    code, _, stderr = _run(capsys, *args, "--iso", "800", "--noise", "other")
    assert code == 2 and "learned or parametric" in stderr
    code, _, stderr = _run(capsys, *args, "--iso", "800", "--dark", str(tmp_path))
    assert code == 2 and "--sample does not calibrate" in stderr
    data = json.loads(learned_profile.read_text())
    data.pop("learned_noise")
    bare = tmp_path / "bare.json"
    bare.write_text(json.dumps(data))
    code, _, stderr = _run(capsys, "--sample", str(bare), "--iso", "800", "--out", str(tmp_path))
    assert code == 2 and "no learned noise model" in stderr and "--noise parametric" in stderr
    code, _, stderr = _run(capsys, "--sample", str(tmp_path / "missing.json"), "--iso", "800",
                           "--out", str(tmp_path))  # fmt: skip
    assert code == 3 and "not found" in stderr
    assert "Traceback" not in stderr


def test_learn_noise_without_flats_adds_to_an_existing_profile(
    shoot, learned_profile, tmp_path, capsys
):
    dark, _ = shoot
    data = json.loads(learned_profile.read_text())
    data.pop("learned_noise")
    target = tmp_path / "cam.json"
    target.write_text(json.dumps(data))
    code, stdout, stderr = _run(
        capsys, "--dark", str(dark), "--learn-noise", "--iterations", "2", "--out", str(target),
        "--json",
    )  # fmt: skip
    assert code == 0, stderr
    payload = json.loads(stdout)
    assert payload["profile"] == str(target)
    assert len(payload["learned_noise"]["per_iso"]) == 3
    updated = CameraProfile.from_dict(json.loads(target.read_text()))
    assert updated.learned_noise == "cam_noise.safetensors"
    assert updated.noise == CameraProfile.from_dict(data).noise  # the calibration is kept
    assert LearnedNoise.load(tmp_path / "cam_noise.safetensors").isos == tuple(map(float, ISOS))
    # again: the model exists
    code, _, stderr = _run(
        capsys, "--dark", str(dark), "--learn-noise", "--iterations", "2", "--out", str(target)
    )
    assert code == 5 and "--overwrite" in stderr


def test_without_flats_a_profile_must_exist(shoot, tmp_path, capsys):
    dark, _ = shoot
    code, _, stderr = _run(capsys, "--dark", str(dark), "--out", str(tmp_path / "x.json"))
    assert code == 2 and "missing option --flat" in stderr
    code, _, stderr = _run(
        capsys, "--dark", str(dark), "--learn-noise", "--out", str(tmp_path / "x.json")
    )
    assert code == 2 and "no camera profile" in stderr and "--flat" in stderr
    assert "Traceback" not in stderr and not (tmp_path / "x_noise.safetensors").exists()


def test_an_existing_learned_noise_plot_is_refused_before_training(shoot, tmp_path, capsys):
    dark, flat = shoot
    (tmp_path / "p_learned_noise_iso1600.png").write_bytes(b"mine")
    code, _, stderr = _run(
        capsys, "--dark", str(dark), "--flat", str(flat), "--learn-noise",
        "--out", str(tmp_path / "p.json"),
    )  # fmt: skip
    assert code == 5 and "p_learned_noise_iso1600.png" in stderr and "learning" not in stderr
    assert (tmp_path / "p_learned_noise_iso1600.png").read_bytes() == b"mine"
    assert not (tmp_path / "p.json").exists() and not (tmp_path / "p_noise.safetensors").exists()
