"""Widen a trained UNet without changing what it computes (Net2WiderNet, Chen et al. 2016).

A UNet with ``channels=c`` becomes one with ``channels=c2 > c`` whose output is the same: each
feature map of the wider network is a copy of one of the old network's (the old maps first,
the new ones copies of randomly chosen old maps), and every layer that reads a map that now
exists ``n`` times splits its old weights among the ``n`` copies. LeakyReLU, max-pooling and
concatenation act per channel, so the copies stay equal and the sum reproduces the old layer.
The split fractions are drawn at random per weight (they sum to 1), so the copies get
different gradients and grow apart when training continues.

Works on a plain UNet state dict (``X.weight``/``X.bias``) and on a RepNR state (``X.main_*``,
``X.align_*`` per branch, ``X.aux_*``): the alignment scale and shift act per input channel
and are copied with it.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import torch

#: (layer, input maps, output width in multiples of ``channels``, 0: the fixed output width);
#: a map is named by the layer that makes it ("x": the input), and a decoder conv reads two
#: maps concatenated, the upsampled one first.
_LAYERS: tuple[tuple[str, tuple[str, ...], int], ...] = (
    ("conv1_1", ("x",), 1),
    ("conv1_2", ("conv1_1",), 1),
    ("conv2_1", ("conv1_2",), 2),
    ("conv2_2", ("conv2_1",), 2),
    ("conv3_1", ("conv2_2",), 4),
    ("conv3_2", ("conv3_1",), 4),
    ("conv4_1", ("conv3_2",), 8),
    ("conv4_2", ("conv4_1",), 8),
    ("conv5_1", ("conv4_2",), 16),
    ("conv5_2", ("conv5_1",), 16),
    ("upv6", ("conv5_2",), 8),
    ("conv6_1", ("upv6", "conv4_2"), 8),
    ("conv6_2", ("conv6_1",), 8),
    ("upv7", ("conv6_2",), 4),
    ("conv7_1", ("upv7", "conv3_2"), 4),
    ("conv7_2", ("conv7_1",), 4),
    ("upv8", ("conv7_2",), 2),
    ("conv8_1", ("upv8", "conv2_2"), 2),
    ("conv8_2", ("conv8_1",), 2),
    ("upv9", ("conv8_2",), 1),
    ("conv9_1", ("upv9", "conv1_2"), 1),
    ("conv9_2", ("conv9_1",), 1),
    ("conv10_1", ("conv9_2",), 0),
)  # fmt: skip
_UNET = "rawdenoise.networks.unet:UNet"


def _mapping(old: int, new: int, generator: torch.Generator) -> torch.Tensor:
    """Old channel index of every new channel: the old ones in place, then random copies."""
    extra = torch.randint(0, old, (new - old,), generator=generator)
    return torch.cat([torch.arange(old), extra])


def _split(
    weight: torch.Tensor, source: torch.Tensor, dim: int, generator: torch.Generator
) -> torch.Tensor:
    """``weight`` gathered along ``dim`` by ``source``, each old slice split among its copies.

    Random positive fractions per element, normalised so that the copies of one old channel
    sum to exactly the old weight.
    """
    gathered = weight.index_select(dim, source)
    shape = list(gathered.shape)
    frac = torch.rand(shape, generator=generator, dtype=torch.float64) + 0.5  # in [0.5, 1.5)
    total = torch.zeros([*shape[:dim], int(source.max()) + 1, *shape[dim + 1 :]], dtype=frac.dtype)
    total.index_add_(dim, source, frac)
    frac = frac / total.index_select(dim, source)
    return (gathered.double() * frac).to(weight.dtype)


def widen_unet_state(
    state: Mapping[str, torch.Tensor], channels: int, *, seed: int = 0
) -> dict[str, torch.Tensor]:
    """The state dict of a ``channels``-wide UNet computing what ``state``'s UNet computes.

    ``state``: a plain or RepNR state dict of the built-in ``unet`` architecture (LED's
    keys). ``channels`` must be at least the current width. Every branch of a RepNR state
    computes what it did.
    """
    from rawdenoise.state_dicts import infer_options

    found = infer_options(_UNET, state)
    if not found:
        raise KeyError("not a UNet state dict: no conv1_1 / conv10_1 weights")
    old = found["channels"]
    if channels < old:
        raise ValueError(f"cannot widen a {old}-channel UNet to {channels} channels")
    g = torch.Generator().manual_seed(seed)
    # every map's channel mapping (new -> old index) and its old width
    maps = {"x": torch.arange(found.get("in_channels", 4))}
    fixed_out = torch.arange(found.get("out_channels", 4))
    for layer, _, mult in _LAYERS:
        maps[layer] = _mapping(old * mult, channels * mult, g) if mult else fixed_out
    widths = {name: int(m.max()) + 1 for name, m in maps.items()}  # the old widths

    result: dict[str, torch.Tensor] = {}
    for layer, inputs, _ in _LAYERS:
        transposed = layer.startswith("upv")
        parts, offset = [], 0
        for name in inputs:
            parts.append(maps[name] + offset)
            offset += widths[name]
        source = torch.cat(parts)
        out_map = maps[layer]
        in_dim, out_dim = (0, 1) if transposed else (1, 0)
        prefix = f"{layer}."
        keys = [k for k in state if k.startswith(prefix)]
        if not keys:
            raise KeyError(f"not a UNet state dict: no {layer} weights")
        for key in keys:
            t = state[key]
            kind = key[len(prefix) :]
            if kind in ("weight", "main_weight", "aux_weight"):
                t = _split(t, source, in_dim, g).index_select(out_dim, out_map)
            elif kind in ("bias", "main_bias", "aux_bias"):
                t = t.index_select(0, out_map)
            elif kind.startswith(("align_weights.", "align_biases.")):
                t = t.index_select(1, source)  # (1, in, 1, 1): per input channel
            else:
                raise KeyError(f"unexpected UNet state key {key!r}")
            result[key] = t.contiguous()
    extra = set(state) - set(result)
    if extra:
        raise KeyError(f"unexpected UNet state keys: {sorted(extra)[:4]}")
    return result


def widen_unet(
    state: Mapping[str, torch.Tensor],
    options: Mapping[str, Any],
    new_options: Mapping[str, Any],
    seed: int,
) -> dict[str, torch.Tensor]:
    """The ``unet`` architecture's ``widen`` hook: only ``channels`` may change, and only up."""
    changed = {k for k in {*options, *new_options} if options.get(k) != new_options.get(k)}
    others = sorted(changed - {"channels"})
    if others:
        raise ValueError(f"a unet can only grow in channels, not in {', '.join(others)}")
    old, new = int(options["channels"]), int(new_options["channels"])
    if new < old:
        raise ValueError(f"a unet can grow from {old} channels, not shrink to {new}")
    return widen_unet_state(state, new, seed=seed)
