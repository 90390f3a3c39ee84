from __future__ import annotations

import numpy as np
import pytest
from _unsupported_dngs import write_linear_dng, write_xtrans_dng

from rawdenoise.bayer import cfa_from_pattern, normalize, pack_bayer, pattern_from_cfa, unpack_bayer
from rawdenoise.errors import InputError, OutputExistsError, UnsupportedSensorError
from rawdenoise.rawio import read_raw

PHASES = ["RGGB", "BGGR", "GRBG", "GBRG"]


@pytest.mark.parametrize("cfa", PHASES)
@pytest.mark.parametrize("shape", [(8, 10), (9, 10), (8, 11), (9, 11), (2, 2), (3, 3)])
def test_pack_unpack_round_trip_is_bit_exact(cfa: str, shape: tuple[int, int]) -> None:
    rng = np.random.default_rng(1)
    mosaic = rng.integers(0, 65536, size=shape, dtype=np.uint16)
    pattern = pattern_from_cfa(cfa)
    packed = pack_bayer(mosaic, pattern)
    assert packed.shape == (4, (shape[0] + 1) // 2, (shape[1] + 1) // 2)
    back = unpack_bayer(packed, pattern, shape)
    assert back.dtype == np.uint16
    np.testing.assert_array_equal(back, mosaic)


@pytest.mark.parametrize(
    ("cfa", "pattern", "r_at", "b_at"),
    [
        ("RGGB", [[0, 1], [3, 2]], (0, 0), (1, 1)),
        ("BGGR", [[2, 3], [1, 0]], (1, 1), (0, 0)),
        ("GRBG", [[1, 0], [2, 3]], (0, 1), (1, 0)),
        ("GBRG", [[3, 2], [0, 1]], (1, 0), (0, 1)),
    ],
)
def test_channels_are_r_g1_b_g2_for_every_phase(cfa, pattern, r_at, b_at) -> None:
    assert pattern_from_cfa(cfa).tolist() == pattern
    assert cfa_from_pattern(np.array(pattern)) == cfa
    mosaic = np.zeros((4, 4), dtype=np.uint16)
    mosaic[r_at[0] :: 2, r_at[1] :: 2] = 100
    mosaic[b_at[0] :: 2, b_at[1] :: 2] = 300
    packed = pack_bayer(mosaic, np.array(pattern))
    assert (packed[0] == 100).all() and (packed[2] == 300).all()
    assert (packed[1] == 0).all() and (packed[3] == 0).all()


def test_odd_edge_is_padded_with_the_same_cfa_phase() -> None:
    mosaic = np.arange(5 * 4, dtype=np.uint16).reshape(5, 4)
    packed = pack_bayer(mosaic, pattern_from_cfa("RGGB"))
    # the padded 6th row copies row 4 (same phase as the missing row 5... i.e. rows 3)
    np.testing.assert_array_equal(packed[3][-1], mosaic[3, 0::2])


def test_normalize_uses_per_channel_levels() -> None:
    packed = np.stack([np.full((2, 2), v, np.uint16) for v in (110, 220, 330, 440)])
    black = np.array([10, 20, 30, 40])
    white = np.array([210, 420, 630, 840])
    np.testing.assert_allclose(normalize(packed, black, white), 0.5)


@pytest.mark.parametrize("cfa", PHASES)
@pytest.mark.parametrize("size", [(64, 96), (63, 95)])
def test_read_raw_of_written_dng(make_dng, cfa: str, size: tuple[int, int]) -> None:
    path = make_dng(f"{cfa}.dng", h=size[0], w=size[1], cfa=cfa, black=[60, 62, 64, 66], white=1000)
    frame = read_raw(path)
    assert frame.cfa == cfa
    assert frame.shape == size
    assert frame.make == "Test" and frame.model == "Cam"
    # DNG BlackLevel is in CFA repeat order; RawFrame keeps it in R, G1, B, G2 order
    expected = {pos: v for pos, v in zip(cfa_positions(cfa), [60, 62, 64, 66], strict=True)}
    assert frame.black_level.tolist() == [expected[c] for c in range(4)]
    assert frame.white_level.tolist() == [1000] * 4
    np.testing.assert_array_equal(frame.unpack(frame.packed()), frame.mosaic)


def cfa_positions(cfa: str) -> list[int]:
    """Colour index (0 R, 1 G1, 2 B, 3 G2) at each row-major 2x2 position."""
    return pattern_from_cfa(cfa).reshape(-1).tolist()


def test_white_level_falls_back_when_per_channel_missing(make_dng) -> None:
    frame = read_raw(make_dng(white=4095))
    assert frame.white_level.tolist() == [4095] * 4


def test_missing_file_truncated_and_renamed_jpeg(tmp_path, make_dng) -> None:
    with pytest.raises(InputError, match="no such file"):
        read_raw(tmp_path / "nope.dng")
    jpeg = tmp_path / "photo.CR2"
    import imageio.v3 as iio

    iio.imwrite(jpeg, np.zeros((16, 16, 3), np.uint8), extension=".jpg")
    with pytest.raises(InputError, match="not a RAW file"):
        read_raw(jpeg)
    good = make_dng(h=256, w=256)
    truncated = tmp_path / "cut.dng"
    truncated.write_bytes(good.read_bytes()[:2000])
    with pytest.raises(InputError):
        read_raw(truncated)


def test_linear_dng_is_refused_naming_the_sensor(tmp_path) -> None:
    with pytest.raises(UnsupportedSensorError, match="linear"):
        read_raw(write_linear_dng(tmp_path / "linear.dng"))


def test_xtrans_dng_is_refused_naming_the_sensor(tmp_path) -> None:
    with pytest.raises(UnsupportedSensorError, match="X-Trans"):
        read_raw(write_xtrans_dng(tmp_path / "xtrans.dng"))


@pytest.mark.realdata
def test_real_samples_decode(shared_data) -> None:
    arw = read_raw(shared_data / "sony_ilce7rm3_iso3200_DSC2164.ARW")
    assert arw.cfa == "RGGB" and arw.shape == (3464, 5184)
    assert arw.black_level.tolist() == [512] * 4
    assert arw.white_level.tolist() == [15360] * 4  # camera white, not the 14-bit maximum
    assert (arw.make, arw.model) == ("SONY", "ILCE-7RM3")
    gopro = read_raw(shared_data / "gopro_hero6_iso100_GOPR0024.dng")
    assert gopro.shape == (3000, 4000) and gopro.white_level.tolist() == [16383] * 4
    with pytest.raises(InputError, match=r"GoPro GPR file .* LibRaw cannot decode") as err:
        read_raw(shared_data / "gopro_hero6_original_GOPR0024.GPR")
    assert "gpr_tools -i gopro_hero6_original_GOPR0024.GPR -o" in (err.value.hint or "")


@pytest.mark.parametrize("name", ["GOPR0001.GPR", "gopr0001.gpr"])
def test_an_undecodable_gpr_names_gopros_converter(tmp_path, name) -> None:
    """LibRaw cannot decode GoPro's VC-5 compression: the error says so and what converts it,
    instead of asking whether the file is a camera RAW (it is one)."""
    path = tmp_path / name
    path.write_bytes(b"II*\x00" + bytes(200))
    with pytest.raises(InputError, match="GoPro GPR file") as err:
        read_raw(path)
    assert "camera RAW" not in str(err.value) + (err.value.hint or "")
    assert f"gpr_tools -i {name} -o {path.stem}.dng" in (err.value.hint or "")
    other = path.with_name("other.dng")
    other.write_bytes(b"II*\x00" + bytes(200))
    with pytest.raises(InputError, match="not a RAW file LibRaw can decode"):
        read_raw(other)


def test_atomic_write_has_normal_permissions_and_never_overwrites(tmp_path) -> None:
    import os
    import stat

    from rawdenoise.atomic import write_text_atomic

    target = tmp_path / "out.txt"
    write_text_atomic(target, "one")
    umask = os.umask(0)
    os.umask(umask)
    assert stat.S_IMODE(target.stat().st_mode) == 0o666 & ~umask
    with pytest.raises(OutputExistsError, match="exists"):
        write_text_atomic(target, "two")
    write_text_atomic(target, "three", overwrite=True)
    assert target.read_text() == "three"
    assert [p.name for p in tmp_path.iterdir()] == ["out.txt"]  # no temporary left behind


@pytest.mark.parametrize("cfa", PHASES)
@pytest.mark.parametrize("size", [(64, 96), (63, 95)])
def test_the_network_sees_every_sensor_phase_as_rggb(make_dng, cfa: str, size) -> None:
    """Whatever the sensor's phase, the network's input has R at the top left of each block, G1
    to its right, G2 below it (a network trained on one arrangement sees no other), and the
    layout goes back to the exact mosaic."""
    h, w = size
    ys, xs = np.mgrid[0:h, 0:w]
    where = (ys * 128 + xs + 64).astype(np.uint16)  # a pixel's value says where it is
    frame = read_raw(make_dng(f"{cfa}.dng", h=h, w=w, cfa=cfa, black=0, white=65535, mosaic=where))
    x = frame.normalized() * 65535.0 - 64.0
    y, col = np.rint(x) // 128, np.rint(x) % 128
    colour = np.where(frame.pattern == 3, 1, frame.pattern)
    for c, (dy, dx) in enumerate([(0, 0), (0, 1), (1, 1), (1, 0)]):  # R, G1, B, G2
        inner = (slice(1, -1), slice(1, -1))  # away from the reflected and padded edges
        assert np.all(y[c][inner] - y[0][inner] == dy), c
        assert np.all(col[c][inner] - col[0][inner] == dx), c
        assert np.all(
            colour[y[c][inner].astype(int) % 2, col[c][inner].astype(int) % 2] == [0, 1, 2, 1][c]
        )
    np.testing.assert_array_equal(
        frame.from_normalized_layout(frame.normalized()) * 65535.0, frame.mosaic.astype(np.float32)
    )


def test_what_python_prints_while_another_thread_silences_libraw_still_arrives() -> None:
    """``process`` decodes and renders in worker threads inside ``silenced_c_stderr`` (fd 2
    pointed elsewhere) while the main thread reports progress and errors on stderr."""
    import subprocess
    import sys

    code = (
        "import sys, threading, time\n"
        "from rawdenoise.rawio import silenced_c_stderr\n"
        "inside = threading.Event()\n"
        "def quiet():\n"
        "    with silenced_c_stderr():\n"
        "        inside.set(); time.sleep(0.5)\n"
        "t = threading.Thread(target=quiet); t.start(); inside.wait()\n"
        "print('rawdenoise: error: while LibRaw was silenced', file=sys.stderr, flush=True)\n"
        "t.join()\n"
        "print('after', file=sys.stderr)\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stderr.splitlines() == ["rawdenoise: error: while LibRaw was silenced", "after"]
