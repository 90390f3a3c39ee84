"""``rawdenoise pretrain``: a tiny base model from generated clean frames that finetune accepts."""

from __future__ import annotations

from fractions import Fraction
from pathlib import Path

import numpy as np
import pytest
import torch
from _training_data import BLACK, WHITE, training_set
from safetensors.torch import load_file

from rawdenoise.cli import main
from rawdenoise.dirs import cache_dir, data_dir, models_dir
from rawdenoise.dng import write_dng
from rawdenoise.training.loop import TrainingInterrupted
from rawdenoise.training.pretrain import PretrainConfig, pretrain
from rawdenoise.weights import load_model

#: small and quick; without --arch for runs whose --init brings the architecture
SMALL = ["--batch", "2", "--crop", "32", "--threads", "1"]
FAST = ["--arch", "tiny", *SMALL]


@pytest.fixture
def data(tmp_path_factory):
    return training_set(tmp_path_factory)


def test_pretrain_saves_a_repnr_model_that_finetune_accepts(data, capsys) -> None:
    code = main(
        ["pretrain", str(data.clean_dir), "--name", "pt", "--iterations", "4"]
        + ["--holdout", "1", "--checkpoint-every", "2", "--ratio-range", "50,60", *FAST]
    )
    err = capsys.readouterr().err
    assert code == 0, err
    assert "held-out PSNR" in err  # reported at the checkpoint and at the end
    loaded = load_model("pt")
    info = loaded.info
    assert info.kind == "repnr" and info.branches == 5 and loaded.repnr is not None
    assert info.architecture == "tiny" and info.ratio_range == (50.0, 60.0)
    assert info.auto_level == 0.2  # --ratio auto works with any pretrained model
    assert info.extra["training_frames"] == [f"clean{s}.dng" for s in (10, 11, 12)]
    assert info.extra["holdout_frames"] == ["clean13.dng"]
    assert info.extra["virtual_cameras"] == 5
    assert len(info.extra["virtual_camera_params"]["color_biases"]) == 5
    assert info.extra["holdout"]["noisy_psnr"] > 0
    assert not (data_dir() / "checkpoints" / "pretrain-pt.ckpt").exists()
    assert len(list((cache_dir() / "frames").glob("*.npy"))) == 4  # decoded once, cached

    code = main(
        ["finetune", str(data.pairs), "--model", "pt", "--name", "ptft"]
        + ["--iterations", "2,1", "--crop", "32", "--threads", "1"]
    )
    assert code == 0, capsys.readouterr().err
    assert load_model("ptft").info.base_model == "pt"


def test_a_residual_unet_trains_saves_and_loads_as_residual(data, capsys) -> None:
    args = ["pretrain", str(data.clean_dir), "--name", "res", "--iterations", "1", *SMALL]
    assert main([*args, "--arch", "unet", "-O", "channels=4", "-O", "residual=true"]) == 0
    loaded = load_model("res")
    assert loaded.info.options == {"channels": 4, "residual": True}
    assert loaded.network.residual is True
    assert main([*args, "--arch", "unet", "-O", "residual=maybe", "--overwrite"]) == 2
    assert "true or false" in capsys.readouterr().err


def test_a_crop_larger_than_a_frame_is_clamped_with_the_frame_named(data, capsys) -> None:
    code = main(
        ["pretrain", str(data.clean_dir), "--name", "big", "--iterations", "1"]
        + ["--arch", "tiny", "--batch", "2", "--crop", "96", "--threads", "1"]
    )
    err = " ".join(capsys.readouterr().err.split())
    assert code == 0, err
    assert "crop clamped to 64 packed pixels by the smallest frame, clean10.dng (64x64" in err
    assert load_model("big").info.extra["crop"] == 64  # what it trained on, not what was asked


def test_pretrain_with_a_camera_profile_has_one_branch(data, capsys) -> None:
    code = main(
        ["pretrain", str(data.clean_dir), "--name", "a7s2", "--camera", "sony-a7s2"]
        + ["--iterations", "2", *FAST]
    )
    assert code == 0, capsys.readouterr().err
    info = load_model("a7s2").info
    assert info.branches == 1 and info.extra["camera_profile"] == "sony-a7s2"


def test_pretrain_with_log_l1_and_frames_drawn_equally(data, capsys) -> None:
    code = main(
        ["pretrain", str(data.clean_dir), "--name", "opts", "--iterations", "2"]
        + ["--loss", "log-l1", "--sample-by", "frame", "--augment-colour", "--augment-ca", *FAST]
    )
    assert code == 0, capsys.readouterr().err
    extra = load_model("opts").info.extra
    assert extra["loss"] == "log-l1" and extra["sample_by"] == "frame"
    assert extra["augment_colour"] is True and extra["augment_ca"] is True


