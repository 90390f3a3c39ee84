"""Training data kept packed in memory: clean RAW frames (pretrain) and noisy/clean pairs
(finetune), with random crops, flips and transposes that keep the Bayer geometry.

Frames are held in the network's layout (RGGB geometry, :meth:`RawFrame.normalized`). LED (like
SID) flips and transposes the *packed* four-channel array, which mirrors each 2x2 block too:
after a horizontal flip, G1 sits half a packed pixel to the *left* of R instead of to its right.
Trained on both arrangements, a network hedges between them, which blurs fine detail. Here the
flips act on the mosaic, and the crop moves by one RAW pixel where needed so that the block
stays R G1 / G2 B (Liu et al., "Learning Raw Image Denoising with Bayer Pattern Unification and
Bayer Preserving Augmentation", CVPRW 2019).

Every draw takes a :class:`torch.Generator`, so what a batch holds depends only on the seed and
the iteration (see :mod:`rawdenoise.training.seeding`). Crops larger than the smallest frame are
clamped to it (LED's dataset crashes there).
"""

from __future__ import annotations

import hashlib
import json
import math
import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from rawdenoise.errors import InputError, OutputError, RawDenoiseError

#: 2: frames in the RGGB layout whatever the sensor's phase; 3: truncated files are refused
#: (an entry decoded from a cut-off file before that must not be reused)
CACHE_VERSION = 3


# --------------------------------------------------------------------------------------------
# Decoding (once) and the frame cache
# --------------------------------------------------------------------------------------------


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


# --------------------------------------------------------------------------------------------
# Crops and augmentation
# --------------------------------------------------------------------------------------------


def effective_crop(sizes: Sequence[tuple[int, int]], crop: int, multiple_of: int = 1) -> int:
    """``crop`` clamped to the smallest frame, rounded down to ``multiple_of`` where possible."""
    limit = min(min(h, w) for h, w in sizes)
    c = min(int(crop), limit)
    if c >= multiple_of > 1:
        c -= c % multiple_of
    if c < 1:
        raise InputError(f"frames too small to crop ({limit} packed pixels)")
    return c


@dataclass(frozen=True)
class CropDraw:
    index: int
    top: int
    left: int
    hflip: bool
    vflip: bool
    transpose: bool


def draw_crops(
    sizes: Sequence[tuple[int, int]],
    n: int,
    crop: int,
    generator: torch.Generator,
    *,
    weights: Sequence[float] | None = None,
    augment: bool = True,
) -> list[CropDraw]:
    """``n`` random crop windows (frame index, position, flips, transpose)."""
    if weights is None:
        idx = torch.randint(len(sizes), (n,), generator=generator).tolist()
    else:
        w = torch.as_tensor(weights, dtype=torch.float64)
        idx = torch.multinomial(w, n, replacement=True, generator=generator).tolist()
    u = torch.rand((n, 2), generator=generator, dtype=torch.float64)
    flips = torch.rand((n, 3), generator=generator) < 0.5
    out = []
    for k, i in enumerate(idx):
        h, w_ = sizes[i]
        top = min(int(u[k, 0] * (h - crop + 1)), h - crop)
        left = min(int(u[k, 1] * (w_ - crop + 1)), w_ - crop)
        f = flips[k].tolist() if augment else [False, False, False]
        out.append(CropDraw(i, top, left, f[0], f[1], f[2]))
    return out


#: How crops are flipped and transposed: on the mosaic keeping the Bayer block (``bayer``),
#: on the packed array as LED does (``packed``: for comparisons, and the bundled default's
#: recipe), or not at all (``none``).
AUGMENT = ("bayer", "packed", "none")


def apply_crop(
    data: np.ndarray | torch.Tensor,
    d: CropDraw,
    crop: int,
    *,
    packed: bool = False,
    out: np.ndarray | None = None,
) -> torch.Tensor:
    """The crop of a packed RGGB-layout (4, H, W) array with the draw's flips and transpose.

    The flips and the transpose act on the Bayer mosaic, and the window then moves by one RAW
    pixel where needed, so the result keeps the R G1 / G2 B block (module docstring). A flip
    that would need a pixel the frame does not have (a crop as large as the frame) is left out.
    ``packed``: flip the packed array instead (LED's augmentation). ``out``: a float32
    (4, crop, crop) array to write the crop into (returned as a tensor sharing it).
    """
    h, w = int(data.shape[1]), int(data.shape[2])
    vflip, hflip = d.vflip and (packed or h > crop), d.hflip and (packed or w > crop)
    if out is None:
        out = np.empty((int(data.shape[0]), crop, crop), dtype=np.float32)
    if packed or not (vflip or hflip or d.transpose):
        # flips and transpose as strided views: one copy from the frame (often a memmap)
        view = np.asarray(data[:, d.top : d.top + crop, d.left : d.left + crop])
        view = view[:, ::-1] if vflip else view
        view = view[:, :, ::-1] if hflip else view
        np.copyto(out, view.transpose(0, 2, 1) if d.transpose else view, casting="same_kind")
        return torch.from_numpy(out)
    # One packed pixel of margin below and to the right where the frame has it. The mosaic's
    # flips and transpose are strided views of each packed channel (no unpack/repack): under
    # a flip that keeps the block, a channel on the block's first row (column) takes the
    # window's rows 1..crop reversed, one on its second row rows 0..crop-1 reversed; the
    # transpose swaps G1 and G2.
    top, left = min(d.top, max(h - crop - 1, 0)), min(d.left, max(w - crop - 1, 0))
    window = np.asarray(data[:, top : top + crop + 1, left : left + crop + 1])
    for channel in range(4):
        source = _TRANSPOSED[channel] if d.transpose else channel
        row, col = _PARITY[source]
        view = window[source, _span(crop, row, vflip), _span(crop, col, hflip)]
        np.copyto(out[channel], view.T if d.transpose else view, casting="same_kind")
    return torch.from_numpy(out)


