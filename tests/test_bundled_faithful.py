"""The bundled ``faithful`` model keeps a real photo's colour: a crop of the Sony A7R III
concert ARW under blue stage light, written as a DNG and run through ``rawdenoise process -f
dng --model faithful --ratio 1``, comes back with each Bayer plane's level (the bundled
``default`` turns the same crop's blue plane to half and its red to twice its level)."""

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


@pytest.mark.skipif(not PACKAGED_FAITHFUL.is_file(), reason="no bundled 'faithful' model")
def test_faithful_keeps_each_planes_level_on_a_real_blue_lit_photo(
    shared_data: Path, make_dng, tmp_path: Path
) -> None:
    frame = read_raw(shared_data / ARW)
    assert frame.cfa == "RGGB"
    mosaic = frame.mosaic[2 * TOP : 2 * (TOP + SIDE), 2 * LEFT : 2 * (LEFT + SIDE)]
    black, white = float(frame.black_level.mean()), float(frame.white_level.max())
    src = make_dng("blue.dng", mosaic=np.ascontiguousarray(mosaic), black=black, white=white,
                   iso=3200)  # fmt: skip
    out = tmp_path / "out"
    code = main(["process", str(src), "--model", "faithful", "--ratio", "1", "-f", "dng",
                 "--precision", "fp32", "--out", str(out), "-q"])  # fmt: skip
    assert code == 0
    given, got = read_raw(src).normalized(), read_raw(out / "blue.dng").normalized()
    assert got.shape == given.shape == (4, SIDE, SIDE)
    means = given.reshape(4, -1).mean(axis=1)
    assert means[2] > 2.5 * means[1] > 5 * means[0]  # blue light, near-black red
    # each plane within 2% of its level (floored at 1% of white: red is near black)
    assert mean_errors(got, given).max() < 0.02
    assert np.abs(got - given).mean() < 0.01  # and it is the same picture, less its noise