@pytest.mark.parametrize(
    "loss", ["l2", "log-l1-level-grid-shift", "l1-level-grid", "soft-log-l1-level-grid"]
)
def test_pretrain_with_the_other_losses_records_them(data, capsys, loss) -> None:
    code = main(
        ["pretrain", str(data.clean_dir), "--name", f"loss-{loss}", "--iterations", "2"]
        + ["--loss", loss, *FAST]
    )
    assert code == 0, capsys.readouterr().err
    model = load_model(f"loss-{loss}")
    assert model.info.extra["loss"] == loss
    assert all(bool(p.isfinite().all()) for p in model.network.parameters())


def test_pretrain_with_dark_frames(data, capsys, tmp_path) -> None:
    rng = np.random.default_rng(0)
    darks = tmp_path / "darks"
    darks.mkdir()
    for i in range(2):
        mosaic = np.rint(BLACK + rng.normal(0, 8, size=(96, 96))).astype(np.uint16)
        write_dng(
            darks / f"dark{i}.dng",
            mosaic,
            black_level=BLACK,
            white_level=WHITE,
            make="Synthetic",
            model="A7S2",
            iso=6400,
            exposure_time=Fraction(1, 100),
        )
    args = ["pretrain", str(data.clean_dir), "--name", "dark", "--dark-frames", str(darks)]
    assert main([*args, "--iterations", "2", *FAST]) == 2  # no profile gives K for this camera
    assert "--camera" in capsys.readouterr().err
    code = main([*args, "--camera", "sony-a7s2", "--iterations", "2", *FAST])
    assert code == 0, capsys.readouterr().err
    extra = load_model("dark").info.extra
    assert extra["dark_frames"] == 2 and extra["dark_frame_isos"] == [6400.0]


def test_interrupted_pretrain_resumes_to_identical_weights(data, capsys) -> None:
    common = dict(
        inputs=[data.clean_dir], arch="tiny", iterations=5, batch=2, crop=32, threads=1, seed=9
    )
    pretrain(PretrainConfig(name="full", **common))
    with pytest.raises(TrainingInterrupted):
        pretrain(PretrainConfig(name="part", stop_after=2, **common))
    assert (data_dir() / "checkpoints" / "pretrain-part.ckpt").exists()
    code = main(
        ["pretrain", str(data.clean_dir), "--name", "part", "--iterations", "5", "--seed", "9"]
        + ["--resume", *FAST]
    )
    assert code == 0, capsys.readouterr().err
    full = load_file(str(models_dir() / "full.safetensors"))
    part = load_file(str(models_dir() / "part.safetensors"))
    for key in full:
        assert torch.equal(full[key], part[key]), key


def test_stop_at_pauses_with_a_checkpoint_and_resume_finishes_identically(data, capsys) -> None:
    """``--stop-at N``: exit 0 after iteration N with a checkpoint and no model; resuming
    (again with the same --stop-at: nothing to do) ends where an unbroken run ends."""
    from rawdenoise.training.checkpoint import load_checkpoint

    run = ["pretrain", str(data.clean_dir), "--iterations", "5", "--seed", "9", *FAST]
    assert main([*run, "--name", "full"]) == 0
    assert capsys.readouterr().out.startswith(f"saved {models_dir() / 'full.safetensors'} (")
    ckpt = data_dir() / "checkpoints" / "pretrain-part.ckpt"
    for attempt in range(2):  # the second resumes at the pause point: paused again at once
        code = main([*run, "--name", "part", "--stop-at", "3", *(["--resume"] * attempt)])
        out, err = capsys.readouterr()
        assert code == 0, err
        assert out == f"paused at iteration 3/5 (--stop-at); checkpoint {ckpt}\n"  # the result
        assert not (models_dir() / "part.safetensors").exists()
        assert load_checkpoint(ckpt).iteration == 3
    assert main([*run, "--name", "part", "--resume"]) == 0, capsys.readouterr().err
    assert not ckpt.exists()  # a finished run removes its checkpoint
    full = load_file(str(models_dir() / "full.safetensors"))
    part = load_file(str(models_dir() / "part.safetensors"))
    assert full.keys() == part.keys()
    for key in full:
        assert torch.equal(full[key], part[key]), key
    assert main([*run, "--name", "zero", "--stop-at", "0"]) == 2
    assert "--stop-at must be at least 1" in capsys.readouterr().err


