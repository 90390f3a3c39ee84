"""``rawdenoise process`` end to end on real DNG files with a tiny saved model."""

from __future__ import annotations

import hashlib
import json
from fractions import Fraction
from pathlib import Path

import imageio.v3 as iio
import numpy as np
import pytest
import rawpy
import torch
from torch import nn

from rawdenoise import model_names, pipeline, weights
from rawdenoise.cli import main
from rawdenoise.dng import write_dng
from rawdenoise.errors import PluginError
from rawdenoise.exif import read_exif
from rawdenoise.exposure import frame_level
from rawdenoise.pipeline import RatioRule, RunSettings, denoise_mosaic
from rawdenoise.rawio import read_raw
from rawdenoise.render import OutputMetadata
from rawdenoise.specs import ModelInfo


def run(capsys, *args: str) -> tuple[int, str, str]:
    code = main(["process", *map(str, args)])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_folder_to_16bit_png_beside_inputs(tmp_path, make_dng, tiny_model, capsys) -> None:
    folder = tmp_path / "shoot"
    a = make_dng("a.dng", folder=folder, cfa="RGGB", iso=6400, exposure="1/100")
    b = make_dng("b.dng", folder=folder, cfa="BGGR", h=66, w=99, seed=1)
    before = {p: digest(p) for p in (a, b)}
    code, out, err = run(capsys, folder, "--model", tiny_model, "--json")
    assert code == 0, err
    summary = json.loads(out)
    assert summary["processed"] == 2 and summary["failed"] == 0
    # the run's time includes each file's (the first was read while the model loaded)
    assert summary["seconds"] >= max(f["seconds"] for f in summary["files"]) > 0
    for src in (a, b):
        png = folder / "denoised" / f"{src.stem}.png"
        assert png.is_file()
        with rawpy.imread(str(src)) as raw:
            expected = raw.postprocess(use_camera_wb=True, no_auto_bright=True, output_bps=16)
        head = png.read_bytes()[16:26]
        assert int.from_bytes(head[4:8], "big") == expected.shape[0]  # IHDR height
        assert head[8] == 16  # bit depth
        assert read_exif(png).make == "Test"
    assert read_exif(folder / "denoised" / "a.png").iso == 6400
    assert {p: digest(p) for p in (a, b)} == before  # inputs untouched
    assert not list((folder / "denoised").glob(".*"))  # no temporary files left


def test_jpeg_output_matches_the_8bit_png_and_keeps_exif(
    tmp_path, make_dng, tiny_model, capsys
) -> None:
    """--format jpg writes a baseline JPEG of the same picture as the 8-bit PNG (quality 95,
    4:4:4), with the source's EXIF; --quality trades size for fidelity."""
    from PIL import Image

    src = make_dng("a.dng", folder=tmp_path / "in", h=96, w=128, iso=3200, exposure="1/50")
    outs = {}
    for name, args in {
        "png": ["-f", "png", "--bit-depth", "8"],
        "jpg": ["-f", "jpg"],
        "q30": ["-f", "jpeg", "--quality", "30", "--suffix", "_q30"],
    }.items():
        code, _, err = run(capsys, src, "-m", tiny_model, "-o", tmp_path / "out", *args)
        assert code == 0, err
        outs[name] = tmp_path / "out" / ("a_q30.jpg" if name == "q30" else f"a.{name}")
    assert outs["jpg"].read_bytes()[:3] == b"\xff\xd8\xff"
    with Image.open(outs["jpg"]) as im:
        assert im.format == "JPEG" and im.mode == "RGB"
        jpeg = np.asarray(im)
    png = iio.imread(outs["png"])
    assert jpeg.shape == png.shape and png.dtype == np.uint8
    mse = np.mean((jpeg.astype(float) - png.astype(float)) ** 2)
    assert 10 * np.log10(255**2 / mse) > 38  # the same picture, barely compressed
    with Image.open(outs["q30"]) as im:
        low = np.asarray(im).astype(float)
    assert np.mean((low - png.astype(float)) ** 2) > mse
    assert outs["q30"].stat().st_size < outs["jpg"].stat().st_size
    exif = read_exif(outs["jpg"])
    assert exif.make == "Test" and exif.iso == 3200
    assert exif.exposure_time == Fraction(1, 50)


