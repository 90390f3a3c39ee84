"""PSNR/SSIM by LED's protocol, and ``rawdenoise evaluate``."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest
import torch
from _training_data import training_set
from scipy.signal import correlate2d

from rawdenoise.cli import main
from rawdenoise.training.frames import decode
from rawdenoise.training.metrics import (
    gaussian_window,
    illumination_correct,
    psnr,
    raw_metrics,
    ssim,
)


def _ssim_reference(x: np.ndarray, y: np.ndarray) -> float:
    """Wang et al.'s SSIM as BasicSR computes it (x255, Gaussian 11/1.5, valid), via scipy."""
    w = gaussian_window().numpy()
    c1, c2 = (0.01 * 255) ** 2, (0.03 * 255) ** 2
    values = []
    for a, b in zip(x * 255.0, y * 255.0, strict=True):
        f = lambda z: correlate2d(z, w, mode="valid")  # noqa: E731
        ma, mb = f(a), f(b)
        saa, sbb, sab = f(a * a) - ma**2, f(b * b) - mb**2, f(a * b) - ma * mb
        m = ((2 * ma * mb + c1) * (2 * sab + c2)) / ((ma**2 + mb**2 + c1) * (saa + sbb + c2))
        values.append(m.mean())
    return float(np.mean(values))


def test_identical_images() -> None:
    x = np.random.default_rng(0).random((4, 40, 40)).astype(np.float32)
    assert ssim(x, x) == pytest.approx(1.0, abs=1e-12)
    assert psnr(x, x) == math.inf


def test_ssim_of_constant_images_follows_the_formula() -> None:
    a, b = 0.5, 0.25
    x, y = np.full((4, 30, 30), a), np.full((4, 30, 30), b)
    c1 = (0.01 * 255) ** 2
    expected = (2 * a * b * 255**2 + c1) / ((a**2 + b**2) * 255**2 + c1)  # no structure term
    assert ssim(x, y, illumination=False) == pytest.approx(expected, rel=1e-9)


def test_ssim_matches_a_scipy_reference_and_psnr_is_float64() -> None:
    rng = np.random.default_rng(1)
    gt = rng.random((4, 48, 52))
    pred = np.clip(gt + rng.normal(0, 0.05, gt.shape), 0, 1)
    b = 2
    ref = _ssim_reference(pred[:, b:-b, b:-b], gt[:, b:-b, b:-b])
    assert ssim(pred, gt, illumination=False) == pytest.approx(ref, rel=1e-9)
    mse = np.mean((pred[:, b:-b, b:-b] - gt[:, b:-b, b:-b]) ** 2)
    assert psnr(pred, gt, illumination=False) == pytest.approx(10 * np.log10(1 / mse), rel=1e-12)


def test_illumination_correction_and_clamping() -> None:
    rng = np.random.default_rng(2)
    gt = rng.uniform(0.1, 0.6, (4, 32, 32))
    # a global brightness error is corrected away; the same error uncorrected is penalised
    assert psnr(0.7 * gt, gt) > 100 and psnr(0.7 * gt, gt, illumination=False) < 20
    # saturated target pixels do not count in the gain
    gt_sat = gt.copy()
    gt_sat[:, :4] = 1.0
    pred = 0.5 * gt_sat
    pred[:, :4] = 0.1
    corrected = illumination_correct(torch.as_tensor(pred), torch.as_tensor(gt_sat))
    assert np.allclose(corrected.numpy()[:, 4:], gt_sat[:, 4:])
    # the prediction is clamped to [0, 1] before anything else
    assert raw_metrics(gt + 5.0, gt, illumination=False)[0] == pytest.approx(
        raw_metrics(np.ones_like(gt), gt, illumination=False)[0]
    )


def test_evaluate_json(tmp_path_factory, capsys) -> None:
    data = training_set(tmp_path_factory)
    code = main(["evaluate", str(data.held), "--model", str(data.base), "--json", "--threads", "1"])
    assert code == 0
    result = json.loads(capsys.readouterr().out)
    folder = data.held.parent  # full paths: two IMG_0001.dng in two folders stay apart
    assert [p["noisy"] for p in result["pairs"]] == [
        str(folder / "scene3_x100.dng"),
        str(folder / "scene3_x250.dng"),
    ]
    assert result["pairs"][0]["clean"] == str(folder / "scene3_clean.dng")
    assert [p["line"] for p in result["pairs"]] == [1, 2] and result["ratio"] == "exif"
    assert result["psnr"] == pytest.approx(np.mean([p["psnr"] for p in result["pairs"]]))
    assert result["ssim"] == pytest.approx(np.mean([p["ssim"] for p in result["pairs"]]))
    assert 0 < result["ssim"] <= 1 and result["psnr"] > result["noisy_psnr"]
    # the noisy input's score is LED's input min(noisy * ratio, 1) against the clean frame
    first = result["pairs"][0]
    noisy = decode(data.held.parent / "scene3_x100.dng").data
    clean = np.clip(decode(data.held.parent / "scene3_clean.dng").data, 0, 1)
    p, s = raw_metrics(np.minimum(noisy * 100.0, 1.0), clean)
    assert first["noisy_psnr"] == pytest.approx(p) and first["noisy_ssim"] == pytest.approx(s)
    assert first["ratio"] == pytest.approx(100)