def test_a_training_checkpoint_works_as_a_model_and_as_init(data, capsys, tmp_path) -> None:
    """An unfinished run's checkpoint is a model for --model (process, evaluate, models info)
    and for --init, with its architecture, options and virtual cameras."""
    from rawdenoise.networks.repnr import RepNR
    from rawdenoise.registry import create_network, get_architecture
    from rawdenoise.training.checkpoint import load_checkpoint

    run = ["pretrain", str(data.clean_dir), "--iterations", "4", "--seed", "3", *SMALL]
    assert (
        main([*run, "--arch", "unet", "-O", "channels=4", "--name", "run", "--stop-at", "2"]) == 0
    )
    ckpt = data_dir() / "checkpoints" / "pretrain-run.ckpt"
    stored = load_checkpoint(ckpt)
    loaded = load_model(str(ckpt))
    assert loaded.source == "checkpoint" and loaded.info.architecture == "unet"
    assert loaded.info.options["channels"] == 4 and loaded.info.kind == "repnr"
    assert loaded.info.trained_on == "unfinished pretrain run, checkpoint at iteration 2/4"
    assert loaded.info.extra["virtual_camera_params"] == stored.extra["virtual_camera_params"]
    # the deployed network is the checkpoint's weights with the mean camera (generalize)
    spec = get_architecture("unet")
    wrapper = RepNR(create_network(spec, {"channels": 4}), 5, exclude=spec.repnr_exclude)
    wrapper.load_state_dict(stored.model)
    wrapper.generalize()
    x = torch.rand(1, 4, 32, 32)
    with torch.no_grad():
        torch.testing.assert_close(loaded.network(x), wrapper.deploy(-1).eval()(x))

    assert main(["models", "info", str(ckpt)]) == 0
    assert "unfinished pretrain run" in capsys.readouterr().out
    assert main(["evaluate", str(data.pairs), "--model", str(ckpt), "--json"]) == 0
    assert '"psnr"' in capsys.readouterr().out
    out = tmp_path / "out"
    bright = sorted(data.clean_dir.glob("*.dng"))[0]
    code = main(["process", str(bright), "--model", str(ckpt), "-o", str(out), "--ratio", "1"])
    assert code == 0, capsys.readouterr().err
    assert (out / f"{bright.stem}.png").is_file()

    # --init from it: its weights (a learning rate too small to move them) and its cameras
    tiny_lr = ["--lr", "1e-30", "--min-lr", "1e-30", "--iterations", "1", "--seed", "8"]
    code = main(["pretrain", str(data.clean_dir), *SMALL, *tiny_lr, "--init", str(ckpt)]
                + ["--name", "annealed"])  # fmt: skip
    assert code == 0, capsys.readouterr().err
    annealed = load_model("annealed")
    assert annealed.info.options["channels"] == 4
    assert annealed.info.extra["virtual_camera_params"] == stored.extra["virtual_camera_params"]
    for key, value in stored.model.items():
        if not key.endswith(".5"):  # main weights and camera branches; .5 is the target's
            torch.testing.assert_close(annealed.repnr.state_dict()[key], value)

    # a checkpoint written by a newer rawdenoise is refused as a model, as --resume refuses it
    future = torch.load(ckpt, map_location="cpu", weights_only=True)
    future["version"] += 1
    torch.save(future, tmp_path / "future.ckpt")
    assert main(["models", "info", str(tmp_path / "future.ckpt")]) == 3
    err = capsys.readouterr().err
    assert "training checkpoint from a newer rawdenoise" in err and "upgrade" in err


def test_a_checkpoint_from_before_augment_resumes_only_with_packed_flips(data, capsys) -> None:
    """Checkpoints made before ``--augment`` flipped the packed array: resuming one with the
    Bayer flips (the default now) would change the data mid-run, so it is refused."""
    from rawdenoise.training.checkpoint import load_checkpoint

    common = dict(inputs=[data.clean_dir], arch="tiny", iterations=4, batch=2, crop=32, threads=1)
    with pytest.raises(TrainingInterrupted):
        pretrain(PretrainConfig(name="old", stop_after=2, augment="packed", **common))
    path = data_dir() / "checkpoints" / "pretrain-old.ckpt"
    ckpt = load_checkpoint(path)
    assert "augment" not in ckpt.fingerprint  # what an older rawdenoise wrote
    args = ["pretrain", str(data.clean_dir), "--name", "old", "--iterations", "4", "--resume"]
    assert main([*args, *FAST]) == 2
    assert "augment" in capsys.readouterr().err
    assert main([*args, *FAST, "--augment", "packed"]) == 0, capsys.readouterr().err
    assert (models_dir() / "old.safetensors").exists()


