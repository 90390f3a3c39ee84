"""``rawdenoise finetune``: adaptation raises held-out PSNR, exact resume, early pair-list errors.

Data: generated scenes with the published Sony A7S2 noise (see ``_training_data``); the base
model is a tiny RepNR network pretrained for a few seconds. ``--threads 1`` keeps these runs
fast on a busy 2-core machine (torch's thread pool idles expensively under contention).
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
from _training_data import training_set, write_clean, write_pairs
from safetensors.torch import load_file

from rawdenoise.cli import main
from rawdenoise.dirs import data_dir, models_dir
from rawdenoise.training.finetune import FinetuneConfig, finetune
from rawdenoise.training.loop import TrainingInterrupted
from rawdenoise.training.synthetic import write_noisy_dng
from rawdenoise.weights import load_model

FAST = ["--crop", "48", "--batch", "2", "--threads", "1"]


@pytest.fixture
def data(tmp_path_factory):
    return training_set(tmp_path_factory)


def _evaluate(capsys, pairs: Path, model: str) -> dict:
    capsys.readouterr()
    assert main(["evaluate", str(pairs), "--model", model, "--json", "--threads", "1"]) == 0
    return json.loads(capsys.readouterr().out)


def test_finetune_raises_heldout_psnr_and_saves_a_plain_model(data, capsys, tmp_path) -> None:
    before = _evaluate(capsys, data.held, str(data.base))
    code = main(
        ["finetune", str(data.pairs), "--model", str(data.base), "--name", "mycam"]
        + ["--iterations", "40,40", "--lr", "1e-2,1e-3", *FAST]
    )
    err = capsys.readouterr().err
    assert code == 0, err
    assert "RepNR base with 5 camera branches" in err
    after = _evaluate(capsys, data.held, "mycam")  # loaded by name
    assert after["psnr"] > before["psnr"] + 0.5, (before["psnr"], after["psnr"])
    assert after["ssim"] > before["ssim"]
    assert after["noisy_psnr"] == pytest.approx(before["noisy_psnr"])

    loaded = load_model("mycam")
    assert loaded.info.kind == "plain" and loaded.repnr is None
    assert not any("align" in k or "main_weight" in k for k in loaded.network.state_dict())
    assert loaded.info.camera == "Synthetic A7S2"
    assert loaded.info.ratio_range == (100.0, 250.0)
    assert loaded.info.target_exposure == pytest.approx(100.0)  # clean frames: ISO 100 x 1 s
    assert loaded.info.extra["iterations"] == [40, 40]
    assert len(loaded.info.extra["pairs"]) == 4
    assert not (data_dir() / "checkpoints" / "finetune-mycam.ckpt").exists()

    try:
        import rawdenoise.cli.process  # noqa: F401
    except ModuleNotFoundError:
        return
    noisy = data.held.parent / "scene3_x100.dng"
    out = tmp_path / "out"
    code = main(
        ["process", str(noisy), "--model", "mycam", "--ratio", "auto", "--format", "dng"]
        + ["--out", str(out), "--threads", "1"]
    )
    assert code == 0, capsys.readouterr().err
    assert list(out.glob("*.dng"))


def test_finetune_on_ratio_1_pairs_for_normally_exposed_high_iso_photos(
    data, capsys, tmp_path
) -> None:
    """ISO 6400 frames at the clean frames' exposure level (ratio 1): a valid pair list; the
    model is adapted for ``process --ratio 1``."""
    pairs = write_pairs(tmp_path / "r1", [1, 2], [1])
    code = main(
        ["finetune", str(pairs), "--model", str(data.base), "--name", "iso6400"]
        + ["--iterations", "3,3", *FAST]
    )
    assert code == 0, capsys.readouterr().err
    assert load_model("iso6400").info.ratio_range == (1.0, 1.0)


def _weights(name: str) -> dict[str, torch.Tensor]:
    return load_file(str(models_dir() / f"{name}.safetensors"))


@pytest.mark.parametrize("stop_at", [3, 7])  # in the alignment stage; in the aux stage
def test_killed_finetune_resumes_to_identical_weights(data, capsys, stop_at: int) -> None:
    common = ["--iterations", "5,4", "--lr", "1e-2,1e-3", "--seed", "5", *FAST]
    assert (
        main(["finetune", str(data.pairs), "--model", str(data.base), "--name", "full"] + common)
        == 0
    )
    cfg = FinetuneConfig(
        pairs=data.pairs,
        model=str(data.base),
        name="part",
        iterations=(5, 4),
        lr=(1e-2, 1e-3),
        crop=48,
        batch=2,
        seed=5,
        threads=1,
        stop_after=stop_at,
    )
    with pytest.raises(TrainingInterrupted):
        finetune(cfg)
    ckpt = data_dir() / "checkpoints" / "finetune-part.ckpt"
    assert ckpt.exists() and not (models_dir() / "part.safetensors").exists()
    # meanwhile the checkpoint works as a model: the fine-tuned network so far
    partial = load_model(str(ckpt))
    assert partial.source == "checkpoint" and partial.info.architecture == "tiny"
    assert partial.info.trained_on == (
        f"unfinished finetune run, checkpoint at iteration {stop_at}/9"
    )
    assert torch.isfinite(partial.network(torch.rand(1, 4, 16, 16))).all()

    # a fresh run must not silently discard the checkpoint
    capsys.readouterr()
    assert (
        main(["finetune", str(data.pairs), "--model", str(data.base), "--name", "part"] + common)
        == 5  # a file in the way
    )
    assert "--resume" in capsys.readouterr().err
    # other settings than the checkpoint's are refused
    changed = [*common[:3], "1e-3,1e-3", *common[4:]]
    assert (
        main(
            [
                "finetune",
                str(data.pairs),
                "--model",
                str(data.base),
                "--name",
                "part",
                "--resume",
                *changed,
            ]
        )
        == 2
    )
    assert "lr:" in capsys.readouterr().err

    code = main(
        [
            "finetune",
            str(data.pairs),
            "--model",
            str(data.base),
            "--name",
            "part",
            "--resume",
            *common,
        ]
    )
    assert code == 0
    assert f"resuming from iteration {stop_at}" in capsys.readouterr().err
    full, part = _weights("full"), _weights("part")
    assert full.keys() == part.keys()
    for key in full:
        assert torch.equal(full[key], part[key]), key
    assert not ckpt.exists()


def test_finetune_stop_at_pauses_across_the_stages_and_resume_finishes_identically(
    data, capsys
) -> None:
    """``--stop-at N``: exit 0 after iteration N (alignment + aux) with a checkpoint and no
    model, JSON saying so; resuming with later pauses ends where an unbroken run ends."""
    from rawdenoise.training.checkpoint import load_checkpoint

    run = ["finetune", str(data.pairs), "--model", str(data.base)]
    common = ["--iterations", "4,3", "--lr", "1e-2,1e-3", "--seed", "2", *FAST]
    assert main([*run, "--name", "full", *common]) == 0
    ckpt = data_dir() / "checkpoints" / "finetune-part.ckpt"
    capsys.readouterr()
    for attempt, pause in enumerate((2, 5)):  # in the alignment stage, then in the aux stage
        resume = ["--resume"] * attempt
        code = main([*run, "--name", "part", *common, "--stop-at", str(pause), "--json", *resume])
        out, err = capsys.readouterr()
        assert code == 0, err
        assert json.loads(out) | {"seconds": 0, "iterations_per_second": 0, "loss": 0} == {
            "model": "part",
            "paused_at": pause,
            "path": str(ckpt),
            "camera": "Synthetic A7S2",
            "pairs": 4,
            "iterations": [4, 3],
            "crop": 48,
            "seconds": 0,
            "iterations_per_second": 0,
            "loss": 0,
        }
        assert "run the same command with --resume to continue" in err
        assert load_checkpoint(ckpt).iteration == pause
        assert not (models_dir() / "part.safetensors").exists()
    assert main([*run, "--name", "part", *common, "--resume", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["paused_at"] is None
    assert not ckpt.exists()
    full, part = _weights("full"), _weights("part")
    assert full.keys() == part.keys()
    for key in full:
        assert torch.equal(full[key], part[key]), key
    assert main([*run, "--name", "zero", *common, "--stop-at", "0"]) == 2
    assert "--stop-at must be at least 1" in capsys.readouterr().err


def _one_error(capsys) -> str:
    err = capsys.readouterr().err
    lines = [ln for ln in err.splitlines() if ln.strip()]
    assert lines and lines[0].startswith("rawdenoise: error: "), err
    assert all(ln.startswith(("rawdenoise: error: ", "hint: ")) for ln in lines), err
    assert len([ln for ln in lines if ln.startswith("rawdenoise: error")]) == 1
    assert "Traceback" not in err and "fine-tuning" not in err
    return lines[0]


def _nothing_written(name: str) -> None:
    assert not (models_dir() / f"{name}.safetensors").exists()
    assert not (data_dir() / "checkpoints" / f"finetune-{name}.ckpt").exists()


def test_missing_file_fails_before_training(data, capsys, tmp_path) -> None:
    text = data.pairs.read_text().replace("scene2_x250.dng", "gone.dng")
    bad = data.pairs.parent / "missing.txt"
    bad.write_text(text)
    assert main(["finetune", str(bad), "--model", str(data.base), "--name", "x", *FAST]) == 3
    assert "gone.dng" in _one_error(capsys)
    _nothing_written("x")


def test_swapped_pair_fails_before_training(data, capsys) -> None:
    lines = data.pairs.read_text().splitlines()
    noisy, clean = lines[1].split()
    lines[1] = f"{clean} {noisy}"
    bad = data.pairs.parent / "swapped.txt"
    bad.write_text("\n".join(lines) + "\n")
    assert main(["finetune", str(bad), "--model", str(data.base), "--name", "x", *FAST]) == 3
    _one_error(capsys)
    _nothing_written("x")


def test_mixed_cameras_fail_before_training(data, capsys, tmp_path) -> None:
    folder = data.pairs.parent
    other = write_clean(folder / "other_clean.dng", 7, model="A7S3")
    write_noisy_dng(
        other, folder / "other_x100.dng", profile="sony-a7s2", noisy_iso=6400, ratio=100
    )
    bad = folder / "mixed.txt"
    bad.write_text(data.pairs.read_text() + "other_x100.dng other_clean.dng\n")
    assert main(["finetune", str(bad), "--model", str(data.base), "--name", "x", *FAST]) == 3
    assert "camera" in _one_error(capsys)
    _nothing_written("x")


def test_unknown_base_model_fails_before_training(data, capsys) -> None:
    assert main(["finetune", str(data.pairs), "--model", "nosuch", "--name", "x", *FAST]) == 4
    _one_error(capsys)
    _nothing_written("x")


def test_config_file_quick_preset_and_crop_clamp(data, capsys, tmp_path) -> None:
    config = tmp_path / "ft.toml"
    config.write_text(
        f'model = "{data.base}"\nname = "fromtoml"\npreset = "quick"\niterations = [2, 1]\n'
        "seed = 3\nthreads = 1\n"
    )
    # threads is not a config key: refused, naming the known ones
    assert main(["finetune", str(data.pairs), "--config", str(config)]) == 2
    assert "threads" in capsys.readouterr().err
    config.write_text(config.read_text().replace("threads = 1\n", ""))
    assert main(["finetune", str(data.pairs), "--config", str(config), "--threads", "1"]) == 0
    err = capsys.readouterr().err
    assert "preset quick" in err and "chosen for" not in err  # named in the file: no choice
    assert "crop clamped to 64" in err  # quick's 256 > the 64-px (packed) frames; LED crashed
    info = load_model("fromtoml").info
    assert info.extra["iterations"] == [2, 1] and info.extra["preset"] == "quick"
    assert info.extra["seed"] == 3 and info.extra["crop"] == 64
    assert info.extra["lr"] == [1e-4, 1e-5]


def test_plain_base_model_is_wrapped(data, capsys, tmp_path) -> None:
    from rawdenoise.registry import create_network
    from rawdenoise.specs import ModelInfo
    from rawdenoise.weights import save_model

    torch.manual_seed(0)
    plain = tmp_path / "plain.safetensors"
    save_model(plain, create_network("tiny"), ModelInfo(architecture="tiny"))
    code = main(
        [
            "finetune",
            str(data.pairs),
            "--model",
            str(plain),
            "--name",
            "wrapped",
            "--iterations",
            "2,2",
            *FAST,
        ]
    )
    assert code == 0
    assert "plain base model wrapped in RepNR" in capsys.readouterr().err
    assert load_model("wrapped").info.kind == "plain"


def test_pair_list_relative_to_root(data, capsys, tmp_path) -> None:
    listing = tmp_path / "elsewhere.txt"
    listing.write_text(data.pairs.read_text())
    args = [
        "finetune",
        str(listing),
        "--model",
        str(data.base),
        "--name",
        "rooted",
        "--iterations",
        "1,1",
        *FAST,
    ]
    assert main(args) == 3  # the paths are not relative to the list's folder
    capsys.readouterr()
    assert main([*args, "--root", str(data.pairs.parent)]) == 0


def test_pairs_helper_gives_exact_exif_ratios(tmp_path) -> None:
    from rawdenoise.pairing import load_pairs

    pairs = load_pairs(write_pairs(tmp_path, [5], [100, 300]))
    assert [p.ratio for p in pairs] == pytest.approx([100, 300], rel=1e-9)
    assert {p.noisy_iso for p in pairs} == {6400}


@pytest.mark.parametrize(
    ("args", "text"),
    [
        (["--iterations", "inf,0"], "--iterations: 'inf' is not a finite number"),
        (["--iterations", "1.5,0"], "--iterations: '1.5' is not a whole number"),
        (["--lr", "nan,nan"], "--lr: 'nan' is not a finite number"),
        (["--lr", "inf,1e-5"], "--lr: 'inf' is not a finite number"),
        (["--seed", str(2**64)], "--seed must be a 64-bit integer"),
    ],
)
def test_finetune_refuses_non_finite_and_fractional_values(capsys, tmp_path, args, text) -> None:
    pairs = tmp_path / "pairs.txt"  # never read: the values are refused first
    assert main(["finetune", str(pairs), "--model", "default", "--name", "x", *args]) == 2
    assert _one_error(capsys).startswith(f"rawdenoise: error: {text}")
    _nothing_written("x")


@pytest.mark.parametrize(
    ("setting", "text"),
    [
        ("root = 5", "root must be a non-empty string, got 5"),
        ('model = ""', "model must be a non-empty string"),
        ("name = 3", "name must be a non-empty string"),
        ("seed = 1.5", "seed must be an integer, got 1.5"),  # not truncated to 1
        ('crop = "64"', "crop must be an integer"),
        ("batch = 0", "batch must be at least 1"),
        ("iterations = [1.5, 0]", "iterations: '1.5' is not a whole number"),
        ('iterations = "inf,0"', "iterations: 'inf' is not a finite number"),
        ("lr = nan", "lr: 'nan' is not a finite number"),
        ("lr = [1e-4, -1]", "lr needs two positive, finite learning rates"),
        ("lr = [true, 1]", "lr expects two numbers"),
    ],
)
def test_finetune_config_values_are_checked_naming_key_and_file(
    capsys, tmp_path, setting, text
) -> None:
    config = tmp_path / "ft.toml"
    key = setting.split(" = ")[0]
    lines = [f"{k} = {v!r}" for k, v in (("model", "default"), ("name", "x")) if k != key]
    config.write_text("\n".join([*lines, setting]) + "\n")
    assert main(["finetune", str(tmp_path / "pairs.txt"), "--config", str(config)]) == 2
    assert _one_error(capsys).startswith(f"rawdenoise: error: {config}: {text}")
    _nothing_written("x")


def test_the_device_chooses_the_preset_and_the_time_is_estimated_first(data, capsys) -> None:
    """No --preset: a CPU gets 'quick' (LED's 'paper' takes hours there), said with why and
    the estimated time before the first iteration; --preset paper overrides the choice."""
    args = ["finetune", str(data.pairs), "--model", str(data.base), "--device", "cpu"]
    assert main([*args, "--name", "auto", "--iterations", "2,1", *FAST]) == 0
    err = capsys.readouterr().err
    choice = next(ln for ln in err.splitlines() if ln.startswith("preset quick: chosen for the"))
    assert "takes hours on a CPU" in choice and "--preset paper" in choice
    estimate = next(ln for ln in err.splitlines() if ln.startswith("estimated time: about "))
    assert "for 3 iterations" in estimate and "timed on cpu" in estimate
    lines = err.splitlines()
    assert (
        lines.index(choice)
        < lines.index(estimate)
        < next(
            i
            for i, ln in enumerate(lines)
            if ln.startswith("finetune ")  # the progress lines
        )
    )
    assert load_model("auto").info.extra["preset"] == "quick"
    assert main([*args, "--name", "paper", "--preset", "paper", "--iterations", "2,1", *FAST]) == 0
    err = capsys.readouterr().err
    assert "chosen for" not in err and "preset paper" in err
    assert load_model("paper").info.extra["preset"] == "paper"
    assert main([*args, "--name", "quiet", "--iterations", "2,1", *FAST, "-q"]) == 0
    assert capsys.readouterr().err == ""


def test_timing_a_step_changes_nothing_the_run_computes(data) -> None:
    """The estimate's trial step uses its own crops and stores no gradient: a run with it ends
    with exactly the weights of a run without it."""
    common = dict(
        pairs=data.pairs, model=str(data.base), iterations=(3, 2), lr=(1e-2, 1e-3), crop=48,
        batch=2, seed=4, threads=1,
    )  # fmt: skip
    finetune(FinetuneConfig(name="timed", estimate=True, **common))
    finetune(FinetuneConfig(name="untimed", estimate=False, **common))
    timed, untimed = _weights("timed"), _weights("untimed")
    assert timed.keys() == untimed.keys()
    for key in timed:
        assert torch.equal(timed[key], untimed[key]), key