def test_bad_files_reported_the_others_processed(tmp_path, make_dng, tiny_model, capsys) -> None:
    folder = tmp_path / "mixed"
    good = make_dng("good.dng", folder=folder)
    make_dng("truncated.dng", folder=folder)
    data = (folder / "truncated.dng").read_bytes()
    (folder / "truncated.dng").write_bytes(data[: len(data) // 3])
    (folder / "corrupt.nef").write_bytes(np.random.default_rng(0).bytes(50_000))
    (folder / "fake.arw").write_text("this is not a raw file\n")
    linear = np.random.default_rng(1).integers(0, 1000, size=(40, 60, 3)).astype(np.uint16)
    _write_linear_dng(folder / "linear.dng", linear)
    (folder / "notes.txt").write_text("ignored: no RAW extension\n")
    code, out, err = run(capsys, folder, "--model", tiny_model, "--format", "tiff", "--json")
    assert code == 3
    summary = json.loads(out)
    status = {Path(f["input"]).name: f["status"] for f in summary["files"]}
    assert status == {
        "good.dng": "done",
        "truncated.dng": "failed",
        "corrupt.nef": "failed",
        "fake.arw": "failed",
        "linear.dng": "failed",
    }
    for name in ("truncated.dng", "corrupt.nef", "fake.arw", "linear.dng"):
        assert f"rawdenoise: error: {name}" in err
    assert "linear" in err and "Traceback" not in err
    written = sorted(p.name for p in (folder / "denoised").iterdir())
    assert written == [f"{good.stem}.tif"]


def _write_linear_dng(path: Path, rgb: np.ndarray) -> None:
    import tifffile

    tags = [
        (50706, "B", 4, (1, 4, 0, 0), True),
        (271, "s", 0, "Test", True),
        (272, "s", 0, "Cam", True),
        (50708, "s", 0, "Test Cam", True),
        (50717, "I", 1, 1023, True),
        (50721, "2i", 9, (1, 1, 0, 1, 0, 1, 0, 1, 1, 1, 0, 1, 0, 1, 0, 1, 1, 1), True),
    ]
    tifffile.imwrite(path, rgb, photometric=34892, extratags=tags, metadata=None)


def test_non_raw_file_named_explicitly_is_a_bad_file(tmp_path, make_dng, tiny_model, capsys):
    good = make_dng("good.dng")
    other = tmp_path / "photo.jpg"
    other.write_bytes(b"\xff\xd8\xff")
    missing = tmp_path / "missing.dng"
    code, _, err = run(capsys, good, other, missing, "--model", tiny_model)
    assert code == 3
    assert "photo.jpg: not a RAW file" in err and "missing.dng: no such file" in err
    assert (tmp_path / "denoised" / "good.png").is_file()
    assert not (tmp_path / "denoised" / "photo.png").exists()


def test_an_existing_output_is_kept_exit_5_unless_skip_existing_or_overwrite(
    tmp_path, make_dng, tiny_model, capsys
) -> None:
    """A file in the way: kept, the other files processed, exit 5 (the rule of every
    command); --skip-existing counts it as done (a resumed batch), --overwrite replaces it."""
    src = make_dng("a.dng")
    other = make_dng("b.dng", seed=1)
    out = tmp_path / "out"
    args = [src, other, "-m", tiny_model, "-o", out, "--suffix", "_rdn", "-f", "dng"]
    assert run(capsys, *args)[0] == 0
    target = out / "a_rdn.dng"
    target.write_bytes(b"keep me")
    (out / "b_rdn.dng").unlink()
    code, stdout, err = run(capsys, *args, "--json")
    summary = json.loads(stdout)
    assert code == 5 and summary["skipped"] == 1 and summary["processed"] == 1
    assert target.read_bytes() == b"keep me" and (out / "b_rdn.dng").is_file()
    error = [ln for ln in err.splitlines() if ln.startswith("rawdenoise: error: ")]
    assert error == [
        f"rawdenoise: error: 1 output existed and was kept (first: {target}); the other files "
        "were processed"
    ]
    code, _, err = run(capsys, src, "-m", tiny_model, "-o", out, "--suffix", "_rdn", "-f", "dng")
    assert code == 5 and err.splitlines()[-2] == (
        f"rawdenoise: error: 1 output existed and was kept (first: {target})"
    )
    assert run(capsys, *args, "--dry-run")[0] == 5  # a dry run answers as the real one would
    assert run(capsys, *args, "--dry-run", "--skip-existing")[0] == 0
    code, stdout, err = run(capsys, *args, "--skip-existing")
    assert code == 0 and "rawdenoise: error" not in err and "0 done, 2 skipped" in stdout
    assert run(capsys, *args, "--skip-existing", "--overwrite")[0] == 2
    code, stdout, _ = run(capsys, *args, "--overwrite")
    assert code == 0 and read_raw(target).shape == (64, 96)


@pytest.mark.parametrize("cfa", ["RGGB", "GBRG"])
def test_dng_output_opens_in_rawpy_like_the_input(tmp_path, make_dng, tiny_model, capsys, cfa):
    src = make_dng(f"in_{cfa}.dng", h=67, w=95, cfa=cfa, black=[60, 62, 64, 66], white=2000)
    code, _, err = run(capsys, src, "-m", tiny_model, "-f", "dng", "--tile", "16")
    assert code == 0, err
    out = tmp_path / "denoised" / f"in_{cfa}.dng"
    with rawpy.imread(str(out)) as a, rawpy.imread(str(src)) as b:
        assert a.raw_pattern.tolist() == b.raw_pattern.tolist()
        assert a.black_level_per_channel == b.black_level_per_channel
        assert a.white_level == b.white_level
        assert a.raw_image_visible.shape == b.raw_image_visible.shape == (67, 95)
        # the odd last row and column were denoised too (not copied from the input)
        changed = a.raw_image_visible[-1] != b.raw_image_visible[-1]
        assert changed.mean() > 0.5


def test_shards_split_the_sorted_list(tmp_path, make_dng, tiny_model, capsys, monkeypatch):
    folder = tmp_path / "many"
    for i in range(5):
        make_dng(f"f{i}.dng", folder=folder, h=32, w=32, seed=i)
    names = []
    for shard in ("1/2", "2/2"):
        code, out, _ = run(
            capsys, folder, "-m", tiny_model, "--shard", shard, "--dry-run", "--json"
        )
        assert code == 0
        names.append([Path(f["input"]).name for f in json.loads(out)["files"]])
    assert names == [["f0.dng", "f2.dng", "f4.dng"], ["f1.dng", "f3.dng"]]
    monkeypatch.setenv("RANK", "1")
    monkeypatch.setenv("WORLD_SIZE", "2")
    code, out, _ = run(capsys, folder, "-m", tiny_model, "--dry-run", "--json")
    assert [Path(f["input"]).name for f in json.loads(out)["files"]] == names[1]
    assert run(capsys, folder, "--shard", "0/2")[0] == 2


def test_dry_run_exits_as_the_real_run_would_on_files_it_can_see_are_bad(
    tmp_path, make_dng, tiny_model, capsys
) -> None:
    good = make_dng("good.dng", h=32, w=32)
    missing = tmp_path / "gone.dng"
    code, out, _ = run(capsys, good, missing, "-m", tiny_model, "--dry-run", "--json")
    files = {Path(f["input"]).name: f for f in json.loads(out)["files"]}
    assert code == 3
    assert files["good.dng"]["status"] == "would write" and files["gone.dng"]["status"] == "failed"
    assert not (tmp_path / "denoised").exists()
    code, out, _ = run(capsys, good, missing, "-m", tiny_model, "--dry-run")
    assert code == 3 and "error" in out
    assert run(capsys, good, "-m", tiny_model, "--dry-run", "--json")[0] == 0


def test_dry_run_decodes_every_file_and_warns_about_ratios_outside_the_models_range(
    tmp_path, make_dng, capsys
) -> None:
    """A file LibRaw cannot decode (a GoPro GPR) is not "would write"; a daylight frame's
    --ratio auto (ISO x seconds against the target) is warned about, in the dry and the real
    run alike, and the warning says what a normally exposed photo needs."""
    from rawdenoise.networks.tiny import TinyNet

    model = tmp_path / "mine.safetensors"
    info = ModelInfo(architecture="tiny", ratio_range=(100, 300), target_exposure=6400)
    weights.save_model(model, TinyNet(), info)
    dark = make_dng("dark.dng", iso=3200, exposure="1/100", h=32, w=32)  # level 32: x200
    day = make_dng("day.dng", iso=100, exposure="1/500", h=32, w=32)  # level 0.2: x32000
    gpr = tmp_path / "GOPR0001.GPR"
    gpr.write_bytes(b"II*\x00" + bytes(300))
    args = [dark, day, gpr, "-m", model, "--ratio", "auto"]
    code, out, err = run(capsys, *args, "--dry-run", "--json")
    files = {Path(f["input"]).name: f for f in json.loads(out)["files"]}
    assert code == 3
    assert files["GOPR0001.GPR"]["status"] == "failed"
    assert "GoPro GPR" in files["GOPR0001.GPR"]["error"]
    assert files["dark.dng"]["ratio"] == pytest.approx(200)
    assert files["day.dng"]["ratio"] == pytest.approx(32000)
    warnings = [ln for ln in err.splitlines() if ln.startswith("rawdenoise: warning: ")]
    assert len(warnings) == 1
    assert "day.dng: ratio 3.2e+04 is outside the model's range 100-300" in warnings[0]
    assert "for a normally exposed photo use --ratio 1" in warnings[0]
    code, _, err = run(capsys, dark, day, "-m", model, "--ratio", "auto")
    assert code == 0
    assert [ln for ln in err.splitlines() if "outside the model's range" in ln] == warnings
    code, _, err = run(capsys, day, "-m", model, "--ratio", "1", "--dry-run", "--overwrite")
    assert code == 0
    assert err.startswith("rawdenoise: warning: ratio 1 is outside the model's range 100-300;")
    assert "faithful" not in err  # the pointer is for the bundled default only
    code, _, err = run(capsys, day, "-m", model, "--ratio", "150", "--dry-run", "--overwrite")
    assert code == 0 and err == ""


@pytest.mark.skipif(
    not (model_names.PACKAGED_DEFAULT.is_file() and model_names.PACKAGED_FAITHFUL.is_file()),
    reason="the bundled models are not installed",
)
@pytest.mark.parametrize("dry", [True, False])
def test_the_default_outside_its_ratios_points_to_the_bundled_faithful_model(
    make_dng, capsys, dry
) -> None:
    """A normally exposed photo (ratio 1) with the bundled default (trained for 100-300): the
    warning names the bundled model trained for ratio 1, in the dry and the real run."""
    photo = make_dng("photo.dng", h=32, w=32)
    code, _, err = run(capsys, photo, "--ratio", "1", "-f", "dng", "--overwrite",
                       *(["--dry-run"] if dry else []))  # fmt: skip
    assert code == 0
    assert err.startswith("rawdenoise: warning: ratio 1 is outside the model's range 100-300;")
    assert "the bundled 'faithful' model was trained for 1-300 (--model faithful)" in err
    code, _, err = run(capsys, photo, "--ratio", "1", "-m", "faithful", "--dry-run")
    assert code == 0 and "warning" not in err


def test_target_exposure_and_auto_ratio(tmp_path, make_dng, tiny_model, capsys) -> None:
    a = make_dng("a.dng", iso=6400, exposure="1/100")  # exposure level 64
    b = make_dng("b.dng", iso=100, exposure="1/10")  # 10
    code, out, _ = run(capsys, a, b, "-m", tiny_model, "--target-exposure", "640", "--json")
    assert code == 0
    ratios = {Path(f["input"]).name: f["ratio"] for f in json.loads(out)["files"]}
    assert ratios == pytest.approx({"a.dng": 10.0, "b.dng": 64.0})
    # --ratio auto reads the model's target exposure (0.64 here)
    code, out, _ = run(capsys, a, "-m", tiny_model, "--ratio", "auto", "--dry-run", "--json")
    assert json.loads(out)["files"][0]["ratio"] == pytest.approx(0.01)
    plain = tmp_path / "plain.safetensors"
    from rawdenoise.networks.tiny import TinyNet

    weights.save_model(plain, TinyNet(), ModelInfo(architecture="tiny"))
    code, _, err = run(capsys, a, "-m", plain, "--ratio", "auto")
    assert code == 2 and "target exposure" in err
    led = tmp_path / "led.pth"  # an LED checkpoint (or a training one) records none either
    torch.save({"params": TinyNet().state_dict()}, led)
    code, _, err = run(capsys, a, "-m", led, "--ratio", "auto", "--arch", "tiny")
    assert code == 2 and "target exposure" in err, err
    assert run(capsys, a, "-m", tiny_model, "--ratio", "2", "--target-exposure", "5")[0] == 2


def test_auto_ratio_by_level_brightens_a_dark_photo_and_leaves_a_normal_one(
    tmp_path, make_dng, capsys
) -> None:
    from rawdenoise.networks.tiny import TinyNet

    rng = np.random.default_rng(3)

    def shot(name: str, level: float) -> Path:
        values = 64 + (1023 - 64) * level * rng.uniform(0.5, 1.0, size=(64, 96))
        return make_dng(name, h=64, w=96, black=64, white=1023, mosaic=values.astype(np.uint16))

    normal, dark = shot("normal.dng", 0.8), shot("dark.dng", 0.8 / 40)
    model = tmp_path / "generic.safetensors"
    info = ModelInfo(architecture="tiny", ratio_range=(1.0, 300.0), auto_level=0.2)
    weights.save_model(model, TinyNet(), info)
    code, out, err = run(capsys, normal, dark, "-m", model, "--ratio", "auto", "--json")
    assert code == 0 and "warning" not in err, err
    ratios = {Path(f["input"]).name: f["ratio"] for f in json.loads(out)["files"]}
    assert ratios["normal.dng"] == 1.0  # bright enough already: never darkened
    level = frame_level(read_raw(dark).normalized())
    assert 0.8 / 40 * 0.5 < level < 0.8 / 40  # the brightest blocks of the dark frame
    assert ratios["dark.dng"] == pytest.approx(0.2 / level, rel=1e-6)
    code, out, _ = run(capsys, dark, "-m", model, "--ratio", "auto", "--dry-run", "--json")
    assert json.loads(out)["files"][0]["ratio"] == pytest.approx(ratios["dark.dng"], rel=1e-6)
    capped = pipeline.RatioRule(target_level=0.2, limits=(1.0, 5.0))
    assert capped.ratio_for(dark, OutputMetadata(), np.full((4, 32, 32), 0.001)) == 5.0
    with pytest.raises(PluginError, match="auto_level"):
        ModelInfo(architecture="tiny", auto_level=0.0)


def test_ratio_normalization_and_undo_with_an_identity_network(make_dng) -> None:
    """x = min((DN - black) / (white - black) * ratio, 1), back to DN after the network; values
    below black come back below black (clipping them would brighten near-black areas)."""

    class Identity(nn.Module):
        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return x

    mosaic = np.random.default_rng(5).integers(40, 1024, size=(33, 47)).astype(np.uint16)
    frame = read_raw(
        make_dng("id.dng", h=33, w=47, black=[60, 62, 64, 66], white=1023, mosaic=mosaic)
    )
    out = denoise_mosaic(Identity(), frame, 3.0, RunSettings(multiple_of=1, tile=16))
    black = frame.black_level[frame.pattern][np.arange(33)[:, None] % 2, np.arange(47) % 2]
    white = 1023.0
    x = np.minimum((frame.mosaic - black) / (white - black) * 3.0, 1)
    assert (x < 0).any()  # the fixture has pixels below black
    np.testing.assert_allclose(out, np.clip(np.rint(x * (white - black) + black), 0, None), atol=1)
    rule = pipeline.ratio_rule(None, 640.0, None)
    meta = OutputMetadata(iso=6400, exposure_time=Fraction(1, 100))
    assert rule.ratio_for(Path("x"), meta) == pytest.approx(10.0)
    with pytest.raises(Exception, match="EXIF has no ISO"):
        RatioRule(target_exposure=5.0).ratio_for(Path("x.dng"), OutputMetadata())


def test_missing_default_model_is_one_clear_error(make_dng, capsys, monkeypatch, tmp_path):
    monkeypatch.setattr(model_names, "PACKAGED_DEFAULT", tmp_path / "none.safetensors")
    code, _, err = run(capsys, make_dng("a.dng"))
    assert code == 4
    lines = err.strip().splitlines()
    assert lines[0].startswith("rawdenoise: error: the bundled 'default' model")
    assert lines[1].startswith("hint: ") and "--model" in lines[1]


def test_interrupt_leaves_no_partial_file(make_dng, tiny_model, capsys, monkeypatch, tmp_path):
    from rawdenoise import render

    def half_written(path, rgb, **kwargs):
        Path(path).write_bytes(b"\x89PNG partial")
        raise KeyboardInterrupt

    monkeypatch.setattr(render, "write_png", half_written)
    code, _, err = run(capsys, make_dng("a.dng"), "-m", tiny_model)
    assert code == 130 and "interrupted" in err
    out = tmp_path / "denoised"  # the folder it made is removed with the partial file
    assert not out.exists() or not list(out.iterdir())
    assert not [p for p in tmp_path.rglob("*") if p.name.startswith(".")]  # no temporary file


def test_name_clash_and_never_the_input(tmp_path, make_dng, tiny_model, capsys) -> None:
    folder = tmp_path / "clash"
    make_dng("a.dng", folder=folder)
    write_dng(folder / "a.nef", read_raw(folder / "a.dng").mosaic, black_level=64, white_level=1023)
    code, out, _ = run(capsys, folder, "-m", tiny_model, "--dry-run", "--json")
    outputs = sorted(Path(f["output"]).name for f in json.loads(out)["files"])
    assert outputs == ["a_dng.png", "a_nef.png"]
    src = folder / "a.dng"
    before = digest(src)
    code, _, err = run(capsys, src, "-m", tiny_model, "-f", "dng", "-o", folder, "--overwrite")
    assert code == 3 and "would replace the input" in err and digest(src) == before


def test_same_names_from_two_folders_into_one_out_folder_all_survive(
    tmp_path, make_dng, tiny_model, capsys
) -> None:
    """Camera numbering restarts per card: day1/a.dng and day2/a.dng into one --out folder."""
    a1 = make_dng("a.dng", folder=tmp_path / "day1", h=32, w=32, seed=1)
    a2 = make_dng("a.dng", folder=tmp_path / "day2", h=32, w=32, seed=2)
    same = tmp_path / "day2" / "A.DNG"  # a case variant beside it (one name on macOS/Windows)
    same.write_bytes(a2.read_bytes())
    out_dir = tmp_path / "out"
    code, out, _ = run(capsys, a1.parent, a2, same, "-m", tiny_model, "-o", out_dir, "--json")
    files = json.loads(out)["files"]
    outputs = [f["output"] for f in files]
    assert code == 0 and all(f["status"] == "done" for f in files)
    assert len({o.casefold() for o in outputs}) == 3
    assert sorted(p.name for p in out_dir.iterdir()) == sorted(Path(o).name for o in outputs)
    day1 = next(f["output"] for f in files if Path(f["input"]).parent.name == "day1")
    day2 = next(f["output"] for f in files if f["input"] == str(a2))
    assert iio.imread(day1).tobytes() != iio.imread(day2).tobytes()  # not one result twice


def test_recursive_with_out_the_input_folder_still_finds_the_inputs(
    tmp_path, make_dng, tiny_model, capsys
) -> None:
    root = tmp_path / "shoot"
    make_dng("x.dng", folder=root / "day1", h=32, w=32)
    code, out, _ = run(capsys, root, "-m", tiny_model, "-r", "-o", root, "--dry-run", "--json")
    files = json.loads(out)["files"]
    assert code == 0 and [Path(f["input"]).name for f in files] == ["x.dng"]
    assert Path(files[0]["output"]) == root / "day1" / "x.png"


def test_recursive_keeps_tree_and_skips_own_outputs(tmp_path, make_dng, tiny_model, capsys):
    root = tmp_path / "archive"
    make_dng("x.dng", folder=root / "day1", h=32, w=32)
    make_dng("y.dng", folder=root / "day2", h=32, w=32)
    code, _, _ = run(capsys, root, "-m", tiny_model, "-r", "-f", "dng")
    assert code == 0
    assert (root / "day1" / "denoised" / "x.dng").is_file()
    code, out, _ = run(capsys, root, "-m", tiny_model, "-r", "-f", "dng", "--json")
    assert json.loads(out)["skipped"] == 2 and len(json.loads(out)["files"]) == 2
    out_dir = tmp_path / "out"
    code, _, _ = run(capsys, root, "-m", tiny_model, "-r", "-o", out_dir, "-f", "tiff")
    assert code == 0 and (out_dir / "day2" / "y.tif").is_file()


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--precision", "fp16"], "fp16 runs only on a GPU"),
        (["--format", "dng", "--bit-depth", "8"], "bit-depth"),
        (["--format", "webp"], "unknown --format"),
        (["--format", "jpg", "--bit-depth", "16"], "JPEG is 8-bit"),
        (["--quality", "90"], "--quality applies to --format jpeg only"),
        (["-f", "jpeg", "--quality", "0"], "--quality must be 1-100"),
        (["--ratio", "-3"], "invalid --ratio"),
        (["--device", "tpu"], "unknown device"),
        (["-O", "channels=abc"], "invalid option for architecture"),
    ],
)
def test_usage_errors(make_dng, tiny_model, capsys, args, message) -> None:
    code, _, err = run(capsys, make_dng("a.dng"), "-m", tiny_model, *args)
    assert code == 2 and message in err


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--tile", "8"], "at least 16"),
        (["--tile", "32", "--overlap", "32"], "larger than the overlap"),
        (["--tile", "48", "--overlap", "40"], "larger than the overlap 40"),
    ],
)
def test_impossible_tiling_is_one_usage_error_before_any_file(
    make_dng, capsys, args, message
) -> None:
    a, b = make_dng("a.dng"), make_dng("b.dng")
    code, _, err = run(capsys, a, b, "-m", "default", *args)
    assert code == 2 and message in err
    assert err.count("error:") == 1 and not (a.parent / "denoised").exists()