#: Packed channel (R, G1, B, G2) -> its (row, column) in the RGGB block.
_PARITY = ((0, 0), (0, 1), (1, 1), (1, 0))
#: The channel each one takes under a transpose of the mosaic (G1 <-> G2).
_TRANSPOSED = (0, 3, 2, 1)


def _span(crop: int, parity: int, flip: bool) -> slice:
    """A channel's window rows (or columns) for a crop, flipped so the block is kept."""
    if not flip:
        return slice(0, crop)
    return slice(crop - parity, None if parity else 0, -1)


# --------------------------------------------------------------------------------------------
# Pretraining: clean frames, integer ratios
# --------------------------------------------------------------------------------------------


#: How ``CleanCrops`` picks the frame of each crop.
SAMPLE_BY = ("pixel", "frame")
#: How ``CleanCrops`` draws the ratio of each crop: LED's integers uniform over the range, or
#: log-uniform (every factor of two of the range equally often: ratio 1-300 spends as many
#: crops on 1-2 as on 150-300), or ``mixed``: each crop one or the other with even odds, so a
#: range such as 1-300 covers the low ratios without starving the dark ones (43% of crops at
#: ratio 100 or more, against 19% with ``log``).
RATIO_SAMPLING = ("uniform", "log", "mixed")


@dataclass(frozen=True)
class ColourJitter:
    """Random per-crop exposure and white balance of the clean crops (``--augment-colour``).

    Each crop is multiplied by an exposure factor and its red and blue planes by their own
    gains (the greens by none), all log-uniform, then clipped at 1 (highlights that clip are
    real photographs too). Trained on a few scenes without it, a network learns their colour
    and level statistics instead of denoising: it pushes every input towards them (Brooks et
    al., CVPR 2019, randomize the white balance when unprocessing for the same reason).
    """

    exposure: tuple[float, float] = (0.25, 2.0)
    red: tuple[float, float] = (0.4, 2.5)
    blue: tuple[float, float] = (0.4, 2.5)

    def gains(self, n: int, generator: torch.Generator) -> torch.Tensor:
        """(N, 4, 1, 1) per-plane gains (R, G1, B, G2) for ``n`` crops."""
        u = torch.rand((n, 3), generator=generator, dtype=torch.float64)
        lo = torch.tensor([self.exposure[0], self.red[0], self.blue[0]], dtype=torch.float64)
        hi = torch.tensor([self.exposure[1], self.red[1], self.blue[1]], dtype=torch.float64)
        factor = torch.exp(torch.log(lo) + u * (torch.log(hi) - torch.log(lo)))
        exposure, red, blue = factor[:, 0], factor[:, 1], factor[:, 2]
        gains = torch.stack([exposure * red, exposure, exposure * blue, exposure], dim=1)
        return gains.to(torch.float32).reshape(n, 4, 1, 1)