@pytest.mark.parametrize(
    ("args", "code", "text"),
    [
        (["--ratio-range", "300,100"], 2, "ratio-range"),
        (["--schedule", "step"], 2, "schedule"),
        (["--arch", "nosuch"], 4, "nosuch"),
        (["--camera", "nosuch"], 4, "nosuch"),
        (["--holdout", "4"], 2, "holdout"),
        (["--name", "default"], 2, "default"),
        (["--device", "tpu"], 2, "device"),
        (["--sample-by", "area"], 2, "sample-by"),
        (["--loss", "l3"], 2, "--loss"),
        (["--augment", "rotate"], 2, "--augment"),
        (["--precision", "fp16"], 2, "loss scaling"),
        (["--precision", "int8"], 2, "precision"),
    ],
)
def test_pretrain_usage_errors(data, capsys, args, code, text) -> None:
    base = ["pretrain", str(data.clean_dir), "--name", "bad", "--iterations", "1", *FAST]
    assert main(base + args) == code
    err = capsys.readouterr().err
    assert err.startswith("rawdenoise: error: ") and text in err and "Traceback" not in err
    assert not (models_dir() / "bad.safetensors").exists()


def test_pretrain_refuses_to_replace_a_model(data, capsys, tmp_path) -> None:
    target = models_dir() / "taken.safetensors"
    target.parent.mkdir(parents=True)
    target.write_bytes(b"keep")
    base = ["pretrain", str(data.clean_dir), "--name", "taken", "--iterations", "1", *FAST]
    assert main(base) == 5  # a file in the way
    assert "--overwrite" in capsys.readouterr().err and target.read_bytes() == b"keep"
    empty = tmp_path / "empty"
    empty.mkdir()
    assert main(["pretrain", str(empty), "--name", "x", *FAST]) == 3
    assert "no RAW files" in capsys.readouterr().err


@pytest.mark.slow
def test_torchrun_ddp_on_cpu(data, tmp_path) -> None:
    """Two processes (Gloo): the same command line; rank 0 alone reports and saves."""
    import os
    import subprocess
    import sys

    env = {**os.environ, "OMP_NUM_THREADS": "1", "COLUMNS": "400"}
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node",
           "2", "-m", "rawdenoise", "pretrain", str(data.clean_dir), "--name", "ddp",
           "--iterations", "3", *FAST]  # fmt: skip
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "x 2 processes" in proc.stderr
    assert proc.stdout.count("saved ") == 1
    assert load_model("ddp").info.kind == "repnr"


def test_init_continues_from_a_model_repnr_or_plain(data, capsys) -> None:
    base = ["pretrain", str(data.clean_dir), "--iterations", "2", *FAST]
    assert main([*base, "--name", "first"]) == 0, capsys.readouterr().err
    first = load_model("first").repnr.state_dict()
    # a learning rate too small to move anything: the result is the initial model
    tiny_lr = ["--lr", "1e-30", "--min-lr", "1e-30", "--iterations", "1"]
    from_init = ["pretrain", str(data.clean_dir), *SMALL, *tiny_lr, "--init"]
    code = main([*from_init, "first", "--name", "again"])
    assert code == 0, capsys.readouterr().err
    again = load_model("again")
    assert again.info.architecture == "tiny" and again.info.extra["init"] == "first"
    for key, value in first.items():
        if ".align_" not in key or key.endswith(".5"):  # camera branches and main weights
            continue
        torch.testing.assert_close(again.repnr.state_dict()[key], value)
    # a plain (finetuned or imported) network: its deployed weights, identity branches
    assert (
        main(
            [
                "finetune",
                str(data.pairs),
                "--model",
                "first",
                "--name",
                "plain",
                "--iterations",
                "1,1",
                "--crop",
                "32",
                "--threads",
                "1",
            ]
        )
        == 0
    )
    code = main([*from_init, "plain", "--name", "fromplain"])
    assert code == 0, capsys.readouterr().err
    x = torch.rand(1, 4, 32, 32)
    with torch.no_grad():
        expected = load_model("plain").network(x)
        got = load_model("fromplain").network(x)
    torch.testing.assert_close(got, expected, atol=1e-5, rtol=1e-4)
    # options that contradict the initial model are refused before training
    assert main([*base, "--name", "bad", "--init", "first", "-O", "channels=99"]) == 2
    assert "does not match" in capsys.readouterr().err