def test_evaluate_table_and_errors(tmp_path_factory, capsys, tmp_path) -> None:
    data = training_set(tmp_path_factory)
    assert main(["evaluate", str(data.held), "--model", str(data.base), "--threads", "1"]) == 0
    out, err = capsys.readouterr()
    assert "scene3_x250.dng" in out and "mean" in out and "warning" not in err
    assert main(["evaluate", str(data.held), "--model", "nosuch"]) == 4
    assert capsys.readouterr().err.startswith("rawdenoise: error: ")
    assert main(["evaluate", str(tmp_path / "none.txt"), "--model", str(data.base)]) == 3
    assert capsys.readouterr().err.startswith("rawdenoise: error: ")


def test_evaluate_warns_about_pairs_whose_scores_mean_nothing(make_dng, tmp_path, capsys) -> None:
    from fractions import Fraction

    bright = make_dng("clean.dng", iso=100, exposure=Fraction(1, 10), seed=3)
    mosaic = np.asarray(__import__("rawpy").imread(str(bright)).raw_image_visible)
    same = make_dng("dark.dng", iso=100, exposure=Fraction(1, 100), mosaic=mosaic.copy())
    black = make_dng("black.dng", iso=100, exposure=Fraction(1, 10), mosaic=mosaic * 0 + 64)
    pairs = tmp_path / "pairs.txt"
    pairs.write_text(f"{same.name} {bright.name}\n{same.name} {black.name}\n")
    assert main(["evaluate", str(pairs), "--model", "default", "--threads", "1"]) == 0
    err = capsys.readouterr().err
    assert "EXIF" in err  # one frame's data is as bright as the other: the ratio 10 is wrong
    assert "black.dng is uniform" in err and "PSNR is undefined" in err


def test_evaluate_scores_the_usable_pairs_and_reports_the_others(
    tmp_path_factory, make_dng, capsys
) -> None:
    """A pair list is a batch: bad lines are reported and skipped, the rest scored, exit 3."""
    from fractions import Fraction

    data = training_set(tmp_path_factory)
    folder = data.held.parent
    # a second camera's pair: evaluate (unlike finetune) takes a list that mixes cameras
    other = dict(model="OtherCam", folder=folder, h=128, w=128)
    make_dng("other_clean.dng", iso=100, exposure=Fraction(1, 10), seed=5, **other)
    make_dng("other_dark.dng", iso=100, exposure=Fraction(1, 1000), seed=6, **other)
    listed = folder / "mixed.txt"
    listed.write_text(
        "scene3_x100.dng scene3_clean.dng\n"
        "gone.dng scene3_clean.dng\n"
        "scene3_clean.dng scene3_x250.dng\n"  # swapped: the clean frame first
        "other_dark.dng other_clean.dng\n"
    )
    argv = ["evaluate", str(listed), "--model", str(data.base), "--threads", "1", "--json"]
    assert main(argv) == 3
    out, err = capsys.readouterr()
    result = json.loads(out)
    assert [Path(p["noisy"]).name for p in result["pairs"]] == ["scene3_x100.dng", "other_dark.dng"]
    assert [p["line"] for p in result["pairs"]] == [1, 4]
    assert result["psnr"] == pytest.approx(np.mean([p["psnr"] for p in result["pairs"]]))
    assert len(result["skipped"]) == 2
    assert result["skipped"][0].startswith("line 2: gone.dng not found")
    assert result["skipped"][1].startswith("line 3: ") and "swap" in result["skipped"][1]
    assert "rawdenoise: warning: skipped line 2: gone.dng" in err
    last = err.strip().splitlines()
    assert last[-2].startswith("rawdenoise: error: ") and "2 lines skipped" in last[-2]
    assert "over the other 2 pairs" in last[-2] and last[-1].startswith("hint: ")
    # the same scores as a clean list of those two pairs
    clean_list = folder / "good.txt"
    clean_list.write_text("scene3_x100.dng scene3_clean.dng\nother_dark.dng other_clean.dng\n")
    assert main([*argv[:1], str(clean_list), *argv[2:]]) == 0

    def scores(pairs: list[dict]) -> list[dict]:
        return [{k: v for k, v in p.items() if k != "line"} for p in pairs]

    assert scores(json.loads(capsys.readouterr().out)["pairs"]) == scores(result["pairs"])
    # nothing usable: one error, nothing scored
    bad = folder / "bad.txt"
    bad.write_text("gone.dng scene3_clean.dng\n")
    assert main([*argv[:1], str(bad), *argv[2:]]) == 3
    out, err = capsys.readouterr()
    assert out == "" and err.startswith("rawdenoise: error: pair list ")


