"""The level lock (:mod:`rawdenoise.level_lock`): the output moved to the input's local level,
by a smooth field, leaving highlights and an output already at the right level alone."""

from __future__ import annotations

import numpy as np
import pytest

from rawdenoise.level_lock import BLOCK, lock_level


def _scene(h: int = 160, w: int = 224) -> np.ndarray:
    """A smooth packed scene: four planes at different levels with a gradient across."""
    ramp = np.linspace(0.5, 1.5, w, dtype=np.float32)[None, None, :]
    levels = np.array([0.02, 0.1, 0.3, 0.1], dtype=np.float32)[:, None, None]
    return np.broadcast_to(levels * ramp, (4, h, w)).copy()


def _noisy(clean: np.ndarray, sigma: float, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return (clean + rng.normal(0, sigma, clean.shape)).astype(np.float32)


def test_a_plane_the_network_darkened_gets_its_level_back() -> None:
    clean = _scene()
    noisy = _noisy(clean, 0.02)
    output = clean.copy()
    output[2] *= 0.5  # the network halved the blue plane
    output[0] -= 0.01  # and darkened the near-black red one
    locked = lock_level(noisy, output.copy(), low=-0.1)
    for c in range(4):
        assert abs(locked[c].mean() / clean[c].mean() - 1) < 0.02, c
    # locally too, not only on average: every 16 px block within 5% of the clean level
    blocks = locked.reshape(4, 10, BLOCK, 14, BLOCK).mean(axis=(2, 4))
    want = clean.reshape(4, 10, BLOCK, 14, BLOCK).mean(axis=(2, 4))
    assert np.abs(blocks[1:3] / want[1:3] - 1).max() < 0.05


def test_the_correction_is_smooth_and_keeps_the_networks_detail() -> None:
    clean = _scene()
    noisy = _noisy(clean, 0.02)
    output = clean * 0.8
    output[:, ::2, ::2] += 0.01  # detail of the network's own, at the pixel scale
    locked = lock_level(noisy, output.copy())
    change = locked - output
    assert change.mean() > 0.02  # it moved the level
    # by a field without pixel-scale structure: neighbours differ by a small fraction of it
    assert np.abs(np.diff(change, axis=2)).max() < 0.05 * np.abs(change).max()
    assert np.abs(np.diff(change, axis=1)).max() < 0.05 * np.abs(change).max()


def test_an_output_at_the_inputs_level_is_left_alone() -> None:
    clean = _scene()
    noisy = _noisy(clean, 0.01, seed=3)
    locked = lock_level(noisy, clean.copy())
    # what it adds is the input's noise averaged over 48 x 48 px windows: sigma / 48 or so
    assert np.abs(locked - clean).max() < 4 * 0.01 / 48 * 3


def test_clipped_highlights_are_not_pulled_down() -> None:
    clean = _scene()
    clean[:, :64, :64] = 0.98  # a highlight whose noisy input clips at 1 about a third of the time
    noisy = np.minimum(_noisy(clean, 0.05), 1.0)
    assert noisy[:, :64, :64].mean() < 0.97  # clipping biases the input's mean low there
    locked = lock_level(noisy, clean.copy())
    assert locked[:, 8:56, 8:56].mean() > 0.978
    assert locked.max() <= 1.0


def test_in_place_and_clipped_below() -> None:
    clean = _scene()
    noisy = _noisy(clean, 0.01) - 0.2
    output = clean.copy()
    assert lock_level(noisy, output, low=-0.05) is output
    assert output.min() >= -0.05
    with pytest.raises(ValueError):
        lock_level(noisy, output[:3])


def test_process_and_evaluate_say_whether_the_level_is_locked(tmp_path, capsys) -> None:
    """The bundled real dark sample through the default model: with the lock each Bayer
    plane's mean is the input's, without it the network's own level; evaluate scores the
    network alone unless asked (LED's protocol) and says which in its JSON."""
    import json

    from rawdenoise.cli import main
    from rawdenoise.rawio import read_raw
    from rawdenoise.samples import BRIGHT, DARK

    # the output DNG holds the brightened frame: compare with the network's input
    given = np.minimum(read_raw(DARK).normalized() * 100, 1).reshape(4, -1).mean(axis=1)
    errors = {}
    for flag, expected in (("--level-lock", True), ("--no-level-lock", False)):
        out = tmp_path / flag
        argv = ["process", str(DARK), "--ratio", "100", "-f", "dng", "--out", str(out), "--json"]
        assert main([*argv, flag, "--threads", "2"]) == 0
        assert json.loads(capsys.readouterr().out)["level_lock"] is expected
        got = read_raw(out / "dark_iso6400.dng").normalized().reshape(4, -1).mean(axis=1)
        errors[expected] = np.abs(got / given - 1).max()
    assert errors[True] < 0.01 < errors[False], errors

    pairs = tmp_path / "pairs.txt"
    pairs.write_text(f"{DARK} {BRIGHT}\n")
    scores = {}
    for flag in ((), ("--level-lock",)):
        assert main(["evaluate", str(pairs), "--json", "--threads", "2", *flag]) == 0
        result = json.loads(capsys.readouterr().out)
        assert result["level_lock"] is bool(flag)
        scores[bool(flag)] = result["pairs"][0]["psnr"]
    assert scores[True] != scores[False]


def test_the_api_takes_level_lock() -> None:
    import rawdenoise
    from rawdenoise.rawio import read_raw
    from rawdenoise.samples import DARK

    packed = read_raw(DARK).normalized()[:, :128, :128]
    given = np.minimum(packed * 100, 1).reshape(4, -1).mean(axis=1)
    model = rawdenoise.load_model("default")
    means = {
        lock: rawdenoise.denoise_array(packed, model, ratio=100, precision="fp32", level_lock=lock)
        .reshape(4, -1)
        .mean(axis=1)
        for lock in (True, False)
    }
    assert np.abs(means[True] / given - 1).max() < 0.01 < np.abs(means[False] / given - 1).max()
