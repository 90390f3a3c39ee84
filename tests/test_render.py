"""Writers: 16/8-bit PNG (own encoder) and TIFF with EXIF; CFA DNG that rawpy reopens unchanged."""

from __future__ import annotations

import struct
import zlib
from fractions import Fraction
from pathlib import Path

import numpy as np
import pytest
import rawpy
import tifffile
from PIL import Image

from rawdenoise.denoised_dng import write_denoised_dng
from rawdenoise.exif import read_exif
from rawdenoise.exif_write import exif_blob
from rawdenoise.rawio import read_raw
from rawdenoise.render import OutputMetadata, read_metadata, render_rgb, write_png, write_tiff


def decode_png(path: Path) -> tuple[np.ndarray, dict[bytes, bytes]]:
    """A strict little PNG decoder (RGB, 8/16 bit, filters 0-4) checking every CRC."""
    data = path.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    pos, chunks, idat = 8, {}, b""
    while pos < len(data):
        (length,) = struct.unpack(">I", data[pos : pos + 4])
        kind = data[pos + 4 : pos + 8]
        body = data[pos + 8 : pos + 8 + length]
        (crc,) = struct.unpack(">I", data[pos + 8 + length : pos + 12 + length])
        assert crc == zlib.crc32(kind + body) & 0xFFFFFFFF, kind
        if kind == b"IDAT":
            idat += body
        else:
            chunks[kind] = body
        pos += 12 + length
    width, height, depth, color = struct.unpack(">IIBB", chunks[b"IHDR"][:10])
    assert color == 2 and depth in (8, 16)
    bpp = 3 * depth // 8
    raw = np.frombuffer(zlib.decompress(idat), np.uint8).reshape(height, 1 + width * bpp)
    out = np.zeros((height, width * bpp), np.int64)
    for y in range(height):
        kind, line = raw[y, 0], raw[y, 1:].astype(np.int64)
        prev = out[y - 1] if y else np.zeros(width * bpp, np.int64)
        row = np.zeros(width * bpp, np.int64)
        for x in range(width * bpp):
            a = row[x - bpp] if x >= bpp else 0
            b = prev[x]
            c = prev[x - bpp] if x >= bpp else 0
            pred = {0: 0, 1: a, 2: b, 3: (a + b) // 2}.get(int(kind))
            if pred is None:  # Paeth
                p = a + b - c
                pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
                pred = a if pa <= pb and pa <= pc else (b if pb <= pc else c)
            row[x] = (line[x] + pred) & 0xFF
        out[y] = row
    img = out.astype(np.uint8)
    dtype = ">u2" if depth == 16 else np.uint8
    return img.view(dtype).reshape(height, width, 3).astype(
        np.uint16 if depth == 16 else np.uint8
    ), chunks


META = OutputMetadata(
    make="Test",
    model="Cam",
    iso=3200,
    exposure_time=Fraction(1, 50),
    f_number=2.8,
    focal_length=35.0,
    capture_time=None,
)


@pytest.mark.parametrize("dtype", [np.uint16, np.uint8])
def test_png_round_trip_exact_with_exif(tmp_path, dtype) -> None:
    rng = np.random.default_rng(0)
    rgb = rng.integers(0, np.iinfo(dtype).max + 1, size=(21, 13, 3)).astype(dtype)
    path = tmp_path / "x.png"
    write_png(path, rgb, exif=exif_blob(META), rows=4)  # several deflate parts
    back, chunks = decode_png(path)
    np.testing.assert_array_equal(back, rgb)
    assert b"eXIf" in chunks
    info = read_exif(path)
    assert (info.make, info.model, info.iso) == ("Test", "Cam", 3200)
    assert info.exposure_time == Fraction(1, 50)
    with Image.open(path) as im:  # an independent reader accepts it
        im.verify()
    with Image.open(path) as im:
        exif = im.getexif()
        assert exif[271] == "Test" and exif[274] == 1


def test_tiff_16_and_8_bit_with_exif(tmp_path) -> None:
    rgb = np.random.default_rng(1).integers(0, 65536, size=(10, 12, 3)).astype(np.uint16)
    for arr in (rgb, (rgb >> 8).astype(np.uint8)):
        path = tmp_path / f"x{arr.dtype.itemsize}.tif"
        write_tiff(path, arr, meta=META)
        np.testing.assert_array_equal(tifffile.imread(path), arr)
        info = read_exif(path)
        assert (info.iso, info.exposure_time, info.make) == (3200, Fraction(1, 50), "Test")


@pytest.mark.parametrize("cfa", ["RGGB", "BGGR", "GRBG", "GBRG"])
def test_dng_reopens_with_same_cfa_levels_size(tmp_path, make_dng, cfa) -> None:
    src = make_dng(f"s_{cfa}.dng", h=65, w=97, cfa=cfa, black=[60, 64, 66, 70], white=4000)
    frame = read_raw(src)
    denoised = np.clip(frame.mosaic.astype(np.int32) + 3, 0, 4000).astype(np.uint16)
    out = tmp_path / "out.dng"
    write_denoised_dng(out, frame, denoised, meta=read_metadata(src, frame))
    again = read_raw(out)
    assert again.cfa == frame.cfa == cfa and again.shape == frame.shape == (65, 97)
    np.testing.assert_array_equal(again.black_level, frame.black_level)
    np.testing.assert_array_equal(again.white_level, frame.white_level)
    np.testing.assert_array_equal(again.mosaic, denoised)
    with rawpy.imread(str(out)) as a, rawpy.imread(str(src)) as b:
        assert a.raw_pattern.tolist() == b.raw_pattern.tolist()
        assert a.black_level_per_channel == b.black_level_per_channel
        assert a.raw_image_visible.shape == b.raw_image_visible.shape
        np.testing.assert_allclose(a.camera_whitebalance[:3], b.camera_whitebalance[:3], 1e-3)
    ex = read_exif(out)
    assert (ex.iso, ex.exposure_time, ex.make, ex.model) == (100, Fraction(1, 100), "Test", "Cam")
    assert ex.capture_time is not None


def test_dng_from_a_real_dng_keeps_its_calibration(shared_data, tmp_path) -> None:
    src = shared_data / "gopro_hero7_iso252_GOPR9231.dng"
    frame = read_raw(src)
    out = tmp_path / "gopro.dng"
    write_denoised_dng(out, frame, frame.mosaic, meta=read_metadata(src, frame))
    with tifffile.TiffFile(src) as a, tifffile.TiffFile(out) as b:
        ta, tb = a.pages[0].tags, b.pages[0].tags
        for name in (
            "ColorMatrix1",
            "ColorMatrix2",
            "CalibrationIlluminant1",
            "CalibrationIlluminant2",
            "AsShotNeutral",
            "BaselineExposure",
            "DefaultCropSize",
            "OpcodeList2",
            "Orientation",
            "UniqueCameraModel",
        ):
            va, vb = ta[name].value, tb[name].value
            if name in ("ColorMatrix1", "AsShotNeutral"):  # re-written at 1/10000 precision
                ra = np.array(va, float).reshape(-1, 2)
                rb = np.array(vb, float).reshape(-1, 2)
                np.testing.assert_allclose(ra[:, 0] / ra[:, 1], rb[:, 0] / rb[:, 1], atol=1e-4)
            else:
                assert va == vb, name
        assert "NoiseProfile" in ta and "NoiseProfile" not in tb  # stale after denoising
    again = read_raw(out)
    assert again.flip == frame.flip and again.shape == frame.shape
    np.testing.assert_array_equal(again.mosaic[::97, ::89], frame.mosaic[::97, ::89])


def test_render_uses_the_denoised_mosaic(make_dng) -> None:
    src = make_dng("r.dng", h=64, w=96)
    frame = read_raw(src)
    flat = np.full_like(frame.mosaic, 500)
    a = render_rgb(src, frame.mosaic)
    b = render_rgb(src, flat)
    assert a.dtype == np.uint16 and a.shape == (64, 96, 3)
    assert b[8:-8, 8:-8].std(axis=(0, 1)).max() < a.std(axis=(0, 1)).min() / 10
    assert render_rgb(src, flat, bit_depth=8).dtype == np.uint8