def test_evaluate_pairs_skips_a_frame_that_changed_since_the_check(
    tmp_path_factory, tmp_path
) -> None:
    import shutil

    from rawdenoise.errors import InputError
    from rawdenoise.pairing import load_pairs
    from rawdenoise.training.evaluate import evaluate_pairs
    from rawdenoise.weights import load_model

    data = training_set(tmp_path_factory)
    for f in data.held.parent.glob("scene3_*"):
        shutil.copy(f, tmp_path / f.name)
    shutil.copy(data.held, tmp_path / "pairs.txt")
    pairs = load_pairs(tmp_path / "pairs.txt")
    (tmp_path / "scene3_x100.dng").write_bytes(b"not a raw file any more")
    loaded = load_model(str(data.base))
    skipped: list[tuple[str, str]] = []
    scores = evaluate_pairs(
        pairs,
        loaded.network,
        multiple_of=loaded.multiple_of,
        on_skip=lambda pair, reason: skipped.append((pair.noisy.name, reason)),
    )
    assert [Path(s.noisy).name for s in scores] == ["scene3_x250.dng"]
    assert [name for name, _ in skipped] == ["scene3_x100.dng"] and skipped[0][1]
    with pytest.raises(InputError):
        evaluate_pairs(pairs, loaded.network, multiple_of=loaded.multiple_of)


def test_evaluate_scores_a_ratio_1_pair_and_takes_ratio(make_dng, tmp_path, capsys) -> None:
    """A normally exposed high-ISO photo and its clean twin at the same ISO x seconds are a
    valid pair (ratio 1); --ratio replaces the EXIF ratio for every pair."""
    from fractions import Fraction

    clean = make_dng("clean.dng", iso=100, exposure=Fraction(64, 100), seed=3)
    mosaic = np.asarray(__import__("rawpy").imread(str(clean)).raw_image_visible)
    grain = np.random.default_rng(0).normal(0, 8, mosaic.shape)
    noisy = np.clip(mosaic + grain, 0, 1023).astype(np.uint16)
    make_dng("noisy.dng", iso=6400, exposure=Fraction(1, 100), mosaic=noisy)
    pairs = tmp_path / "pairs.txt"
    pairs.write_text("noisy.dng clean.dng\n")
    args = ["evaluate", str(pairs), "--model", "default", "--threads", "1", "--json"]
    assert main(args) == 0
    out, err = capsys.readouterr()
    result = json.loads(out)
    assert [p["ratio"] for p in result["pairs"]] == [1.0]
    assert np.isfinite(result["psnr"]) and np.isfinite(result["noisy_psnr"])
    assert "warning" not in err  # as bright as its twin, as a ratio-1 pair should be
    assert main([*args, "--ratio", "3"]) == 0
    out, err = capsys.readouterr()
    assert json.loads(out)["pairs"][0]["ratio"] == 3.0 and json.loads(out)["ratio"] == 3.0
    assert "but --ratio says 3" in err  # the data says 1, the gain given says 3
    for bad in ("0", "-1", "nan"):
        assert main([*args, "--ratio", bad]) == 2
        assert capsys.readouterr().err.startswith("rawdenoise: error: --ratio")
    pairs.write_text("clean.dng noisy.dng\n")  # the same level both ways: still a pair
    assert main(args) == 0
    capsys.readouterr()


def test_evaluate_help_says_saturated_pixels_are_left_out(capsys) -> None:
    assert main(["evaluate", "--help"]) == 0
    text = " ".join(capsys.readouterr().out.replace("│", " ").split())
    assert "pixels saturated in the clean frame are left out" in text
    assert "--ratio" in text
