from __future__ import annotations

from fractions import Fraction

import numpy as np
import pytest

from rawdenoise.errors import MissingExifError, UsageError
from rawdenoise.exif import read_exif
from rawdenoise.exif_write import exif_blob
from rawdenoise.exposure import Exposure, capture_plan, parse_shutter
from rawdenoise.render import OutputMetadata, write_png, write_tiff


@pytest.mark.parametrize(
    ("text", "seconds"),
    [
        ("1/10", Fraction(1, 10)),
        ("0.1", Fraction(1, 10)),
        ("2s", Fraction(2)),
        ('30"', 30),
        ("1/8000", Fraction(1, 8000)),
        (" 2.5 s", Fraction(5, 2)),
    ],
)
def test_parse_shutter(text: str, seconds: Fraction) -> None:
    assert parse_shutter(text) == seconds


@pytest.mark.parametrize("text", ["", "fast", "-1", "0", "1/0x", "1/0", "0/0"])
def test_parse_shutter_rejects_garbage(text: str) -> None:
    with pytest.raises(UsageError):
        parse_shutter(text)


def test_seed_worked_example() -> None:
    plan = capture_plan(Exposure(100, parse_shutter("30")), Exposure(6400, parse_shutter("1/10")))
    assert plan.ratio == pytest.approx(4.6875)
    assert plan.bright.level == 3000 and plan.dark.level == 640
    [suggestion] = plan.suggestions
    assert (suggestion.iso, suggestion.seconds) == (320, 2)
    assert "also shoot ISO 320 at 2 s" in suggestion.describe()


def test_plan_asks_for_high_iso_when_dark_frame_is_low_iso() -> None:
    plan = capture_plan(Exposure(100, Fraction(30)), Exposure(320, Fraction(2)))
    [suggestion] = plan.suggestions
    assert suggestion.iso >= 3200
    assert suggestion.iso * float(suggestion.seconds) == pytest.approx(640, rel=0.1)


def test_mid_iso_dark_frame_gets_both_and_swapped_frames_are_noted() -> None:
    plan = capture_plan(Exposure(1600, Fraction(1, 100)), Exposure(100, Fraction(1)))
    assert plan.ratio < 1
    assert any("swap" in n for n in plan.notes)
    plan = capture_plan(Exposure(100, Fraction(1)), Exposure(1600, Fraction(1, 100)))
    assert sorted(s.iso <= 500 for s in plan.suggestions) == [False, True]


def test_exif_from_written_dng_any_extension_case(make_dng) -> None:
    path = make_dng("IMG_1.DNG", iso=6400, exposure="1/10")
    info = read_exif(path)
    assert (info.iso, info.exposure_time) == (6400, Fraction(1, 10))
    assert (info.make, info.model) == ("Test", "Cam")
    assert info.capture_time is not None and info.capture_time.year == 2024
    assert info.exposure_level == pytest.approx(640)


def test_iso_above_65535_survives_the_short_exif_tag(make_dng, tmp_path) -> None:
    """ISOSpeedRatings is a SHORT: EXIF 2.3 puts 65535 there and the ISO in another tag."""
    info = read_exif(make_dng("high.dng", iso=102400, exposure="1/4000"))
    assert info.iso == 102400 and info.exposure_level == pytest.approx(25.6)
    for writer in (write_png, write_tiff):
        out = tmp_path / f"out.{'png' if writer is write_png else 'tif'}"
        rgb = np.zeros((4, 4, 3), np.uint16)
        meta = OutputMetadata(iso=204800, exposure_time=Fraction(1, 8000))
        if writer is write_png:
            write_png(out, rgb, exif=exif_blob(meta))
        else:
            write_tiff(out, rgb, meta=meta)
        assert read_exif(out).iso == 204800


def test_missing_exif_field_is_named(make_dng) -> None:
    info = read_exif(make_dng(iso=None, exposure=None, capture_time=None))
    assert info.iso is None and info.exposure_time is None
    with pytest.raises(MissingExifError, match="ISO or exposure time"):
        info.require("iso", "exposure_time")


@pytest.mark.realdata
def test_exif_of_real_samples(shared_data) -> None:
    arw = read_exif(shared_data / "sony_ilce7rm3_iso3200_DSC2164.ARW")
    assert (arw.iso, arw.exposure_time, arw.make) == (3200, Fraction(1, 640), "SONY")
    gopro = read_exif(shared_data / "gopro_hero7_iso252_GOPR9231.dng")
    assert (gopro.iso, gopro.exposure_time) == (252, Fraction(1, 576))


@pytest.mark.parametrize(
    "value", [float("nan"), float("inf"), "1" + "0" * 400, "0." + "0" * 400 + "1"]
)
def test_parse_shutter_rejects_non_finite_and_out_of_range(value) -> None:
    with pytest.raises(UsageError):
        parse_shutter(value)


@pytest.mark.parametrize(
    ("iso", "seconds"),
    [(float("nan"), 1), (float("inf"), 1), (1e308, 30), (100, Fraction(10**400))],
)
def test_exposure_level_must_be_positive_and_finite(iso, seconds) -> None:
    from rawdenoise.exposure import exposure_level

    with pytest.raises(UsageError):
        exposure_level(iso, seconds)


@pytest.mark.parametrize(
    "args",
    [
        ["--bright-iso", "nan"],
        ["--bright-iso", "inf"],
        ["--dark-iso", "1e400"],
        ["--bright-iso", "1e308"],  # x 30 s: an infinite exposure level
        ["--dark-time", "0." + "0" * 400 + "1"],
    ],
)
def test_ratio_refuses_non_finite_values_instead_of_printing_them(args, capsys) -> None:
    from rawdenoise.cli import main

    base = ["ratio", "--bright-iso", "100", "--bright-time", "30"]
    base += ["--dark-iso", "6400", "--dark-time", "1/10", "--json"]
    assert main(base + args) == 2
    out, err = capsys.readouterr()
    assert out == "" and err.startswith("rawdenoise: error: ") and "Traceback" not in err