def test_init_keeps_the_initial_models_virtual_cameras(data, capsys) -> None:
    base = ["pretrain", str(data.clean_dir), "--iterations", "1", *SMALL]
    assert main([*base, "--arch", "tiny", "--name", "first", "--seed", "1"]) == 0
    assert main([*base, "--arch", "tiny", "--name", "other", "--seed", "2"]) == 0
    assert main([*base, "--init", "first", "--name", "again", "--seed", "2"]) == 0
    err = capsys.readouterr().err
    assert "the initial model's" in " ".join(err.split())
    cams = {n: load_model(n).info.extra["virtual_camera_params"] for n in ("first", "other")}
    assert cams["first"] != cams["other"]  # seeds draw different cameras...
    # ...but a continuation keeps the cameras its branches were trained on, whatever its seed
    assert load_model("again").info.extra["virtual_camera_params"] == cams["first"]
    # another number of cameras cannot reuse them: drawn anew from the seed
    three = [*base, "--init", "first", "--name", "three", "--virtual-cameras", "3"]
    assert main(three) == 0, capsys.readouterr().err
    assert len(load_model("three").info.extra["virtual_camera_params"]["read_slopes"]) == 3


def test_init_grows_a_unet_to_more_channels_with_the_same_output(data, capsys) -> None:
    unet = ["--arch", "unet", "-O", "channels=4", *SMALL]
    base = ["pretrain", str(data.clean_dir), "--iterations", "1"]
    assert main([*base, *unet, "--name", "narrow"]) == 0, capsys.readouterr().err
    tiny_lr = ["--lr", "1e-30", "--min-lr", "1e-30"]
    grow = [*base, *SMALL, *tiny_lr, "--init", "narrow", "-O", "channels=6"]
    assert main([*grow, "--name", "wide"]) == 0, capsys.readouterr().err
    assert "grew narrow from {'channels': 4} to {'channels': 6}" in capsys.readouterr().err
    narrow, wide = load_model("narrow"), load_model("wide")
    assert wide.info.options["channels"] == 6 and wide.info.extra["init"] == "narrow"
    assert sum(p.numel() for p in wide.network.parameters()) > 2 * sum(
        p.numel() for p in narrow.network.parameters()
    )
    x = torch.rand(1, 4, 32, 32)
    with torch.no_grad():
        torch.testing.assert_close(wide.network(x), narrow.network(x), atol=1e-5, rtol=1e-4)
    # narrower, or an option the architecture cannot grow in: refused before training
    for bad in ("channels=2", "in_channels=3"):
        assert main([*base, *SMALL, "--init", "narrow", "-O", bad, "--name", "bad"]) == 2
        err = capsys.readouterr().err
        assert "does not match" in err and "Traceback" not in err
    assert not (models_dir() / "bad.safetensors").exists()


@pytest.mark.parametrize("module", ["train_default", "train_faithful"])
def test_bundled_model_recipes_are_valid_chains_of_pretrain_commands(
    module, capsys, tmp_path
) -> None:
    """A bundled model's recipe: every phase parses as a pretrain command line (an unknown
    option fails before --help is honoured) and each later phase starts from the one before."""
    import importlib

    recipe = importlib.import_module(f"rawdenoise.models.{module}")

    def chain(phases: tuple[dict, ...], first: str | None) -> list[str]:
        names = [first] if first else []
        for phase in phases:
            argv = recipe.recipe_command(tmp_path, phase)
            assert argv[:2] == ["rawdenoise", "pretrain"]
            assert main([*argv[1:], "--help"]) == 0, capsys.readouterr().err
            if names:  # the phase before: its model (or its float16 cast), or its checkpoint
                start = argv[argv.index("--init") + 1]
                assert start == names[-1] or Path(start).name in (
                    f"{names[-1]}-float16.safetensors",
                    f"pretrain-{names[-1]}.ckpt",
                )
            names.append(argv[argv.index("--name") + 1])
        return names

    names = chain(recipe.PHASES, None)
    soup = getattr(recipe, "SOUP", None)
    if soup:  # then it averages two of its phases' weights, goes on at high ratios, blends
        assert soup[0] in names and soup[1] == names[-1] and 0 < soup[2] < 1
        high = chain(recipe.HIGH_PHASES, recipe.SOUP_NAME)
        assert (recipe.SOUP_NAME, high[-1], 50.0, 60.0) == recipe.BLEND
        assert all(p["ratio_range"] == (100, 300) for p in recipe.HIGH_PHASES)
        assert recipe.NAME == recipe.BLEND_NAME
    else:
        assert names[-1] == recipe.NAME
    assert main(["pretrain", str(tmp_path), "--name", "x", "--no-such-option", "--help"]) != 0


