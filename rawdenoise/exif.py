"""The exifread boundary: ISO, exposure time, make, model and capture time of a RAW file.

Values are parsed with :class:`fractions.Fraction` (LED used ``eval``), tags are looked up in
both the EXIF sub-IFD and IFD0 (DNG files often keep them in IFD0) whatever the extension's
case, and LibRaw's own metadata fills a gap exifread leaves (e.g. formats it cannot parse).
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from fractions import Fraction
from pathlib import Path
from typing import Any

from rawdenoise.errors import InputError, MissingExifError

_ISO_TAGS = (
    "EXIF ISOSpeedRatings",
    "EXIF PhotographicSensitivity",
    "EXIF RecommendedExposureIndex",
    "Image ISOSpeedRatings",
    "Image PhotographicSensitivity",
    "MakerNote ISO",
)
#: ISOSpeedRatings is a SHORT: from ISO 65535 up, EXIF 2.3 writers store 65535 there and the
#: real value in one of these LONG tags (Sony's ISO 102400-409600, for example)
ISO_SATURATED = 65535
_HIGH_ISO_TAGS = tuple(
    f"{ifd} {name}"
    for name in ("RecommendedExposureIndex", "ISOSpeed", "Tag 0x8831")  # 0x8831: SOS
    for ifd in ("EXIF", "Image")
)
_TIME_TAGS = ("EXIF ExposureTime", "Image ExposureTime")
_SHUTTER_APEX_TAGS = ("EXIF ShutterSpeedValue", "Image ShutterSpeedValue")
_DATE_TAGS = (
    "EXIF DateTimeOriginal",
    "Image DateTimeOriginal",
    "EXIF DateTimeDigitized",
    "Image DateTime",
)
_SUBSEC_TAGS = ("EXIF SubSecTimeOriginal", "EXIF SubSecTime")

FIELDS = ("iso", "exposure_time", "make", "model", "capture_time")


@dataclass(frozen=True)
class ExifInfo:
    """What rawdenoise needs from a file's metadata; ``None`` where the file does not say."""

    path: Path
    iso: float | None = None
    exposure_time: Fraction | None = None  #: seconds
    make: str = ""
    model: str = ""
    capture_time: datetime | None = None

    @property
    def camera(self) -> str:
        return f"{self.make} {self.model}".strip()

    @property
    def exposure_level(self) -> float:
        """ISO x seconds (LED's "exposure level"); raises when either is unknown."""
        self.require("iso", "exposure_time")
        assert self.iso is not None and self.exposure_time is not None
        return float(self.iso) * float(self.exposure_time)

    def require(self, *names: str) -> ExifInfo:
        """Raise :class:`MissingExifError` naming the first missing field among ``names``."""
        labels = {
            "iso": "ISO",
            "exposure_time": "exposure time",
            "make": "camera make",
            "model": "camera model",
            "capture_time": "capture time",
        }
        missing = [n for n in names if getattr(self, n) in (None, "")]
        if missing:
            raise MissingExifError(
                f"{self.path.name}: EXIF has no {' or '.join(labels[m] for m in missing)}",
                hint="give the value on the command line (e.g. --ratio, --dark-iso/--dark-time)",
            )
        return self


def _first(tags: dict[str, Any], names: Iterable[str]) -> Any:
    for name in names:
        if name in tags:
            return tags[name]
    return None


def _tag_number(tag: Any) -> Fraction | None:
    """First value of an exifread tag as a Fraction (handles Ratio, int, list)."""
    if tag is None:
        return None
    values = getattr(tag, "values", tag)
    if isinstance(values, (list, tuple)):
        if not values:
            return None
        values = values[0]
    try:
        if hasattr(values, "numerator") and hasattr(values, "denominator"):
            if values.denominator == 0:
                return None
            return Fraction(int(values.numerator), int(values.denominator))
        return Fraction(str(values).strip())
    except (ValueError, ZeroDivisionError, TypeError):
        return None


def _tag_text(tag: Any) -> str:
    if tag is None:
        return ""
    return str(tag.printable if hasattr(tag, "printable") else tag).strip().strip("\x00").strip()


def _parse_datetime(text: str, subsec: str = "") -> datetime | None:
    text = text.strip()
    for fmt in ("%Y:%m:%d %H:%M:%S", "%Y-%m-%d %H:%M:%S", "%Y:%m:%d %H:%M:%S%z"):
        try:
            value = datetime.strptime(text[:19] if "%z" not in fmt else text, fmt)
        except ValueError:
            continue
        if subsec.strip().isdigit():
            value = value.replace(microsecond=int(subsec.strip()[:6].ljust(6, "0")))
        if value.year <= 1970:
            return None
        return value
    return None


def read_exif(path: str | Path) -> ExifInfo:
    """Read metadata; missing fields are ``None``/``""`` (use :meth:`ExifInfo.require`)."""
    import exifread

    path = Path(path)
    if not path.is_file():
        raise InputError(f"{path}: no such file")
    logging.getLogger("exifread").setLevel(logging.CRITICAL)
    try:
        with path.open("rb") as fh:
            tags = exifread.process_file(fh, details=False)
    except Exception:  # exifread raises many things on odd files
        tags = {}
    tags = dict(tags or {})

    iso_raw = _tag_number(_first(tags, _ISO_TAGS))
    if iso_raw is not None and iso_raw >= ISO_SATURATED:
        higher = [_tag_number(tags.get(name)) for name in _HIGH_ISO_TAGS]
        iso_raw = max([v for v in higher if v is not None] + [iso_raw])
    iso = float(iso_raw) if iso_raw is not None and iso_raw > 0 else None
    exposure = _tag_number(_first(tags, _TIME_TAGS))
    if exposure is None or exposure <= 0:
        apex = _tag_number(_first(tags, _SHUTTER_APEX_TAGS))
        # APEX 0 is exactly one second: test against None, not truthiness
        exposure = (
            Fraction(2 ** (-float(apex))).limit_denominator(100000) if apex is not None else None
        )
    date_text = _tag_text(_first(tags, _DATE_TAGS))
    capture = (
        _parse_datetime(date_text, _tag_text(_first(tags, _SUBSEC_TAGS))) if date_text else None
    )
    make = _tag_text(tags.get("Image Make"))
    model = _tag_text(tags.get("Image Model"))

    if iso is None or iso >= ISO_SATURATED or exposure is None or capture is None:
        iso, exposure, capture = _fill_from_libraw(path, iso, exposure, capture)
    return ExifInfo(
        path=path, iso=iso, exposure_time=exposure, make=make, model=model, capture_time=capture
    )


def _fill_from_libraw(
    path: Path, iso: float | None, exposure: Fraction | None, capture: datetime | None
) -> tuple[float | None, Fraction | None, datetime | None]:
    """LibRaw parses maker-specific metadata exifread may miss (CR3, some MakerNotes)."""
    try:
        import rawpy

        from rawdenoise.libraw_stderr import silenced_c_stderr

        with silenced_c_stderr(), rawpy.imread(str(path)) as raw:
            other = raw.other
    except Exception:  # unreadable files are reported by read_raw
        return iso, exposure, capture
    if other.iso_speed and other.iso_speed > 0 and (iso is None or other.iso_speed > iso):
        iso = float(other.iso_speed)  # missing, or saturated at 65535 in the EXIF SHORT
    if exposure is None and other.shutter_speed and other.shutter_speed > 0:
        exposure = Fraction(float(other.shutter_speed)).limit_denominator(100000)
    if capture is None and other.timestamp is not None and other.timestamp.year > 1970:
        capture = other.timestamp
    return iso, exposure, capture
