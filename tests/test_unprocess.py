"""Unprocessing sRGB photographs into RGGB DNGs that rawpy and ``pretrain`` read."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import rawpy

from rawdenoise.bayer import pack_bayer, pattern_from_cfa
from rawdenoise.errors import OutputExistsError
from rawdenoise.rawio import read_raw
from rawdenoise.training.frames import decode
from rawdenoise.training.unprocess import (
    CameraColour,
    cam_from_srgb,
    contact_sheet,
    read_camera_colour,
    srgb_to_linear,
    unprocess,
    write_unprocessed_dng,
)

SHARED = Path(__file__).resolve().parents[2] / "shared" / "data"
HERO6 = SHARED / "gopro_hero6_iso100_GOPR0024.dng"

#: a plausible camera: saturated primaries (camera RGB -> sRGB rows sum to 1), daylight WB
COLOUR = CameraColour(
    cam_to_srgb=np.array([[1.6, -0.4, -0.2], [-0.2, 1.5, -0.3], [0.0, -0.5, 1.5]]),
    wb_gains=(2.0, 1.0, 1.6),
    white_level=16383,
    name="testcam",
)


def test_srgb_curve_inverts_the_standard_points() -> None:
    x = np.array([0.0, 0.04045, 0.5, 1.0])
    np.testing.assert_allclose(srgb_to_linear(x), [0.0, 0.04045 / 12.92, 0.21404, 1.0], atol=1e-5)


def test_white_stays_white_before_white_balance() -> None:
    m = cam_from_srgb(COLOUR)
    np.testing.assert_allclose(m.sum(axis=1), 1.0)
    # and it really inverts the camera's matrix (up to that row scaling)
    np.testing.assert_allclose(np.linalg.inv(m) @ np.ones(3), np.ones(3), atol=1e-12)


def test_a_grey_image_becomes_the_cameras_unbalanced_grey() -> None:
    grey = np.full((6, 8), 128, dtype=np.uint8)  # 2D: treated as neutral
    mosaic = unprocess(grey, COLOUR)
    lin = srgb_to_linear(np.array(128 / 255))
    assert mosaic.shape == (6, 8)
    np.testing.assert_allclose(mosaic[0::2, 0::2], lin / 2.0)  # R
    np.testing.assert_allclose(mosaic[0::2, 1::2], lin)  # G
    np.testing.assert_allclose(mosaic[1::2, 0::2], lin)  # G
    np.testing.assert_allclose(mosaic[1::2, 1::2], lin / 1.6)  # B


def test_odd_sizes_are_cut_and_alpha_is_dropped() -> None:
    rgba = np.zeros((7, 9, 4), dtype=np.uint8)
    assert unprocess(rgba, COLOUR).shape == (6, 8)
    with pytest.raises(ValueError, match="8-bit"):
        unprocess(rgba.astype(np.uint16), COLOUR)


def test_contact_sheet_keeps_bayer_phase() -> None:
    a = np.full((5, 7), 1.0)
    b = np.full((4, 4), 2.0)
    c = np.full((6, 6), 3.0)
    sheet = contact_sheet([a, b, c], 10)
    # a (cut to 4x6) and b share the first row; c starts a new one at an even row
    assert sheet.shape == (4 + 6, 10)
    assert (sheet[:4, :6] == 1).all() and (sheet[:4, 6:10] == 2).all()
    assert (sheet[4:10, :6] == 3).all() and (sheet[4:, 6:] == 0).all()
    with pytest.raises(ValueError, match="does not fit"):
        contact_sheet([np.zeros((4, 12))], 10)


def test_written_dng_reads_back_as_rggb_and_renders_grey_as_grey(tmp_path) -> None:
    rng = np.random.default_rng(0)
    img = np.full((64, 96, 3), 150, dtype=np.uint8)
    img[:, 48:] = rng.integers(0, 256, (64, 48, 3), dtype=np.uint8)  # texture on the right
    mosaic = unprocess(img, COLOUR)
    path = write_unprocessed_dng(tmp_path / "u.dng", mosaic, COLOUR, source="test")
    frame = read_raw(path)
    assert frame.cfa == "RGGB" and frame.shape == (64, 96)
    expected = pack_bayer(mosaic, pattern_from_cfa("RGGB"))
    np.testing.assert_allclose(decode(path).data, expected, atol=0.5 / 16383 + 1e-7)
    # the DNG's colour metadata undoes the unprocessing: the flat grey half renders neutral
    with rawpy.imread(str(path)) as raw:
        rgb = raw.postprocess(
            use_camera_wb=True, no_auto_bright=True, output_bps=16, gamma=(1, 1),
            output_color=rawpy.ColorSpace.sRGB, user_flip=0,
        ).astype(float)  # fmt: skip
    patch = rgb[8:56, 8:40].reshape(-1, 3).mean(0)
    assert np.ptp(patch) / patch.mean() < 0.03, patch
    with pytest.raises(OutputExistsError, match="exists"):
        write_unprocessed_dng(tmp_path / "u.dng", mosaic, COLOUR, source="test")


@pytest.mark.skipif(not HERO6.exists(), reason="../shared/data (GoPro HERO6 DNG) not present")
def test_camera_colour_from_a_real_dng() -> None:
    colour = read_camera_colour(HERO6)
    assert colour.white_level == 16383
    # the HERO6 frame's as-shot white balance (rawpy camera_whitebalance 1.914, 1, 1.750)
    np.testing.assert_allclose(colour.wb_gains, (1.914, 1.0, 1.750), atol=2e-3)
    np.testing.assert_allclose(colour.cam_to_srgb.sum(axis=1), 1.0, atol=0.02)
