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

import math
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from rawdenoise.errors import InputError
from rawdenoise.training.frames import (
    PackedFrame,
    decode,
)

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


@dataclass(frozen=True)
class ChromaticShift:
    """Random lateral chromatic aberration of the clean crops (``--augment-ca``).

    A real lens images red and blue a fraction of a pixel away from green (most towards the
    frame's corners); mosaics made from photographs, and crops of a few RAW frames, have their
    planes where the Bayer geometry puts them. A network trained only on those may learn that
    the planes always line up and, at high noise, move red and blue of a real photo towards
    green (the fidelity benchmark's colour-plane shift; the model card says what 12,000
    iterations with this did: no change to that shift). Here every plane is resampled
    (bicubic) at a random sub-pixel phase shared by all four, plus, for red and blue, an offset
    of their own, uniform within ``amount`` packed px per axis, so no plane is sharper than the
    others.
    """

    amount: float = 0.4

    def apply(self, clean: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
        """``clean`` (N, 4, H, W) resampled, clipped to [0, 1]; a new tensor."""
        import torch.nn.functional as F

        n, c, h, w = clean.shape
        shared = torch.rand((n, 1, 2), generator=generator) - 0.5
        own = (torch.rand((n, c, 2), generator=generator) * 2 - 1) * self.amount
        own[:, [1, 3]] = 0.0  # the greens: the reference the others move against
        shifts = (shared + own).reshape(n * c, 2)  # (dy, dx) in packed px
        theta = torch.zeros(n * c, 2, 3)  # a pure translation, in grid_sample's [-1, 1] units
        theta[:, 0, 0] = theta[:, 1, 1] = 1.0
        theta[:, 0, 2] = shifts[:, 1] * (2.0 / max(w - 1, 1))
        theta[:, 1, 2] = shifts[:, 0] * (2.0 / max(h - 1, 1))
        planes = clean.reshape(n * c, 1, h, w)
        grid = F.affine_grid(theta, [n * c, 1, h, w], align_corners=True)
        out = F.grid_sample(
            planes, grid, mode="bicubic", padding_mode="reflection", align_corners=True
        )
        return out.reshape(n, c, h, w).clamp_(0.0, 1.0)


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
        chromatic: ChromaticShift | None = None,
    ) -> None:
        if sample_by not in SAMPLE_BY:
            raise ValueError(f"sample_by must be one of {', '.join(SAMPLE_BY)}")
        if ratio_sampling not in RATIO_SAMPLING:
            raise ValueError(f"ratio_sampling must be one of {', '.join(RATIO_SAMPLING)}")
        self.ratio_sampling = ratio_sampling
        self.colour = colour
        self.chromatic = chromatic
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
        if self.chromatic is not None:
            clean = self.chromatic.apply(clean, generator)
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