@pytest.mark.parametrize("module", ["train_default", "train_faithful"])
def test_recipe_pack_refuses_a_source_that_is_neither_a_file_nor_a_model(
    module, capsys, tmp_path
) -> None:
    """``pack NAME`` resolves a model's name; anything else is one usage line, no traceback."""
    import importlib

    recipe = importlib.import_module(f"rawdenoise.models.{module}")

    out = tmp_path / "packed.safetensors"
    for bad in ("no-such-model", str(tmp_path / "missing.safetensors")):
        with pytest.raises(SystemExit) as exc:
            recipe.main(["pack", bad, "--out", str(out)])
        err = capsys.readouterr().err
        assert exc.value.code == 2 and f"no model file, checkpoint or model named {bad!r}" in err
        assert "Traceback" not in err
    assert not out.exists()


def test_recipe_phases_can_pause_and_continue_from_the_checkpoint(
    data, capsys, monkeypatch, tmp_path
) -> None:
    """``train`` runs a phase with ``stop_at`` to its pause point (its result is the
    checkpoint), starts the next from that checkpoint, and skips both when run again."""
    from rawdenoise.models import train_default as recipe
    from rawdenoise.training.checkpoint import load_checkpoint

    monkeypatch.setattr(recipe, "TRAIN_FRAMES", ("clean10.dng", "clean11.dng"))
    monkeypatch.setattr(recipe, "build_unprocessed", lambda *_a, **_k: [])
    monkeypatch.setattr(recipe, "COMMON", {**recipe.COMMON, "batch": 2, "crop": 32})
    phases = (
        {"name": "t0", "arch": "tiny", "options": {"channels": 4}, "iterations": 1,
         "lr": 1e-3, "min_lr": 1e-4, "warmup": 0},
        {"name": "t1", "init": "t0", "init_float16": True, "iterations": 4,
         "lr": 1e-3, "min_lr": 1e-4, "warmup": 0, "stop_at": 2},
        {"name": "t2", "init_checkpoint": "t1", "iterations": 2, "lr": 1e-3, "min_lr": 1e-4,
         "warmup": 0, "seed": 7},
    )  # fmt: skip
    monkeypatch.setattr(recipe, "PHASES", phases)
    monkeypatch.setattr(recipe, "NAME", "t2")
    assert recipe.train(data.clean_dir, tmp_path, resume=False, device="cpu") == models_dir() / (
        "t2.safetensors"
    )
    ckpt = data_dir() / "checkpoints" / "pretrain-t1.ckpt"
    assert load_checkpoint(ckpt).iteration == 2 and not (models_dir() / "t1.safetensors").exists()
    # t1 started from t0 cast to float16, as a shipped default is
    half = cache_dir() / "recipe" / "t0-float16.safetensors"
    assert load_checkpoint(ckpt).fingerprint["init"] == str(half)
    assert {t.dtype for t in load_file(str(half)).values()} == {torch.float16}
    made = load_model("t2").info
    assert made.extra["init"] == str(ckpt) and made.options["channels"] == 4
    assert (
        made.extra["virtual_camera_params"] == load_checkpoint(ckpt).extra["virtual_camera_params"]
    )
    capsys.readouterr()
    recipe.train(data.clean_dir, tmp_path, resume=False, device="cpu")
    out = capsys.readouterr().out
    assert all(f"t{i}: done already" in out for i in range(3))
    packed = tmp_path / "packed.safetensors"
    recipe.main(["pack", "t2", "--out", str(packed)])  # a model's name, as the card says
    assert capsys.readouterr().out == f"packed {packed}\n"
    text = load_model(str(packed)).info.extra["recipe"]
    assert "t1: 4 iterations, lr 0.001 cosine to 0.0001, paused at 2" in text
    assert "t2: 2 iterations, lr 0.001 cosine to 0.0001, from t1's checkpoint" in text


