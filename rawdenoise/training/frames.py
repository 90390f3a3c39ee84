"""Training frames decoded once: a RAW file -> a :class:`PackedFrame` in the network's
layout, cached on disk (``.npy`` beside a JSON of what it was decoded from) so that later runs
skip LibRaw; stale, orphaned and foreign cache entries are pruned."""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from rawdenoise.errors import InputError, OutputError, RawDenoiseError

#: 2: frames in the RGGB layout whatever the sensor's phase; 3: truncated files are refused
#: (an entry decoded from a cut-off file before that must not be reused)
CACHE_VERSION = 3


@dataclass
class PackedFrame:
    """A decoded frame: normalized packed float32 (4, H, W) and its levels."""

    path: Path
    data: np.ndarray
    black: tuple[float, ...]
    white: tuple[float, ...]
    camera: str

    @property
    def scale(self) -> tuple[float, ...]:
        """White minus black per packed channel (DN): the noise model's unit."""
        return tuple(w - b for w, b in zip(self.white, self.black, strict=True))

    @property
    def size(self) -> tuple[int, int]:
        return int(self.data.shape[1]), int(self.data.shape[2])


def decode(path: Path) -> PackedFrame:
    """Decode a RAW file into a normalized packed frame (unclipped)."""
    from rawdenoise.rawio import read_raw

    frame = read_raw(path)
    return PackedFrame(
        path=path,
        data=np.ascontiguousarray(frame.normalized(), dtype=np.float32),
        black=tuple(float(v) for v in frame.black_level),
        white=tuple(float(v) for v in frame.white_level),
        camera=frame.camera,
    )


def _cache_key(path: Path) -> str:
    st = path.stat()
    text = f"{path.resolve()}|{st.st_size}|{st.st_mtime_ns}|v{CACHE_VERSION}"
    return hashlib.sha1(text.encode()).hexdigest()[:20]


def decode_clean_cached(path: Path, cache: Path | None) -> PackedFrame:
    """A clean frame clipped to [0, 1], memory-mapped from an ``.npy`` cache when possible.

    The cache lives under ``cache_dir()/frames`` keyed by path, size and modification time, so
    a resumed or repeated pretraining run does not decode its frames again.
    """
    from rawdenoise.atomic import atomic_path, write_text_atomic

    if cache is not None:
        key = _cache_key(path)
        npy, meta = cache / f"{key}.npy", cache / f"{key}.json"
        if npy.exists() and meta.exists():
            try:
                info = json.loads(meta.read_text(encoding="utf-8"))
                data = np.load(npy, mmap_mode="r")
                return PackedFrame(
                    path, data, tuple(info["black"]), tuple(info["white"]), info["camera"]
                )
            except (OSError, ValueError, KeyError):
                pass  # a damaged cache entry is rebuilt below
    frame = decode(path)
    np.clip(frame.data, 0.0, 1.0, out=frame.data)
    if cache is not None:
        try:
            cache.mkdir(parents=True, exist_ok=True)
            with atomic_path(npy, overwrite=True) as tmp, tmp.open("wb") as fh:
                np.save(fh, frame.data)
            info = {
                "black": frame.black,
                "white": frame.white,
                "camera": frame.camera,
                "version": CACHE_VERSION,
                "source": str(path.resolve()),
            }
            write_text_atomic(meta, json.dumps(info), overwrite=True)
        except (OSError, OutputError):  # atomic_path reports a failed write as OutputError
            pass  # a read-only or full cache only costs decoding time (the frame is still used)
    return frame


def prune_frame_cache(cache: Path) -> int:
    """Delete the cache entries nothing can hit again; the number deleted.

    An entry is stale when it was written by another cache version (they have no ``version``
    before 2) or its source file is gone or changed (its key would differ). Without this,
    every frame a user ever trained on would stay cached (about 100 MB per 24 MP frame). An
    array whose ``.json`` was never written (a crash between the two writes) and a temporary
    file of the atomic writer go once they are :data:`ORPHAN_AGE` old.
    """
    try:
        listing = sorted(cache.iterdir())
    except OSError:
        return 0
    # the atomic writer's temporary files start with a dot: another run may be writing them
    temporary = [p for p in listing if p.name.startswith(".")]
    entries = [p for p in listing if not p.name.startswith(".")]
    metas = [p for p in entries if p.suffix == ".json"]
    described = {m.stem for m in metas}
    orphans = temporary + [p for p in entries if p.suffix == ".npy" and p.stem not in described]
    return sum(_prune_entry(meta) for meta in metas) + sum(_prune_orphan(n) for n in orphans)


#: an entry's .npy is written before its .json: younger orphans may be another run's writing
ORPHAN_AGE = 3600.0


def _prune_entry(meta: Path) -> bool:
    """Delete the entry described by ``meta`` if it is stale; whether it was deleted."""
    try:
        info = json.loads(meta.read_text(encoding="utf-8"))
        source = Path(info["source"]) if info.get("version") == CACHE_VERSION else None
        if source is not None and source.is_file() and _cache_key(source) == meta.stem:
            return False
    except (OSError, ValueError, KeyError, TypeError, AttributeError):
        pass  # unreadable: stale too
    try:
        for stale in (meta.with_suffix(".npy"), meta):
            stale.unlink(missing_ok=True)
    except OSError:
        return False  # in use (Windows) or read-only: left for next time
    return True


def _prune_orphan(npy: Path) -> bool:
    """Delete an array without its ``.json`` (or a temporary file) once it is
    :data:`ORPHAN_AGE` old."""
    import time

    try:
        if time.time() - npy.stat().st_mtime < ORPHAN_AGE:
            return False
        npy.unlink()
    except OSError:
        return False  # gone meanwhile, in use or read-only: left for next time
    return True


def list_raw_inputs(inputs: Sequence[Path]) -> list[Path]:
    """RAW files named directly or found (not recursively) in the given folders, sorted."""
    from rawdenoise.rawio import is_raw_path

    files: list[Path] = []
    for item in inputs:
        if item.is_dir():
            try:
                files.extend(sorted(p for p in item.iterdir() if p.is_file() and is_raw_path(p)))
            except OSError as exc:  # an unreadable folder: one line, not a crash
                reason = (exc.strerror or type(exc).__name__).lower()
                raise InputError(f"{item}: cannot read the folder ({reason})") from exc
        elif item.is_file():
            files.append(item)
        else:
            raise InputError(f"{item}: no such file or folder")
    seen: set[Path] = set()
    unique = []
    for f in files:
        key = Path(os.path.realpath(f))  # never raises on a link loop (Path.resolve does)
        if key not in seen:
            seen.add(key)
            unique.append(f)
    if not unique:
        raise InputError(
            f"no RAW files in {', '.join(str(i) for i in inputs)}",
            hint="give a folder of clean (low-ISO, well-exposed) RAW files",
        )
    return unique


def load_clean_frames(
    paths: Sequence[Path],
    *,
    cache: Path | None,
    warn: Callable[[str], None] = lambda _msg: None,
) -> list[PackedFrame]:
    """Decode every path (skipping, with a warning, those that fail); at least one must work."""
    if cache is not None:
        prune_frame_cache(cache)
    frames = []
    for path in paths:
        try:
            frames.append(decode_clean_cached(path, cache))
        except RawDenoiseError as exc:
            warn(f"skipping {path.name}: {exc.message}")
    if not frames:
        raise InputError("none of the clean RAW files could be decoded")
    return frames
