"""Self-ensemble (``--ensemble N``): mirrored copies that are real Bayer frames, mapped back."""

from __future__ import annotations

import itertools
import json

import numpy as np
import pytest
import torch

from rawdenoise.bayer import RGGB, pack_bayer, unpack_bayer
from rawdenoise.cli import main
from rawdenoise.ensemble import SIZES, averaged, from_variant, to_variant, variants
from rawdenoise.errors import UsageError
from rawdenoise.inference import denoise


def _mosaic(h: int = 12, w: int = 20) -> np.ndarray:
    return np.arange(h * w, dtype=np.float32).reshape(h, w)


@pytest.mark.parametrize("v", variants(8), ids=str)
def test_each_copy_maps_back_exactly(v) -> None:
    x = np.random.default_rng(1).random((4, 7, 9)).astype(np.float32)
    assert np.array_equal(from_variant(to_variant(x, v), v, (7, 9)), x)


def test_copies_are_mosaics_of_the_mirrored_scene_in_rggb_order() -> None:
    """Mirroring the mosaic (not the packed planes) keeps each 2x2 block a real R G / G B one."""
    m = _mosaic()
    x = pack_bayer(m, RGGB)
    h, w = m.shape
    by = {(v.transpose, v.flip_h, v.flip_v): v for v in variants(8)}
    # horizontal flip: the mirrored mosaic starts G R, so one reflected column goes in front
    seen = unpack_bayer(to_variant(x, by[(False, True, False)]), RGGB)
    assert np.array_equal(seen[:h, 1 : w + 1], m[:, ::-1])
    seen = unpack_bayer(to_variant(x, by[(False, False, True)]), RGGB)
    assert np.array_equal(seen[1 : h + 1, :w], m[::-1, :])
    seen = unpack_bayer(to_variant(x, by[(True, False, False)]), RGGB)
    assert np.array_equal(seen, m.T)  # R stays at the top left: no padding
    seen = unpack_bayer(to_variant(x, by[(True, True, True)]), RGGB)
    assert np.array_equal(seen[1 : w + 1, 1 : h + 1], m.T[::-1, ::-1])
    # every copy's R and B planes hold only R and B pixels of the frame
    colour = np.zeros_like(m)
    colour[0::2, 0::2], colour[1::2, 1::2], colour[0::2, 1::2], colour[1::2, 0::2] = 0, 2, 1, 1
    for v in variants(8):
        planes = to_variant(pack_bayer(colour, RGGB), v)
        assert (planes[0] == 0).all() and (planes[2] == 2).all() and (planes[[1, 3]] == 1).all()


def test_a_colour_gain_is_unchanged_by_the_ensemble_and_progress_counts_every_copy() -> None:
    """A per-colour operation commutes with every copy, so the average is that operation."""
    x = np.random.default_rng(2).random((4, 40, 56)).astype(np.float32)
    gain = torch.tensor([0.5, 0.8, 0.3, 0.8]).view(1, 4, 1, 1)

    class ColourGain(torch.nn.Module):
        def forward(self, t: torch.Tensor) -> torch.Tensor:
            return t * gain

    expected = x * gain.numpy()[0]
    for n in SIZES:
        calls: list[tuple[int, int]] = []
        y = denoise(
            ColourGain(), x, multiple_of=8, tile=24, overlap=8, ensemble=n,
            progress=lambda d, t, calls=calls: calls.append((d, t)),
        )  # fmt: skip
        np.testing.assert_allclose(y, expected, rtol=1e-6, atol=1e-7)
        done, total = calls[-1]
        assert done == total and total >= n * 6  # tiles of every copy
        assert all(b[0] >= a[0] for a, b in itertools.pairwise(calls))

    # a network that is not mirror-symmetric gives a different, averaged result
    def shift(copy, _report):
        return np.roll(copy, 1, axis=2)

    assert not np.allclose(averaged(shift, x, 2), shift(x, None))


def test_bad_sizes_and_inputs_are_refused() -> None:
    with pytest.raises(UsageError, match="--ensemble must be one of 1, 2, 4, 8"):
        variants(3)
    with pytest.raises(UsageError, match="packed Bayer"):
        averaged(lambda c, p: c, np.zeros((3, 8, 8), np.float32), 2)


def test_process_and_evaluate_take_ensemble_and_it_cleans_more(tmp_path, capsys) -> None:
    """On the bundled real sample pair the default with 2 copies beats it with one."""
    from rawdenoise.samples import BRIGHT, DARK

    pairs = tmp_path / "pairs.txt"
    pairs.write_text(f"{DARK} {BRIGHT}\n")
    scores = {}
    for n in (1, 2):
        argv = ["evaluate", str(pairs), "--ensemble", str(n), "--json", "--threads", "2"]
        assert main(argv) == 0
        result = json.loads(capsys.readouterr().out)
        assert result["ensemble"] == n
        scores[n] = result["pairs"][0]["psnr"]
    assert scores[2] > scores[1] + 0.05, scores
    assert main(["evaluate", str(pairs), "--ensemble", "2", "--threads", "2"]) == 0
    assert ", ensemble 2" in capsys.readouterr().out  # the table says how it was scored

    out = tmp_path / "out"
    argv = ["process", str(DARK), "--ratio", "100", "--out", str(out), "-f", "dng", "--json"]
    assert main([*argv, "--ensemble", "2"]) == 0
    assert json.loads(capsys.readouterr().out)["ensemble"] == 2
    assert (out / "dark_iso6400.dng").is_file()

    for command in (["process", str(DARK)], ["evaluate", str(pairs)]):
        assert main([*command, "--ensemble", "3"]) == 2
        err = capsys.readouterr().err
        assert err.startswith("rawdenoise: error: --ensemble must be one of 1, 2, 4, 8"), err