class CleanCrops:
    """Random clean crops with their DN scale and an integer ratio each (LED: uniform)."""

    def __init__(
        self,
        frames: Sequence[PackedFrame],
        crop: int,
        ratio_range: tuple[int, int],
        *,
        multiple_of: int = 1,
        augment: str = "bayer",
        sample_by: str = "pixel",
        ratio_sampling: str = "uniform",
        colour: ColourJitter | None = None,
    ) -> None:
        if sample_by not in SAMPLE_BY:
            raise ValueError(f"sample_by must be one of {', '.join(SAMPLE_BY)}")
        if ratio_sampling not in RATIO_SAMPLING:
            raise ValueError(f"ratio_sampling must be one of {', '.join(RATIO_SAMPLING)}")
        self.ratio_sampling = ratio_sampling
        self.colour = colour
        if augment not in AUGMENT:
            raise ValueError(f"augment must be one of {', '.join(AUGMENT)}")
        self.frames = list(frames)
        self.sizes = [f.size for f in self.frames]
        self.crop = effective_crop(self.sizes, crop, multiple_of)
        self.ratio_range = (int(ratio_range[0]), int(ratio_range[1]))
        # "pixel": every pixel equally likely; "frame": every frame equally likely, so a few
        # small frames (e.g. textures) are not drowned by large ones
        self.weights = (
            [float(h * w) for h, w in self.sizes] if sample_by == "pixel" else [1.0] * len(frames)
        )
        self.augment = augment

    def batch(
        self, n: int, generator: torch.Generator
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """(clean (N,4,c,c), scale (N,4) DN, ratio (N,) float) on the CPU."""
        draws = draw_crops(
            self.sizes,
            n,
            self.crop,
            generator,
            weights=self.weights,
            augment=self.augment != "none",
        )
        packed = self.augment == "packed"
        buf = np.empty((n, 4, self.crop, self.crop), dtype=np.float32)
        for k, d in enumerate(draws):  # straight into the batch: one copy per crop
            apply_crop(self.frames[d.index].data, d, self.crop, packed=packed, out=buf[k])
        clean = torch.from_numpy(buf)
        scale = torch.tensor([self.frames[d.index].scale for d in draws], dtype=torch.float32)
        lo, hi = self.ratio_range
        if self.ratio_sampling in ("log", "mixed"):
            u = torch.rand(n, generator=generator, dtype=torch.float64)
            ratio = torch.exp(math.log(lo) + u * (math.log(hi) - math.log(lo))).to(torch.float32)
        else:
            ratio = torch.randint(lo, hi + 1, (n,), generator=generator).to(torch.float32)
        if self.ratio_sampling == "mixed":
            linear = torch.randint(lo, hi + 1, (n,), generator=generator).to(torch.float32)
            pick = torch.rand(n, generator=generator) < 0.5
            ratio = torch.where(pick, linear, ratio)
        if self.colour is not None:
            clean.mul_(self.colour.gains(n, generator)).clamp_(max=1.0)
        return clean, scale, ratio


# --------------------------------------------------------------------------------------------
# Fine-tuning: noisy/clean pairs
# --------------------------------------------------------------------------------------------


@dataclass
class PairData:
    """One pair in memory; frames shared between pairs are decoded once."""

    noisy: np.ndarray  #: normalized, unclipped (4, H, W)
    clean: np.ndarray  #: normalized, clipped to [0, 1]
    ratio: float


def load_pair_data(pairs: Sequence) -> list[PairData]:
    """Decode every distinct file of ``pairs`` (``rawdenoise.pairing.Pair``) once."""
    decoded: dict[Path, np.ndarray] = {}
    clean_paths = {p.clean.resolve() for p in pairs}

    def get(path: Path) -> np.ndarray:
        key = path.resolve()
        if key not in decoded:
            data = decode(path).data
            if key in clean_paths:
                np.clip(data, 0.0, 1.0, out=data)
            decoded[key] = data
        return decoded[key]

    out = []
    for p in pairs:
        noisy, clean = get(p.noisy), get(p.clean)
        if noisy.shape != clean.shape:
            raise InputError(
                f"{p.noisy.name} and {p.clean.name} differ in size: "
                f"{noisy.shape[1:]} vs {clean.shape[1:]}"
            )
        out.append(PairData(noisy, clean, float(p.ratio)))
    return out


def network_input(noisy: np.ndarray | torch.Tensor, ratio: float) -> torch.Tensor:
    """LED's input: ``min(noisy * ratio, 1)`` (no lower clip: negatives carry information)."""
    return torch.as_tensor(noisy).mul(float(ratio)).clamp_(max=1.0)


class PairCrops:
    """Random aligned crops of the pairs: (input = noisy x ratio, clipped max 1; target)."""

    def __init__(
        self,
        pairs: Sequence[PairData],
        crop: int,
        *,
        multiple_of: int = 1,
        augment: bool = True,
    ) -> None:
        if not pairs:
            raise InputError("no pairs to train on")
        self.pairs = list(pairs)
        self.sizes = [(p.clean.shape[1], p.clean.shape[2]) for p in self.pairs]
        self.crop = effective_crop(self.sizes, crop, multiple_of)
        self.augment = augment

    def batch(self, n: int, generator: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
        draws = draw_crops(self.sizes, n, self.crop, generator, augment=self.augment)
        inputs, targets = [], []
        for d in draws:
            p = self.pairs[d.index]
            inputs.append(network_input(apply_crop(p.noisy, d, self.crop), p.ratio))
            targets.append(apply_crop(p.clean, d, self.crop))
        return torch.stack(inputs), torch.stack(targets)