def test_a_folder_without_raw_files_is_reported_and_the_batch_goes_on(
    tmp_path, make_dng, tiny_model, capsys
) -> None:
    shoot = tmp_path / "shoot"
    make_dng("x.dng", folder=shoot / "day1", h=32, w=32)
    (tmp_path / "notes").mkdir()
    (tmp_path / "notes" / "readme.txt").write_text("no photos here")
    good = make_dng("good.dng", h=32, w=32)
    code, _, err = run(capsys, shoot, tmp_path / "notes", good, "-m", tiny_model)
    assert code == 3 and (tmp_path / "denoised" / "good.png").is_file()
    assert "shoot: no RAW files in this folder" in err and "add -r" in err
    assert "notes: no RAW files in this folder" in err
    assert run(capsys, shoot, "-m", tiny_model, "-r")[0] == 0  # found with -r


def test_a_folder_where_the_output_goes_is_an_error_not_a_skip(
    tmp_path, make_dng, tiny_model, capsys
) -> None:
    src = make_dng("a.dng", h=32, w=32)
    (tmp_path / "denoised" / "a.png").mkdir(parents=True)
    code, out, _ = run(capsys, src, "-m", tiny_model, "--dry-run", "--json")
    assert code == 5 and json.loads(out)["files"][0]["status"] == "failed"
    code, _, err = run(capsys, src, "-m", tiny_model)
    assert code == 5 and "it is a folder" in err


