"""Gather the photographs the default model is trained on, from the packages they ship in.

    python -m rawdenoise.models.training_photos packages          # what to download
    python -m rawdenoise.models.training_photos gather SRC PHOTOS # pick and convert them

``TRAINING_PHOTOS.tsv`` (beside this file) lists every photograph: file name, package,
version, path in the package, licence, size, what it shows. All come from Debian bookworm
packages and one PyPI wheel, extracted into one folder ``SRC``::

    apt-get download PACKAGE=VERSION ...        # the list `packages` prints
    for f in *.deb; do dpkg-deb -x "$f" SRC; done
    pip download scipy==1.10.1 --no-deps --only-binary :all: --python-version 3.11
    unzip scipy-*.whl 'scipy/misc/face.dat' -d SRC

``gather`` then writes ``PHOTOS`` with the files and the manifest, which
:mod:`rawdenoise.models.photo_frames` turns into training DNGs. A JPEG without rotation and an
RGB, grey or palette PNG are copied as they are; anything else is decoded and saved as PNG
(EXIF orientation applied, an opaque alpha channel dropped): the photographs of
``gcompris-qt-data`` are WebP files inside Qt resource bundles (``.rcc``), read here;
scipy's raccoon is bz2-compressed raw RGB.
"""

from __future__ import annotations

import argparse
import bz2
import shutil
import struct
import sys
import zlib
from pathlib import Path

import numpy as np

MANIFEST = Path(__file__).with_name("TRAINING_PHOTOS.tsv")
#: The manifest's columns (its first line names them).
COLUMNS = ("file", "package", "version", "path", "licence", "size", "content")


def read_manifest(path: Path | None = None) -> list[dict[str, str]]:
    """The manifest's rows (default: :data:`MANIFEST`) as dicts keyed by :data:`COLUMNS`
    (header and comments skipped)."""
    path = MANIFEST if path is None else path
    rows = []
    for line in path.read_text(encoding="utf-8").splitlines():
        fields = line.split("\t")
        if not line.strip() or line.startswith("#") or fields[0] == "file":
            continue
        if len(fields) != len(COLUMNS):
            raise ValueError(f"{path}: {len(fields)} columns, expected {len(COLUMNS)}: {line!r}")
        rows.append(dict(zip(COLUMNS, fields, strict=True)))
    return rows


def packages(rows: list[dict[str, str]]) -> list[tuple[str, str]]:
    """(package, version) of every source, in first-seen order."""
    seen: dict[str, str] = {}
    for row in rows:
        seen.setdefault(row["package"], row["version"])
    return list(seen.items())


def rcc_entry(bundle: bytes, wanted: str) -> bytes:
    """One file of a Qt resource bundle (``.rcc``, format 1-3) by its resource path.

    The bundle holds a tree of nodes (name offset, flags, then either children or a data
    offset), a names block (UTF-16 big-endian) and a data block (4-byte length, then the bytes,
    zlib-compressed with a 4-byte size prefix where flag 1 says so)."""
    if bundle[:4] != b"qres":
        raise ValueError("not a Qt resource bundle")
    version, tree, data, names = struct.unpack(">IIII", bundle[4:20])
    node_size = 14 if version == 1 else 22

    def name(offset: int) -> str:
        at = names + offset
        (length,) = struct.unpack(">H", bundle[at : at + 2])
        return bundle[at + 6 : at + 6 + 2 * length].decode("utf-16-be")

    parts = [p for p in wanted.strip("/").split("/") if p]
    node = 0
    for depth, part in enumerate(parts):
        at = tree + node * node_size
        _offset, flags = struct.unpack(">IH", bundle[at : at + 6])
        if not flags & 2:
            raise KeyError(wanted)
        count, first = struct.unpack(">II", bundle[at + 6 : at + 14])
        for child in range(first, first + count):
            (offset,) = struct.unpack(
                ">I", bundle[tree + child * node_size : tree + child * node_size + 4]
            )
            if name(offset) == part:
                node = child
                break
        else:
            raise KeyError(f"{wanted}: no {'/'.join(parts[: depth + 1])}")
    at = tree + node * node_size
    _offset, flags = struct.unpack(">IH", bundle[at : at + 6])
    (start,) = struct.unpack(">I", bundle[at + 10 : at + 14])
    (size,) = struct.unpack(">I", bundle[data + start : data + start + 4])
    payload = bundle[data + start + 4 : data + start + 4 + size]
    return zlib.decompress(payload[4:]) if flags & 1 else payload


def source_bytes(src: Path, row: dict[str, str]) -> bytes:
    """The photograph's bytes as its package has them, from the extracted folder ``src``."""
    path = row["path"]
    if " :" in path:  # a file inside a Qt resource bundle: "BUNDLE :/RESOURCE/PATH"
        bundle, resource = path.split(" :", 1)
        return rcc_entry((src / bundle.lstrip("/")).read_bytes(), resource)
    return (src / path.lstrip("/")).read_bytes()


def save(row: dict[str, str], raw: bytes, out: Path) -> Path:
    """Write one photograph to ``out`` under its manifest name (see the module docstring)."""
    import io

    from PIL import Image, ImageOps

    target = out / row["file"]
    if row["path"].endswith("face.dat"):  # scipy's raccoon: bz2 raw RGB, 1024 x 768
        rgb = np.frombuffer(bz2.decompress(raw), dtype=np.uint8).reshape(768, 1024, 3)
        Image.fromarray(rgb).save(target)
        return target
    image = Image.open(io.BytesIO(raw))
    orientation = image.getexif().get(0x0112, 1) if image.format == "JPEG" else 1
    as_is = (
        target.suffix.lower() == ".jpg" and image.format == "JPEG" and orientation in (0, 1)
    ) or (
        target.suffix.lower() == ".png"
        and image.format == "PNG"
        and image.mode in ("RGB", "L", "P")
    )
    if as_is:
        target.write_bytes(raw)
        return target
    image = ImageOps.exif_transpose(image)
    if image.mode not in ("RGB", "L"):
        image = image.convert("RGB")
    image.save(target)
    return target


def gather(src: Path, out: Path, rows: list[dict[str, str]] | None = None) -> list[Path]:
    """Write every photograph of the manifest from ``src`` into ``out``, with the manifest."""
    rows = read_manifest() if rows is None else rows
    out.mkdir(parents=True, exist_ok=True)
    written = [save(row, source_bytes(src, row), out) for row in rows]
    shutil.copyfile(MANIFEST, out / "MANIFEST.tsv")
    return written


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    sub = ap.add_subparsers(dest="command", required=True)
    sub.add_parser("packages", help="print the packages and versions to download")
    g = sub.add_parser("gather", help="pick the photographs out of the extracted packages")
    g.add_argument("src", type=Path)
    g.add_argument("out", type=Path)
    args = ap.parse_args(argv)
    rows = read_manifest()
    if args.command == "packages":
        for package, version in packages(rows):
            print(f"{package}\t{version}")
        return 0
    written = gather(args.src, args.out, rows)
    print(f"{len(written)} photographs in {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
