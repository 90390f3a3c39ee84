"""Virtual cameras for pretraining: LED's coverage of the calibrated cameras' parameter space.

method.md §5.4: every scalar parameter gets ``linspace(lo, hi, count)`` and camera ``i`` takes
the ``i``-th value of every parameter (camera 0 is "all minima", the last "all maxima"); with
``shuffle`` each parameter's values are permuted independently. Tukey lambda is fixed per
camera; K is shared (``[0.1, 30]``, log-uniform per image). Colour biases are random: for camera
``i`` each of the 16 K bins gets ``U(bias range)`` plus ``randn(4) * U(interval i)``, the
intervals splitting the colour-bias sigma range into overlapping pieces (overlap 0.1). LED's
intervals start at ``0.9 * L * i`` and ignore the range's lower end (0.007 DN); ours start at
``lo + 0.9 * L * i``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import torch

from rawdenoise.noise.components import rand, randn
from rawdenoise.noise.params import NoiseSample, ParametricCamera
from rawdenoise.specs import LogLinear

#: ``options/base/noise_g/noise_g_virtual.yaml`` of LED (ranges span the calibrated cameras).
LED_VIRTUAL_RANGES: Mapping[str, Any] = {
    "K": (0.1, 30.0),
    "Gaussian": {
        "slope": (0.5407496082896145, 0.6771267783987617),
        "bias": (0.799410107756515, 2.079863926921898),
        "sigma": (0.21408231874600314, 0.26751211630129734),
    },
    "TukeyLambda": {
        "slope": (0.46210495986526035, 0.6558756156508007),
        "bias": (-0.09044499670414502, 1.5370438794284738),
        "sigma": (0.23920060971003035, 0.3888189465002228),
        "lambda": (-0.24285714285714288, 0.2),
    },
    "Row": {
        "slope": (0.44829219631519307, 0.7292220505388829),
        "bias": (-1.7977103277112132, -0.5917002648887661),
        "sigma": (0.2321799439489326, 0.29428813016491145),
    },
    "ColorBias": {"bias": (-1.9080039, 4.080531), "sigma": (0.006866596, 3.0379589), "count": 16},
}

#: Keys of LED's saved ``VirtualNoisyPairGenerator`` state dict.
STATE_KEYS = (
    "tukey_lambdas",
    "read_slopes",
    "read_biases",
    "read_sigmas",
    "row_slopes",
    "row_biases",
    "row_sigmas",
    "color_biases",
)


def _split(
    lo: float,
    hi: float,
    count: int,
    strategy: str,
    shuffle: bool,
    generator: torch.Generator | None,
) -> torch.Tensor:
    if strategy == "coverage":
        values = torch.linspace(lo, hi, count, dtype=torch.float64)
        if shuffle:
            perm = torch.randperm(count, generator=_cpu(generator))
            values = values[perm]
        return values
    if strategy == "uniform":
        u = rand((count,), generator=generator, device=torch.device("cpu"), dtype=torch.float64)
        return lo + (hi - lo) * u
    raise ValueError(f"unknown sampling strategy {strategy!r}: use 'coverage' or 'uniform'")


def _cpu(generator: torch.Generator | None) -> torch.Generator | None:
    """randperm needs a generator on the CPU; derive one from a device generator."""
    if generator is None or generator.device.type == "cpu":
        return generator
    seed = int(torch.randint(0, 2**62, (1,), generator=generator, device=generator.device))
    return torch.Generator().manual_seed(seed)


class VirtualCameras:
    """A fixed set of virtual cameras (one :class:`ParametricCamera` each, index = RepNR branch).

    Create them with :meth:`sample` (LED's strategy) or :meth:`from_state_dict` (a saved set,
    e.g. LED's ``VirtualNoisyPairGenerator_*.pth``); save with :meth:`state_dict` so that a
    training run can be repeated with the same cameras.
    """

    def __init__(self, cameras: Sequence[ParametricCamera]) -> None:
        if not cameras:
            raise ValueError("need at least one virtual camera")
        self.cameras: tuple[ParametricCamera, ...] = tuple(cameras)

    def __len__(self) -> int:
        return len(self.cameras)

    def __getitem__(self, index: int) -> ParametricCamera:
        return self.cameras[index]

    @property
    def num_cameras(self) -> int:
        return len(self.cameras)

    @classmethod
    def sample(
        cls,
        count: int = 5,
        *,
        ranges: Mapping[str, Any] = LED_VIRTUAL_RANGES,
        strategy: str = "coverage",
        shuffle: bool = False,
        read_kind: str = "tukey",
        generator: torch.Generator | None = None,
    ) -> VirtualCameras:
        """Draw ``count`` virtual cameras covering ``ranges`` (LED's defaults)."""
        if count < 1:
            raise ValueError(f"need at least one virtual camera, got {count}")

        def split(lo_hi: Sequence[float]) -> torch.Tensor:
            return _split(float(lo_hi[0]), float(lo_hi[1]), count, strategy, shuffle, generator)

        read_block = ranges["TukeyLambda"] if read_kind == "tukey" else ranges["Gaussian"]
        read_s, read_b, read_sd = (split(read_block[k]) for k in ("slope", "bias", "sigma"))
        lambdas = split(ranges["TukeyLambda"]["lambda"])
        row = ranges["Row"]
        row_s, row_b, row_sd = (split(row[k]) for k in ("slope", "bias", "sigma"))
        biases = _color_biases(count, ranges["ColorBias"], generator)
        k_lo, k_hi = (float(x) for x in ranges["K"])
        cameras = [
            ParametricCamera(
                k_min=k_lo,
                k_max=k_hi,
                read=LogLinear(float(read_s[i]), float(read_b[i]), float(read_sd[i])),
                row=LogLinear(float(row_s[i]), float(row_b[i]), float(row_sd[i])),
                read_kind=read_kind,
                tukey_lambdas=(float(lambdas[i]),),
                color_bias=tuple(tuple(float(v) for v in b) for b in biases[i]),
                name=f"virtual-{i}",
            )
            for i in range(count)
        ]
        return cls(cameras)

    def sample_params(
        self,
        n: int,
        *,
        camera: int | None = None,
        generator: torch.Generator | None = None,
        device: torch.device | str = "cpu",
    ) -> NoiseSample:
        """Parameters for a batch of ``n`` images from one camera (random when ``None``)."""
        if camera is None:
            idx = rand((1,), generator=generator, device=torch.device("cpu"))
            camera = min(int(idx.item() * len(self)), len(self) - 1)
        if not 0 <= camera < len(self):
            raise ValueError(f"virtual camera {camera} out of range 0..{len(self) - 1}")
        return self.cameras[camera].sample(n, generator=generator, device=device, camera=camera)

    def state_dict(self) -> dict[str, torch.Tensor]:
        """LED's state-dict layout (plus ``k_range``, which LED did not save)."""

        def col(get) -> torch.Tensor:
            return torch.tensor([get(c) for c in self.cameras], dtype=torch.float32)

        return {
            "tukey_lambdas": col(lambda c: c.tukey_lambdas[0]),
            "read_slopes": col(lambda c: c.read.slope),
            "read_biases": col(lambda c: c.read.bias),
            "read_sigmas": col(lambda c: c.read.sigma),
            "row_slopes": col(lambda c: c.row.slope),
            "row_biases": col(lambda c: c.row.bias),
            "row_sigmas": col(lambda c: c.row.sigma),
            "color_biases": torch.tensor([c.color_bias for c in self.cameras], dtype=torch.float32),
            "k_range": torch.tensor([self.cameras[0].k_min, self.cameras[0].k_max]),
        }

    @classmethod
    def from_state_dict(
        cls,
        state: Mapping[str, torch.Tensor],
        *,
        k_range: tuple[float, float] | None = None,
        read_kind: str = "tukey",
    ) -> VirtualCameras:
        """Rebuild cameras from :meth:`state_dict` or LED's saved generator."""
        missing = [k for k in STATE_KEYS if k not in state]
        if missing:
            raise ValueError(f"virtual camera state lacks {', '.join(missing)}")
        flat = {k: torch.as_tensor(state[k]).double().reshape(-1) for k in STATE_KEYS[:-1]}
        count = flat["read_slopes"].numel()
        biases = torch.as_tensor(state["color_biases"]).double().reshape(count, -1, 4)
        if k_range is None:
            k_range = tuple(float(x) for x in state.get("k_range", LED_VIRTUAL_RANGES["K"]))
        return cls(
            [
                ParametricCamera(
                    k_min=k_range[0],
                    k_max=k_range[1],
                    read=LogLinear(
                        float(flat["read_slopes"][i]),
                        float(flat["read_biases"][i]),
                        float(flat["read_sigmas"][i]),
                    ),
                    row=LogLinear(
                        float(flat["row_slopes"][i]),
                        float(flat["row_biases"][i]),
                        float(flat["row_sigmas"][i]),
                    ),
                    read_kind=read_kind,
                    tukey_lambdas=(float(flat["tukey_lambdas"][i]),),
                    color_bias=tuple(tuple(float(v) for v in b) for b in biases[i]),
                    name=f"virtual-{i}",
                )
                for i in range(count)
            ]
        )


def _color_biases(
    count: int, spec: Mapping[str, Any], generator: torch.Generator | None
) -> torch.Tensor:
    """(count, bins, 4) colour biases as LED draws them (see module docstring)."""
    bins = int(spec.get("count", 16))
    b_lo, b_hi = (float(x) for x in spec["bias"])
    s_lo, s_hi = (float(x) for x in spec["sigma"])
    pieces = max(bins, count)
    length = (s_hi - s_lo) / (pieces * 0.9 + 0.1)
    cpu = torch.device("cpu")
    out = torch.empty((count, bins, 4), dtype=torch.float64)
    for i in range(count):
        start = s_lo + 0.9 * length * i
        base = b_lo + (b_hi - b_lo) * rand((bins, 1), generator=generator, device=cpu).double()
        spread = start + length * rand((bins, 1), generator=generator, device=cpu).double()
        out[i] = base + randn((bins, 4), generator=generator, device=cpu).double() * spread
    return out