def test_the_readme_first_command_cleans_the_bundled_sample_with_the_default(
    tmp_path, capsys
) -> None:
    """Issue 9: no model option -> the bundled 'default', and a cleaner image than the input."""
    from rawdenoise.samples import BRIGHT, DARK
    from rawdenoise.training.frames import decode
    from rawdenoise.training.metrics import raw_metrics

    out = tmp_path / "denoised"
    code, _, err = run(capsys, DARK, "--ratio", "100", "--out", out)  # README's first command
    assert code == 0, err
    head = (out / "dark_iso6400.png").read_bytes()[16:26]  # IHDR: width, height, bit depth
    assert int.from_bytes(head[:4], "big") == 768 and int.from_bytes(head[4:8], "big") == 512
    assert head[8] == 16
    code, _, err = run(capsys, DARK, "--ratio", "100", "--out", out, "-f", "dng")
    assert code == 0, err
    clean = np.clip(decode(BRIGHT).data, 0, 1)
    noisy = np.minimum(decode(DARK).data * 100.0, 1.0)
    denoised = np.clip(decode(out / "dark_iso6400.dng").data, 0, 1)
    assert raw_metrics(denoised, clean)[0] > raw_metrics(noisy, clean)[0] + 6.0


def test_results_on_stdout_one_log_line_per_file_on_stderr(
    tmp_path, make_dng, tiny_model, capsys
) -> None:
    """The streams rule off a terminal: the summary table is the result (stdout, -q or not);
    stderr has one line per file with full paths, never wrapped or cut at 80 columns."""
    deep = tmp_path / ("a_folder_with_a_name_long_enough_to_pass_eighty_columns_" * 2)
    a = make_dng("a.dng", folder=deep)
    b = make_dng("b.dng", folder=deep, seed=1)
    code, out, err = run(capsys, deep, "-m", tiny_model)
    assert code == 0, err
    lines = err.strip().splitlines()
    assert lines == [
        f"[1/2] done {a} -> {deep / 'denoised' / 'a.png'} (0.0 MP, ratio 1, "
        + lines[0].rsplit(", ", 1)[1],
        f"[2/2] done {b} -> {deep / 'denoised' / 'b.png'} (0.0 MP, ratio 1, "
        + lines[1].rsplit(", ", 1)[1],
    ]
    assert "…" not in out + err
    assert str(a) in out and str(deep / "denoised" / "b.png") in out  # whole paths, one line
    assert "2 done, 0 skipped, 0 failed" in out
    code, out, err = run(capsys, deep, "-m", tiny_model, "--overwrite", "-q")
    assert code == 0 and err == ""
    assert "2 done, 0 skipped, 0 failed" in out
