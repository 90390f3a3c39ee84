"""The training photographs' manifest and the tool that gathers them from their packages."""

from __future__ import annotations

import struct
import zlib
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from rawdenoise.models import training_photos as tp


def test_shipped_manifest_names_a_source_and_licence_for_every_photograph() -> None:
    rows = tp.read_manifest()
    assert len(rows) >= 100
    assert len({r["file"] for r in rows}) == len(rows)
    for row in rows:
        assert row["licence"].strip() and row["version"].strip() and row["path"].strip()
        assert Path(row["file"]).suffix in (".jpg", ".png")
    names = dict(tp.packages(rows))
    assert names["mate-backgrounds"] == "1.26.0-1" and "scipy (PyPI)" in names


def _rcc(files: dict[str, bytes], compress: set[str]) -> bytes:
    """A version-1 Qt resource bundle: root -> one folder 'res' -> files."""
    names, data = bytearray(), bytearray()

    def name(text: str) -> int:
        at = len(names)
        names.extend(struct.pack(">HI", len(text), 0) + text.encode("utf-16-be"))
        return at

    nodes = [struct.pack(">IHII", 0, 2, 1, 1), struct.pack(">IHII", name("res"), 2, len(files), 2)]
    for key, payload in files.items():
        flags = 1 if key in compress else 0
        body = struct.pack(">I", len(payload)) + zlib.compress(payload) if flags else payload
        nodes.append(struct.pack(">IHHHI", name(key), flags, 0, 0, len(data)))
        data.extend(struct.pack(">I", len(body)) + body)
    tree = b"".join(nodes)
    header = 20
    return (
        b"qres"
        + struct.pack(">IIII", 1, header, header + len(tree), header + len(tree) + len(data))
        + tree
        + bytes(data)
        + bytes(names)
    )


def test_rcc_entry_reads_plain_and_compressed_files_by_resource_path() -> None:
    bundle = _rcc({"a.webp": b"plain bytes", "b.webp": b"squeezed " * 50}, {"b.webp"})
    assert tp.rcc_entry(bundle, "/res/a.webp") == b"plain bytes"
    assert tp.rcc_entry(bundle, ":/res/b.webp".lstrip(":")) == b"squeezed " * 50
    with pytest.raises(KeyError):
        tp.rcc_entry(bundle, "/res/missing.webp")
    with pytest.raises(ValueError, match="not a Qt resource"):
        tp.rcc_entry(b"PK\x03\x04" + bytes(40), "/res/a.webp")


def test_gather_copies_plain_files_and_converts_the_rest(tmp_path: Path) -> None:
    src = tmp_path / "src"
    (src / "usr/share/x").mkdir(parents=True)
    rgb = np.random.default_rng(0).integers(0, 255, (8, 12, 3), dtype=np.uint8)
    Image.fromarray(rgb).save(src / "usr/share/x/a.png")
    Image.fromarray(np.dstack([rgb, np.full((8, 12), 255, np.uint8)])).save(
        src / "usr/share/x/b.png"
    )
    bundle = src / "usr/share/x/bundle.rcc"
    buf = src / "c.webp"
    Image.fromarray(rgb).save(buf, lossless=True)
    bundle.write_bytes(_rcc({"c.webp": buf.read_bytes()}, {"c.webp"}))
    row = dict.fromkeys(tp.COLUMNS, "x")
    rows = [
        {**row, "file": "a.png", "path": "/usr/share/x/a.png"},
        {**row, "file": "b.png", "path": "/usr/share/x/b.png"},
        {**row, "file": "c.png", "path": "/usr/share/x/bundle.rcc :/res/c.webp"},
    ]
    out = tmp_path / "photos"
    tp.gather(src, out, rows)
    assert (out / "a.png").read_bytes() == (src / "usr/share/x/a.png").read_bytes()
    for name in ("b.png", "c.png"):  # RGBA with an opaque alpha, WebP in a bundle: RGB PNG
        with Image.open(out / name) as im:
            assert im.mode == "RGB"
            np.testing.assert_array_equal(np.asarray(im), rgb)
    assert (out / "MANIFEST.tsv").read_text() == tp.MANIFEST.read_text()
