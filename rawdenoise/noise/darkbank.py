"""A bank of the user's real dark frames: data-driven signal-independent noise (LRD/PMN style).

Instead of the parametric read, row and colour-bias terms, the synthesizer adds a random crop
of a real dark frame (packed, black-subtracted, in DN) taken at the same ISO as the K used for
the physical shot noise. The dark shading (each pixel's mean over the frames of one ISO, which
also holds the black-level error) is kept by default, as in an uncorrected raw file; with
``shading="remove"`` it is subtracted and the residual rescaled by ``sqrt(F / (F - 1))`` so that
the temporal variance of ``F`` frames is not underestimated.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from rawdenoise.errors import InputError
from rawdenoise.noise.components import rand
from rawdenoise.noise.params import NoiseSample
from rawdenoise.specs import CameraProfile

SHADING_MODES = ("keep", "remove")


@dataclass
class _IsoFrames:
    frames: torch.Tensor  #: (F, 4, H, W) int16 or float32, DN above black
    shading: torch.Tensor | None  #: (4, H, W) float32 per-pixel mean, when removed


class DarkFrameBank:
    """Dark frames grouped by ISO; :meth:`sample` returns random crops in DN."""

    def __init__(
        self, frames: Mapping[float, np.ndarray | torch.Tensor], *, shading: str = "keep"
    ) -> None:
        if shading not in SHADING_MODES:
            raise ValueError(f"shading must be one of {SHADING_MODES}, got {shading!r}")
        if not frames:
            raise InputError("the dark-frame bank is empty")
        self.shading = shading
        self._isos: dict[float, _IsoFrames] = {}
        for iso, stack in sorted(frames.items()):
            data = torch.as_tensor(np.asarray(stack) if not torch.is_tensor(stack) else stack)
            if data.ndim == 3:
                data = data.unsqueeze(0)
            if data.ndim != 4 or data.shape[1] != 4:
                raise InputError(
                    f"dark frames at ISO {iso:g}: expected packed (F, 4, H, W), got "
                    f"{tuple(data.shape)}"
                )
            shade = None
            if shading == "remove":
                if data.shape[0] < 2:
                    raise InputError(
                        f"removing dark shading needs at least 2 dark frames per ISO; ISO "
                        f"{iso:g} has {data.shape[0]}",
                        hint="add dark frames or keep the shading (shading='keep')",
                    )
                shade = data.float().mean(dim=0)
            if data.dtype not in (torch.int16, torch.float32):
                data = data.float()
            self._isos[float(iso)] = _IsoFrames(data, shade)

    @property
    def isos(self) -> tuple[float, ...]:
        return tuple(self._isos)

    def frame_count(self, iso: float) -> int:
        return int(self._isos[float(iso)].frames.shape[0])

    @property
    def frame_shape(self) -> tuple[int, int]:
        """Smallest packed (H, W) over the bank: the largest crop :meth:`sample` can give."""
        hs = [f.frames.shape[2] for f in self._isos.values()]
        ws = [f.frames.shape[3] for f in self._isos.values()]
        return min(hs), min(ws)

    @classmethod
    def from_files(
        cls,
        paths: Iterable[str | Path],
        *,
        shading: str = "keep",
        max_frames_per_iso: int | None = None,
    ) -> DarkFrameBank:
        """Read dark RAW frames (any LibRaw format), group them by EXIF ISO, subtract black."""
        from rawdenoise.bayer import pack_rggb
        from rawdenoise.exif import read_exif
        from rawdenoise.rawio import read_raw

        groups: dict[float, list[np.ndarray]] = {}
        camera = shape = None
        for path in sorted(Path(p) for p in paths):
            iso = read_exif(path).require("iso").iso
            assert iso is not None
            frames = groups.setdefault(float(iso), [])
            if max_frames_per_iso is not None and len(frames) >= max_frames_per_iso:
                continue
            frame = read_raw(path)
            if camera is None:
                camera, shape = frame.camera, frame.shape
            elif frame.camera != camera or frame.shape != shape:
                raise InputError(
                    f"{path.name}: {frame.camera} {frame.shape[1]}x{frame.shape[0]} differs from "
                    f"the other dark frames ({camera} {shape[1]}x{shape[0]})"
                )
            # the layout the clean crops have (RGGB geometry), so spatial structure lines up
            packed = pack_rggb(frame.mosaic, frame.pattern).astype(np.float32)
            packed -= frame.black_level.reshape(4, 1, 1)
            if np.all(frame.black_level == np.round(frame.black_level)):
                packed = np.clip(packed, -32768, 32767).astype(np.int16)
            frames.append(packed)
        if not groups:
            raise InputError("no dark frames given")
        return cls({iso: np.stack(f) for iso, f in groups.items()}, shading=shading)

    def sample(
        self,
        n: int,
        height: int,
        width: int,
        *,
        iso: float | None = None,
        generator: torch.Generator | None = None,
        device: torch.device | str = "cpu",
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """``n`` random (4, height, width) crops in DN and the ISO each came from.

        The ISO is drawn uniformly among the bank's (or fixed by ``iso``), then a frame and an
        offset; crops keep whole packed pixels, so CFA phase and row structure are preserved.
        """
        device = torch.device(device)
        cpu = torch.device("cpu")
        isos = self.isos
        if iso is not None:
            if float(iso) not in self._isos:
                raise InputError(
                    f"no dark frames at ISO {iso:g}; the bank has "
                    f"{', '.join(f'{i:g}' for i in isos)}"
                )
            picks = [float(iso)] * n
        else:
            u = rand((n,), generator=generator, device=cpu)
            picks = [isos[min(int(v * len(isos)), len(isos) - 1)] for v in u.tolist()]
        draws = rand((n, 3), generator=generator, device=cpu).tolist()
        crops = []
        for pick, (uf, uy, ux) in zip(picks, draws, strict=True):
            entry = self._isos[pick]
            f, _, h, w = entry.frames.shape
            if height > h or width > w:
                raise InputError(
                    f"crop {height}x{width} (packed) is larger than the dark frames at ISO "
                    f"{pick:g} ({h}x{w})"
                )
            i = min(int(uf * f), f - 1)
            y = min(int(uy * (h - height + 1)), h - height)
            x = min(int(ux * (w - width + 1)), w - width)
            crop = entry.frames[i, :, y : y + height, x : x + width].float()
            if entry.shading is not None:
                crop = (crop - entry.shading[:, y : y + height, x : x + width]) * math.sqrt(
                    f / (f - 1)
                )
            crops.append(crop)
        noise = torch.stack(crops).to(device)
        return noise, torch.tensor(picks, dtype=torch.float32, device=device)


KSource = CameraProfile | Mapping[float, float] | Callable[[float], float]


class DarkFrameNoise:
    """Shot noise with the K of each crop's ISO plus the crop itself (the noise source)."""

    def __init__(self, bank: DarkFrameBank, k_for_iso: KSource, *, iso: float | None = None):
        self.bank = bank
        self.iso = iso
        self._k = _k_lookup(k_for_iso)
        for value in bank.isos if iso is None else (iso,):
            self._k(value)  # fail early when an ISO has no K

    @property
    def num_cameras(self) -> int:
        return 1

    def sample_params(
        self,
        n: int,
        height: int,
        width: int,
        *,
        generator: torch.Generator | None = None,
        device: torch.device | str = "cpu",
    ) -> NoiseSample:
        noise, isos = self.bank.sample(
            n, height, width, iso=self.iso, generator=generator, device=device
        )
        k = torch.tensor([self._k(float(i)) for i in isos.tolist()], device=noise.device)
        return NoiseSample(k=k, independent=noise, iso=isos)


def _k_lookup(source: KSource) -> Callable[[float], float]:
    if isinstance(source, CameraProfile):
        profile = source

        def from_profile(iso: float) -> float:
            for p in profile.iso_points:
                if abs(p.iso - iso) <= 0.01 * iso:
                    return p.k
            k = profile.k_for_iso(iso)
            if k is None:
                raise InputError(
                    f"camera profile {profile.id!r} has no per-ISO points: K at ISO {iso:g} "
                    "is unknown",
                    hint="calibrate the camera (rawdenoise calibrate) or give K per ISO",
                )
            return k

        return from_profile
    if isinstance(source, Mapping):
        table = {float(k): float(v) for k, v in source.items()}

        def from_table(iso: float) -> float:
            if iso not in table:
                raise InputError(f"no system gain K given for ISO {iso:g}")
            return table[iso]

        return from_table
    return source
