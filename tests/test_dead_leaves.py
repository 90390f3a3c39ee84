"""Procedural dead-leaves training frames (``python -m rawdenoise.models.dead_leaves``)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from rawdenoise.models import dead_leaves as dl
from rawdenoise.training.unprocess import rggb_mosaic


def test_radii_follow_the_scale_invariant_law_between_their_bounds() -> None:
    rng = np.random.default_rng(3)
    r = np.array([dl.radius(rng, 1.5, 300.0) for _ in range(20000)])
    assert r.min() >= 1.5 and r.max() <= 300.0
    # p(r) ~ r^-3: the distribution function is (a^-2 - r^-2) / (a^-2 - b^-2)
    a, b = 1.5**-2, 300.0**-2
    for q in (0.25, 0.5, 0.9):
        expected = (a - q * (a - b)) ** -0.5
        assert abs(np.quantile(r, q) / expected - 1) < 0.03


def test_frame_is_covered_and_its_colour_edges_are_not_green_edges() -> None:
    img = dl.dead_leaves(128, np.random.default_rng(5))
    assert img.shape == (128, 128, 3) and img.min() >= 0 and img.max() <= 1
    assert (img.sum(axis=2) > 0).mean() > 0.999  # no holes between the discs
    lo, hi = dl.LEVELS
    assert np.median(img[..., 1]) > lo and img[..., 1].max() <= hi + 1e-9
    # the point of the content: red changes where green does not (a colour edge), which
    # photographs rarely show; on a grey scene the relative gradients would be identical
    gr = np.abs(np.diff(np.log(img[..., 0] + 1e-4), axis=1))
    gg = np.abs(np.diff(np.log(img[..., 1] + 1e-4), axis=1))
    edges = gr > 0.5
    assert edges.mean() > 0.01
    assert np.mean(np.abs(gr[edges] - gg[edges]) > 0.25) > 0.5
    # and the same seed gives the same frame (training sets are reproducible)
    assert np.array_equal(img, dl.dead_leaves(128, np.random.default_rng(5)))


def test_mosaic_samples_each_plane_at_its_bayer_position() -> None:
    rgb = np.zeros((4, 4, 3))
    rgb[..., 0], rgb[..., 1], rgb[..., 2] = 0.1, 0.5, 0.9
    m = rggb_mosaic(rgb)
    assert np.allclose(m[0::2, 0::2], 0.1) and np.allclose(m[1::2, 1::2], 0.9)
    assert np.allclose(m[0::2, 1::2], 0.5) and np.allclose(m[1::2, 0::2], 0.5)


def test_build_writes_dngs_that_decode_to_the_frames_and_keeps_existing_ones(
    tmp_path: Path, shared_data: Path
) -> None:
    from rawdenoise.rawio import read_raw

    written = dl.build(tmp_path, shared_data, count=2, size=96, seed=7)
    assert [p.name for p in written] == ["dead_leaves_7_000.dng", "dead_leaves_7_001.dng"]
    frame = read_raw(written[1])
    want = rggb_mosaic(dl.dead_leaves(96, np.random.default_rng([7, 1])))
    got = frame.normalized()  # packed R, G1, B, G2
    assert np.abs(got[0] - want[0::2, 0::2]).max() < 1e-4
    assert np.abs(got[2] - want[1::2, 1::2]).max() < 1e-4
    assert np.abs(got[1] - want[0::2, 1::2]).max() < 1e-4
    stamp = written[0].stat().st_mtime_ns
    again = dl.build(tmp_path, shared_data, count=3, size=96, seed=7)
    assert len(again) == 3 and written[0].stat().st_mtime_ns == stamp


def test_command_reports_each_frame_and_refuses_bad_arguments_in_one_line(
    tmp_path: Path, shared_data: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "frames"
    assert dl.main([str(out), "--count", "2", "--size", "32", "--data", str(shared_data)]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].startswith("[1/2] wrote ") and lines[-1] == f"2 frames in {out}"
    for bad in (["--size", "8"], ["--count", "0"], ["--data", str(tmp_path / "none")]):
        with pytest.raises(SystemExit) as exc:
            dl.main([str(tmp_path / "other"), *bad])
        assert exc.value.code == 2
        assert "error:" in capsys.readouterr().err
    assert not (tmp_path / "other").exists()
