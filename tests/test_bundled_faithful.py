"""A real photo's colour through ``process``: a crop of the Sony A7R III concert ARW under blue
stage light, written as a DNG and run through ``rawdenoise process -f dng --ratio 1``, comes
back with each Bayer plane's level: from the bundled ``faithful`` model as ``process`` runs it
(its network moves the two greens of dim areas apart by a few per cent at ratio 1, which the
level lock puts back: its model card), and from the bundled ``default``, which turns the
crop's blue plane to half and its red to twice its level, once the level lock (on by
default) moves its output back."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from rawdenoise.cli import main
from rawdenoise.fidelity import mean_errors
from rawdenoise.model_names import PACKAGED_FAITHFUL
from rawdenoise.rawio import read_raw

ARW = "sony_ilce7rm3_iso3200_DSC2164.ARW"
#: a patch of the blue stage light (packed px): blue 3.5% of white, red near black
TOP, LEFT, SIDE = 768, 2304, 128


def greens_apart(x: np.ndarray, block: int = 8) -> np.ndarray:
    """G1 - G2 per ``block`` px block of a packed frame, relative to the block's green level
    (floored at 1% of white)."""
    h, w = x.shape[1] // block, x.shape[2] // block

    def means(plane: np.ndarray) -> np.ndarray:
        return plane[: h * block, : w * block].reshape(h, block, w, block).mean(axis=(1, 3))

    return (means(x[1]) - means(x[3])) / np.maximum((means(x[1]) + means(x[3])) / 2, 0.01)


def _blue_light(
    shared_data: Path, make_dng, tmp_path: Path, *options: str
) -> tuple[np.ndarray, np.ndarray]:
    """(input, output) packed planes of the blue-lit crop through ``process`` with ``options``."""
    frame = read_raw(shared_data / ARW)
    assert frame.cfa == "RGGB"
    mosaic = frame.mosaic[2 * TOP : 2 * (TOP + SIDE), 2 * LEFT : 2 * (LEFT + SIDE)]
    black, white = float(frame.black_level.mean()), float(frame.white_level.max())
    src = make_dng("blue.dng", mosaic=np.ascontiguousarray(mosaic), black=black, white=white,
                   iso=3200)  # fmt: skip
    out = tmp_path / "out"
    code = main(["process", str(src), "--ratio", "1", "-f", "dng", "--precision", "fp32",
                 "--out", str(out), "--overwrite", "-q", *options])  # fmt: skip
    assert code == 0
    given, got = read_raw(src).normalized(), read_raw(out / "blue.dng").normalized()
    assert got.shape == given.shape == (4, SIDE, SIDE)
    return given, got


@pytest.mark.skipif(not PACKAGED_FAITHFUL.is_file(), reason="no bundled 'faithful' model")
def test_faithful_keeps_each_planes_level_on_a_real_blue_lit_photo(
    shared_data: Path, make_dng, tmp_path: Path
) -> None:
    given, got = _blue_light(shared_data, make_dng, tmp_path, "--model", "faithful")
    means = given.reshape(4, -1).mean(axis=1)
    assert means[2] > 2.5 * means[1] > 5 * means[0]  # blue light, near-black red
    # each plane within 1% of its level (floored at 1% of white: red is near black)
    assert mean_errors(got, given).max() < 0.01
    assert np.abs(got - given).mean() < 0.01  # and it is the same picture, less its noise

    # the two greens stay as far apart as they are (apart, demosaicing draws a fine maze)
    assert abs(float((greens_apart(got) - greens_apart(given)).mean())) < 0.005


def test_the_level_lock_gives_the_default_model_the_photos_colour_back(
    shared_data: Path, make_dng, tmp_path: Path
) -> None:
    given, free = _blue_light(shared_data, make_dng, tmp_path, "--no-level-lock")
    assert mean_errors(free, given).max() > 0.3  # the network alone: blue to about half
    given, locked = _blue_light(shared_data, make_dng, tmp_path)
    assert mean_errors(locked, given).max() < 0.02
    # the correction is smooth: what it changed has no more detail than a 16 px block's field
    change = locked - free
    assert np.abs(change[:, 1:] - change[:, :-1]).max() < 0.2 * np.abs(change).max()
    assert np.abs(locked - given).mean() < 0.01