def test_faithful_recipe_averages_two_phases_weight_by_weight(data, monkeypatch, tmp_path) -> None:
    """The soup step: the first phase as float16 (as it was shipped) and the second, lerped
    tensor by tensor into a model that loads; models of different shapes are refused."""
    from rawdenoise.errors import UsageError
    from rawdenoise.models import train_default, train_faithful

    base = ["pretrain", str(data.clean_dir), "--iterations", "1", *FAST]
    assert main([*base, "--name", "s0", "-O", "channels=4"]) == 0
    assert main([*base[: -len(FAST)], *SMALL, "--name", "s1", "--init", "s0", "--seed", "3"]) == 0
    monkeypatch.setattr(train_faithful, "SOUP", ("s0", "s1", 0.7))
    made = train_faithful.soup()
    assert made == models_dir() / f"{train_faithful.SOUP_NAME}.safetensors"
    half = load_file(str(train_default.float16_path("s0")))
    second, got = load_file(str(models_dir() / "s1.safetensors")), load_file(str(made))
    assert got.keys() == second.keys() and {t.dtype for t in half.values()} == {torch.float16}
    moved = 0
    for k, t in got.items():
        want = 0.3 * half[k].float() + 0.7 * second[k]
        torch.testing.assert_close(t, want, rtol=1e-5, atol=1e-6)
        moved += int(not torch.equal(half[k].float(), second[k]))
    assert moved > 0  # one training step apart: the average is neither input
    assert load_model(train_faithful.SOUP_NAME).info.options["channels"] == 4
    assert main([*base, "--name", "wide", "-O", "channels=8"]) == 0
    with pytest.raises(UsageError, match="do not hold the same tensors"):
        train_faithful.average_weights(made, models_dir() / "wide.safetensors", 0.5,
                                       tmp_path / "bad.safetensors")  # fmt: skip
    assert not (tmp_path / "bad.safetensors").exists()
    # the last step: the soup (float16) up to ratio 1, a continuation from ratio 100
    monkeypatch.setattr(train_faithful, "BLEND", (train_faithful.SOUP_NAME, "s1", 1.0, 100.0))
    blended = load_model(train_faithful.blend())
    soup_half = load_model(str(train_default.float16_copy(train_faithful.SOUP_NAME)))
    x = torch.rand(1, 4, 16, 16)
    with torch.no_grad():
        assert torch.equal(blended.network_for(1)(x), soup_half.network(x))
        assert torch.equal(blended.network_for(300)(x), load_model("s1").network(x))
    assert blended.info.name == train_faithful.BLEND_NAME


def test_default_recipe_builds_its_unprocessed_frames(tmp_path) -> None:
    """``build_unprocessed`` on stand-ins for the two packages' images: two RGGB DNGs that
    pretrain can read, the sheet holding every small image; existing frames are kept."""
    import imageio.v3 as iio

    from rawdenoise.models import train_default as recipe
    from rawdenoise.training.frames import decode

    rng = np.random.default_rng(1)
    sources, data, out = tmp_path / "src", tmp_path / "data", tmp_path / "out"
    for i, (_, rel, _) in enumerate((recipe.FLOWER, *recipe.SHEET)):
        shape = (120, 160, 3) if i == 0 else (40 + 2 * i, 50, 3)
        (sources / rel).parent.mkdir(parents=True, exist_ok=True)
        iio.imwrite(sources / rel, rng.integers(0, 256, shape, dtype=np.uint8))
    data.mkdir()
    xyz_to_cam = np.array([[0.9, -0.3, -0.1], [-0.4, 1.2, 0.2], [0.0, 0.1, 0.6]])
    write_dng(data / recipe.UNPROCESS_AS, np.zeros((64, 64)), color_matrix=xyz_to_cam,
              white_level=16383, as_shot_neutral=(0.5, 1.0, 0.6))  # fmt: skip
    paths = recipe.build_unprocessed(sources, data, out)
    assert [p.name for p in paths] == list(recipe.UNPROCESSED_FRAMES)
    flower, sheet = (decode(p) for p in paths)
    assert flower.size == (60, 80)
    assert sheet.size[1] == 1140 // 2 and 0 < sheet.data.mean() < 1
    stamp = paths[0].stat().st_mtime_ns
    recipe.build_unprocessed(sources, data, out)
    assert paths[0].stat().st_mtime_ns == stamp
    (sources / recipe.FLOWER[1]).unlink()
    with pytest.raises(SystemExit, match=r"flower\.png"):
        recipe.build_unprocessed(sources, data, out)


