"""Notice a RAW file that was cut short, before LibRaw decodes it into garbage.

LibRaw decodes many truncated files without an error: a Sony compressed ARW cut in half gives
a full-size mosaic whose lower half is whatever the decoder made of missing bytes (it may print
"Unexpected end of file" on file descriptor 2, or nothing). The containers say where their
image data lies, so a cut is visible without decoding:

- TIFF-based RAW (DNG, ARW, NEF, CR2, ORF, RW2, PEF, GPR, ...): every image directory (the IFD
  chain and its SubIFDs) names its strips or tiles by offset and byte count;
- ISO base media (CR3): every top-level box states its size;
- Fujifilm RAF: the header gives the offset and length of the preview and the sensor data.

:func:`missing_data` reads only those headers (a few KB). Other containers are not checked.
"""

from __future__ import annotations

import struct
from pathlib import Path
from typing import BinaryIO

#: TIFF tags holding image data as (offsets tag, byte counts tag)
_DATA_TAGS = ((273, 279), (324, 325), (513, 514))  # strips, tiles, JPEG thumbnail
_SUB_IFDS = 330
#: TIFF field types whose values are offsets or counts: SHORT, LONG, IFD
_INT_TYPES = {3: ("H", 2), 4: ("I", 4), 13: ("I", 4)}
_MAX_IFDS = 256  #: directories visited at most (a malicious file may chain them in a loop)
_MAX_VALUES = 1 << 20  #: strips or tiles read from one tag at most


class _Cut(Exception):
    """Internal: a structure reaches past the end of the file."""

    def __init__(self, end: int) -> None:
        super().__init__(end)
        self.end = end


def missing_data(path: Path) -> tuple[int, int] | None:
    """``(bytes needed, bytes present)`` when the file ends before its image data does.

    ``None`` when the file is complete or its container is not one this module knows.
    Raises ``OSError`` when the file cannot be read.
    """
    with open(path, "rb") as fh:
        size = fh.seek(0, 2)
        fh.seek(0)
        head = fh.read(16)
        try:
            if head[:4] in (b"II*\0", b"MM\0*", b"IIRO", b"IIRS", b"MMOR", b"IIU\0"):
                end = _tiff_end(fh, head, size)
            elif head[4:8] == b"ftyp":
                end = _bmff_end(fh, size)
            elif head.startswith(b"FUJIFILMCCD-RAW"):
                end = _raf_end(fh, size)
            else:
                return None
        except _Cut as cut:
            end = cut.end
    return (end, size) if end > size else None


def _read(fh: BinaryIO, offset: int, length: int, size: int) -> bytes:
    if offset < 0 or length < 0:
        raise ValueError("negative offset")
    if offset + length > size:
        raise _Cut(offset + length)
    fh.seek(offset)
    return fh.read(length)


def _tiff_end(fh: BinaryIO, head: bytes, size: int) -> int:
    """The furthest byte any image directory or its strips/tiles reach."""
    order = "<" if head[:2] == b"II" else ">"
    if len(head) < 8:
        raise _Cut(8)
    (first,) = struct.unpack(order + "I", head[4:8])
    todo, seen, end = [first], set(), 8
    while todo and len(seen) < _MAX_IFDS:
        offset = todo.pop()
        if offset == 0 or offset in seen:
            continue
        seen.add(offset)
        (count,) = struct.unpack(order + "H", _read(fh, offset, 2, size))
        table = _read(fh, offset + 2, 12 * count + 4, size)
        end = max(end, offset + 2 + 12 * count + 4)
        values: dict[int, list[int]] = {}
        for i in range(count):
            tag, kind, n = struct.unpack(order + "HHI", table[12 * i : 12 * i + 8])
            wanted = tag == _SUB_IFDS or any(tag in pair for pair in _DATA_TAGS)
            if not wanted or kind not in _INT_TYPES or not 0 < n <= _MAX_VALUES:
                continue
            code, width = _INT_TYPES[kind]
            raw = table[12 * i + 8 : 12 * i + 12]
            if n * width > 4:
                (where,) = struct.unpack(order + "I", raw)
                raw = _read(fh, where, n * width, size)
            values[tag] = list(struct.unpack(f"{order}{n}{code}", raw[: n * width]))
        (following,) = struct.unpack(order + "I", table[-4:])
        todo.append(following)
        todo.extend(values.get(_SUB_IFDS, []))
        for offsets_tag, counts_tag in _DATA_TAGS:
            offsets, counts = values.get(offsets_tag, []), values.get(counts_tag, [])
            for start, length in zip(offsets, counts, strict=False):
                if start and length:
                    end = max(end, start + length)
    return end


def _bmff_end(fh: BinaryIO, size: int) -> int:
    """The end of the last top-level box (a box of size 0 runs to the end of the file)."""
    position = 0
    while position < size:
        header = _read(fh, position, 8, size)
        (length,) = struct.unpack(">I", header[:4])
        if length == 1:
            (length,) = struct.unpack(">Q", _read(fh, position + 8, 8, size))
        elif length == 0:
            return size
        if length < 8:
            return size  # not a box structure after all: nothing to say
        position += length
    return position


def _raf_end(fh: BinaryIO, size: int) -> int:
    """The end of the preview, the CFA header or the CFA data, whichever is last."""
    header = _read(fh, 84, 24, size)
    fields = struct.unpack(">6I", header)
    return max(offset + length for offset, length in zip(fields[::2], fields[1::2], strict=True))
