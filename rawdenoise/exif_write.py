"""EXIF written into the outputs: a minimal big-endian TIFF structure (a PNG's ``eXIf``
chunk, a JPEG's APP1) and tifffile extratags (TIFF), from an
:class:`~rawdenoise.render.OutputMetadata`."""

from __future__ import annotations

import struct
from fractions import Fraction
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from rawdenoise.render import OutputMetadata


def _rat(value: float | Fraction) -> tuple[int, int]:
    frac = value if isinstance(value, Fraction) else Fraction(float(value))
    frac = frac.limit_denominator(1_000_000)
    return frac.numerator, frac.denominator


def _exif_fields(meta: OutputMetadata, orientation: int) -> tuple[list, list]:
    """(IFD0 entries, EXIF IFD entries) as (tag, type, values)."""
    ascii_, short, long_, rational, undefined = 2, 3, 4, 5, 7
    ifd0: list[tuple[int, int, Any]] = []
    exif: list[tuple[int, int, Any]] = [(36864, undefined, b"0232")]  # ExifVersion
    if meta.make:
        ifd0.append((271, ascii_, meta.make))
    if meta.model:
        ifd0.append((272, ascii_, meta.model))
    ifd0.append((274, short, (orientation,)))
    ifd0.append((305, ascii_, meta.software))
    if meta.exposure_time is not None:
        exif.append((33434, rational, (_rat(meta.exposure_time),)))
    if meta.f_number is not None:
        exif.append((33437, rational, (_rat(meta.f_number),)))
    if meta.iso is not None:
        iso = int(round(meta.iso))
        exif.append((34855, short, (min(iso, 65535),)))  # ISOSpeedRatings (a SHORT)
        if iso > 65535:  # EXIF 2.3: the real value in RecommendedExposureIndex
            exif.append((34864, short, (2,)))  # SensitivityType: REI
            exif.append((34866, long_, (iso,)))
    if meta.capture_text:
        ifd0.append((306, ascii_, meta.capture_text))
        exif.append((36867, ascii_, meta.capture_text))
    if meta.focal_length is not None:
        exif.append((37386, rational, (_rat(meta.focal_length),)))
    return ifd0, exif


def exif_blob(meta: OutputMetadata, *, orientation: int = 1) -> bytes:
    """A big-endian TIFF-structured EXIF block (IFD0 + EXIF IFD), as PNG's ``eXIf`` holds."""
    ifd0, exif = _exif_fields(meta, orientation)
    ifd0.append((34665, 4, (0,)))  # ExifIFD pointer, patched below
    ifd0.sort(key=lambda e: e[0])
    exif.sort(key=lambda e: e[0])

    def encode(entries: list, base: int) -> tuple[bytes, bytes]:
        table = struct.pack(">H", len(entries))
        data = b""
        data_start = base + 2 + 12 * len(entries) + 4
        for tag, typ, value in entries:
            if typ == 2:
                payload = value.encode("utf-8", "replace") + b"\x00"
                count = len(payload)
            elif typ == 7:
                payload, count = bytes(value), len(value)
            elif typ == 3:
                payload, count = struct.pack(f">{len(value)}H", *value), len(value)
            elif typ == 4:
                payload, count = struct.pack(f">{len(value)}I", *value), len(value)
            else:  # rational
                flat = [v for pair in value for v in pair]
                payload, count = struct.pack(f">{len(flat)}I", *flat), len(value)
            if len(payload) <= 4:
                table += struct.pack(">HHI", tag, typ, count) + payload.ljust(4, b"\x00")
            else:
                offset = data_start + len(data)
                table += struct.pack(">HHII", tag, typ, count, offset)
                data += payload + (b"\x00" if len(payload) % 2 else b"")
        return table + struct.pack(">I", 0), data

    head = b"MM\x00\x2a" + struct.pack(">I", 8)
    table0, data0 = encode(ifd0, 8)
    exif_offset = 8 + len(table0) + len(data0)
    ifd0 = [(t, ty, (exif_offset,) if t == 34665 else v) for t, ty, v in ifd0]
    table0, data0 = encode(ifd0, 8)
    table1, data1 = encode(exif, exif_offset)
    return head + table0 + data0 + table1 + data1


def tiff_exif_tags(meta: OutputMetadata, *, orientation: int = 1) -> list[tuple]:
    """tifffile ``extratags`` with the key EXIF fields in IFD0 (TIFF/EP layout)."""
    ifd0, exif = _exif_fields(meta, orientation)
    codes = {2: "s", 3: "H", 4: "I", 5: "2I", 7: "B"}
    out = []
    for tag, typ, value in ifd0 + exif:
        if tag in (305, 306, 36864):  # tifffile writes Software; DateTime; not an IFD0 tag
            continue
        if typ == 2:
            out.append((tag, "s", 0, value, True))
        elif typ == 5:
            out.append((tag, "2I", len(value), tuple(v for p in value for v in p), True))
        else:
            out.append((tag, codes[typ], len(value), value if len(value) > 1 else value[0], True))
    return out
