"""Geometric self-ensemble: denoise flipped and transposed copies of a frame and average them.

The copies are made in the mosaic domain and packed again in the network's R G1 / G2 B
geometry (a flipped RGGB mosaic starts G R, so a reflected column or row goes in front, as
``pack_rggb`` does for such cameras): every copy is a real Bayer frame of a mirrored scene,
which is what any model has seen in training, whether its crops were flipped in the mosaic
(``--augment bayer``) or in the packed array (LED, ``--augment packed``). Flipping the packed
array instead would change each 2x2 block's arrangement, which a ``bayer``-trained model never
sees. Each output is mapped back exactly and the copies are averaged: N times the work for a
smaller error, most of it from the first two (measured in the model card).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from rawdenoise.bayer import RGGB, pack_bayer, pack_rggb, unpack_bayer, unpack_rggb
from rawdenoise.errors import UsageError

#: the ensemble sizes offered: the identity, then 180-degree rotation, then both single flips,
#: then the same four transposed
SIZES = (1, 2, 4, 8)


@dataclass(frozen=True)
class Variant:
    """A transform of the mosaic: transpose first, then the flips."""

    transpose: bool = False
    flip_h: bool = False
    flip_v: bool = False

    def forward(self, a: np.ndarray) -> np.ndarray:
        if self.transpose:
            a = a.T
        if self.flip_h:
            a = a[:, ::-1]
        if self.flip_v:
            a = a[::-1, :]
        return a

    def inverse(self, a: np.ndarray) -> np.ndarray:
        if self.flip_v:
            a = a[::-1, :]
        if self.flip_h:
            a = a[:, ::-1]
        if self.transpose:
            a = a.T
        return a


_ORDER = (
    Variant(),
    Variant(flip_h=True, flip_v=True),
    Variant(flip_h=True),
    Variant(flip_v=True),
    Variant(transpose=True),
    Variant(transpose=True, flip_h=True, flip_v=True),
    Variant(transpose=True, flip_h=True),
    Variant(transpose=True, flip_v=True),
)


def check_ensemble(size: int) -> None:
    if size not in SIZES:
        raise UsageError(
            f"--ensemble must be one of {', '.join(map(str, SIZES))}, got {size}",
            hint="2 (the frame and its 180-degree rotation) gives most of the gain",
        )


def variants(size: int) -> tuple[Variant, ...]:
    check_ensemble(size)
    return _ORDER[:size]


def to_variant(x: np.ndarray, v: Variant) -> np.ndarray:
    """The packed (4, H, W) frame ``x`` as variant ``v`` sees it, packed R G1 / G2 B again."""
    mosaic = v.forward(unpack_bayer(x, RGGB))
    return pack_rggb(np.ascontiguousarray(mosaic), v.forward(RGGB))


def from_variant(y: np.ndarray, v: Variant, shape: tuple[int, int]) -> np.ndarray:
    """Inverse of :func:`to_variant` for a frame of packed ``shape`` (H, W)."""
    mosaic_shape = (2 * shape[0], 2 * shape[1])
    seen = (mosaic_shape[1], mosaic_shape[0]) if v.transpose else mosaic_shape
    mosaic = v.inverse(unpack_rggb(y, v.forward(RGGB), seen))
    return pack_bayer(np.ascontiguousarray(mosaic), RGGB)


def averaged(
    run: Callable[[np.ndarray, Callable[[int, int], None] | None], np.ndarray],
    x: np.ndarray,
    size: int,
    progress: Callable[[int, int], None] | None = None,
) -> np.ndarray:
    """Mean of ``run(variant_input, progress)`` over the first ``size`` variants, mapped back.

    ``progress(done, total)`` goes from 0 to ``size`` times the first copy's tile count, never
    backwards (a padded or transposed copy may be cut into a different number of tiles).
    """
    chosen = variants(size)
    if x.ndim != 3 or x.shape[0] != 4:
        raise UsageError(f"the self-ensemble needs a packed Bayer (4, H, W) input, got {x.shape}")
    shape = (x.shape[1], x.shape[2])
    total: np.ndarray | None = None
    unit: list[int] = []  # the first copy's tile count: the progress unit of every copy
    for k, v in enumerate(chosen):

        def step(done: int, tiles: int, k: int = k) -> None:
            if progress is None:
                return
            if not unit:
                unit.append(max(tiles, 1))
            progress(k * unit[0] + done * unit[0] // max(tiles, 1), len(chosen) * unit[0])

        y = from_variant(run(to_variant(x, v), step), v, shape)
        total = y if total is None else np.add(total, y, out=total)  # y: a new float32 array
    assert total is not None
    total /= np.float32(len(chosen))
    return total