@pytest.mark.parametrize(
    ("args", "text"),
    [
        (["-O", "channels=abc"], "invalid option for architecture 'tiny': channels=abc"),
        (["-O", "channels=-3"], "invalid option for architecture 'tiny': channels=-3"),
        (["-O", "channels=0"], "invalid option for architecture 'tiny': channels=0"),
        (["--ratio-range", "inf,inf"], "--ratio-range: 'inf' is not a finite number"),
        (["--ratio-range", "100,1e400"], "--ratio-range: '1e400' is not a finite number"),
        (["--ratio-range", "1.5,3"], "--ratio-range: '1.5' is not a whole number"),
        (["--lr", "nan"], "--lr must be a finite number"),
        (["--lr", "inf"], "--lr must be a finite number"),
        (["--min-lr", "nan"], "--min-lr must be a finite number"),
        (["--min-lr", "-1"], "--min-lr must be >= 0"),
        (["--warmup", "-5"], "--warmup must be >= 0"),
        (["--noise-type", ""], "--noise-type: the noise type is empty"),
    ],
)
def test_pretrain_refuses_bad_values_before_reading_frames(capsys, args, text) -> None:
    from rawdenoise.samples import BRIGHT

    base = ["pretrain", str(BRIGHT), "--name", "bad", "--iterations", "1", *FAST]
    assert main(base + args) == 2
    lines = capsys.readouterr().err.strip().splitlines()
    assert lines[0].startswith(f"rawdenoise: error: {text}"), lines
    assert len(lines) <= 2 and all(ln.startswith("hint: ") for ln in lines[1:]), lines
    if "noise-type" in text:
        assert "p (shot)" in lines[1]  # the valid letters
    assert not (models_dir() / "bad.safetensors").exists()
    assert not (cache_dir() / "frames").exists()  # refused before any frame was decoded


@pytest.mark.parametrize("command", ["pretrain", "finetune"])
def test_an_unwritable_models_folder_is_refused_before_training(
    capsys, monkeypatch, command
) -> None:
    """Not after hours of training, when the weights could not be saved."""
    import errno
    import tempfile

    from rawdenoise.samples import BRIGHT

    def read_only(*args, **kwargs):
        raise OSError(errno.EROFS, "Read-only file system")

    monkeypatch.setattr(tempfile, "mkstemp", read_only)
    if command == "pretrain":
        argv = ["pretrain", str(BRIGHT), "--name", "ro", "--iterations", "1", *FAST]
    else:
        argv = ["finetune", str(BRIGHT), "--model", "default", "--name", "ro"]
    assert main(argv) == 5
    err = capsys.readouterr().err
    assert "read-only file system" in err and err.count("error:") == 1
    assert not (cache_dir() / "frames").exists()  # nothing decoded, nothing trained


def _learned_profile(folder: Path, with_model: bool = True) -> None:
    """A user profile 'simcam' (K per ISO) with a tiny learned noise model beside it."""
    import json

    from rawdenoise.default_plugins.camera_profiles import PROFILES
    from rawdenoise.noise.learned import GeneratorConfig, IsoNorm, LearnedNoise, NoiseGenerator

    folder.mkdir(parents=True, exist_ok=True)
    data = PROFILES[0].to_dict()
    data.update(id="simcam", make="Sim", model="Cam", aliases=[])
    data["iso_points"] = [
        {"iso": 800, "k": 0.77, "read_sigma": 2.0},
        {"iso": 3200, "k": 3.06, "read_sigma": 6.0},
    ]
    if with_model:
        torch.manual_seed(0)
        config = GeneratorConfig(width=4, line_width=4, depth=1, dilations=(1,))
        norm = IsoNorm(isos=(800.0, 3200.0), means=((0.5,) * 4, (1.0,) * 4), stds=(2.0, 6.0))
        LearnedNoise(NoiseGenerator(config), norm).save(folder / "simcam_noise.safetensors")
        data["learned_noise"] = "simcam_noise.safetensors"
    (folder / "simcam.json").write_text(json.dumps(data))


def test_pretrain_on_the_learned_noise_of_a_profile(data, capsys) -> None:
    from rawdenoise.dirs import profiles_dir

    _learned_profile(profiles_dir())
    args = ["pretrain", str(data.clean_dir), "--name", "lrn", "--iterations", "2", *FAST]
    code = main([*args, "--camera", "simcam", "--noise", "learned"])
    assert code == 0, capsys.readouterr().err
    extra = load_model("lrn").info.extra
    assert extra["camera_profile"] == "simcam"
    assert extra["learned_noise_isos"] == [800.0, 3200.0]


def test_pretrain_learned_noise_errors(data, capsys, tmp_path) -> None:
    from rawdenoise.dirs import profiles_dir

    args = ["pretrain", str(data.clean_dir), "--name", "x", "--iterations", "1", *FAST]
    assert main([*args, "--noise", "learned"]) == 2
    assert "--camera" in capsys.readouterr().err
    assert main([*args, "--noise", "other"]) == 2
    assert "parametric or learned" in capsys.readouterr().err
    _learned_profile(profiles_dir(), with_model=False)
    assert main([*args, "--camera", "simcam", "--noise", "learned"]) == 2
    err = capsys.readouterr().err
    assert "no learned noise model" in err and "--learn-noise" in err and "Traceback" not in err
