"""Tiled inference: equals the whole-frame pass (every Bayer phase, real data), bounded memory."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from torch import nn

from rawdenoise import devices, tiling
from rawdenoise.devices import choose_device, resolve_precision
from rawdenoise.errors import ResourceError, UsageError
from rawdenoise.inference import BELOW_BLACK, denoise
from rawdenoise.rawio import read_raw
from rawdenoise.tiling import axis_weights, choose_tile, default_overlap, plan_axis, plan_tiles

GOPRO = "gopro_hero7_iso252_GOPR9231.dng"


class Identity(nn.Module):
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x


class Stride16Net(nn.Module):
    """A few convs plus 16x16 block context: inputs must be multiples of 16, like the UNet.

    Its output depends on the pooling grid (tiles must be aligned to the whole-frame grid) and
    on 3 px of zero padding at every tile edge (tiles must overlap and blend).
    """

    def __init__(self) -> None:
        super().__init__()
        gen = torch.Generator().manual_seed(0)
        self.c1 = nn.Conv2d(4, 8, 3, padding=1)
        self.c2 = nn.Conv2d(8, 8, 3, padding=1)
        self.ctx = nn.Conv2d(8, 8, 1)
        self.c3 = nn.Conv2d(8, 4, 3, padding=1)
        with torch.no_grad():
            for p in self.parameters():
                p.copy_(torch.empty_like(p).uniform_(-0.3, 0.3, generator=gen))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        assert x.shape[-1] % 16 == 0 and x.shape[-2] % 16 == 0, x.shape
        h = F.leaky_relu(self.c2(F.leaky_relu(self.c1(x), 0.2)), 0.2)
        g = F.interpolate(self.ctx(F.avg_pool2d(h, 16)), scale_factor=16, mode="nearest")
        return x + self.c3(h + g)


class Recorder(nn.Module):
    """Wraps a network and records the shape of every input it sees."""

    def __init__(self, inner: nn.Module) -> None:
        super().__init__()
        self.inner = inner
        self.shapes: list[tuple[int, ...]] = []

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        self.shapes.append(tuple(x.shape))
        return self.inner(x)


def psnr(a: np.ndarray, b: np.ndarray) -> float:
    mse = float(np.mean((a.astype(np.float64) - b) ** 2))
    return float("inf") if mse == 0 else 10 * np.log10(1.0 / mse)


@lru_cache(maxsize=1)
def _gopro_mosaic(folder: str) -> np.ndarray:
    return read_raw(Path(folder) / GOPRO).mosaic


def _phase_crop(shared_data: Path, make_dng, cfa: str, h: int = 256, w: int = 384) -> Path:
    """A 256x384 crop of the real GoPro mosaic (RGGB), shifted by one pixel to get ``cfa``."""
    dy, dx = {"RGGB": (0, 0), "GRBG": (0, 1), "GBRG": (1, 0), "BGGR": (1, 1)}[cfa]
    mosaic = _gopro_mosaic(str(shared_data))[1400 + dy : 1400 + dy + h, 1800 + dx : 1800 + dx + w]
    return make_dng(f"crop_{cfa}.dng", mosaic=mosaic.copy(), cfa=cfa, black=0, white=16383)


@pytest.mark.parametrize("cfa", ["RGGB", "GRBG", "GBRG", "BGGR"])
def test_tiled_equals_whole_frame_on_real_raw_every_phase(shared_data, make_dng, cfa) -> None:
    frame = read_raw(_phase_crop(shared_data, make_dng, cfa))
    assert frame.cfa == cfa
    x = np.minimum(frame.normalized() * 4.0, 1.0)  # a ratio of 4, LED's upper clip
    for net, m in ((Stride16Net().eval(), 16), (_tiny(), 4)):
        whole = denoise(net, x, multiple_of=m, tile=0)
        rec = Recorder(net)
        tiled = denoise(rec, x, multiple_of=m, tile=64)
        assert len(rec.shapes) >= 6  # really tiled: 128x192 packed in 64 px tiles
        assert max(s[-1] for s in rec.shapes) <= 64
        assert psnr(tiled, whole) >= 50.0, (cfa, m)
        # the network did something: the check is not identity vs identity
        assert psnr(whole, np.clip(x, 0, 1)) < 40.0


def test_blending_and_grid_alignment_are_what_make_tiles_match(shared_data, make_dng) -> None:
    """Without overlap the tile seams show (< 50 dB); the default overlap removes them."""
    frame = read_raw(_phase_crop(shared_data, make_dng, "RGGB"))
    x = np.minimum(frame.normalized() * 4.0, 1.0)
    net = Stride16Net().eval()
    whole = denoise(net, x, multiple_of=16, tile=0)
    seams = denoise(net, x, multiple_of=16, tile=64, overlap=0)
    blended = denoise(net, x, multiple_of=16, tile=96, overlap=32)
    assert psnr(seams, whole) < 50.0
    assert psnr(blended, whole) >= 70.0


def test_default_overlap_keeps_a_bundled_network_seamless_on_real_raw(
    shared_data, make_dng
) -> None:
    """The bundled UNet (a large receptive field, unlike the toy networks above) at the default
    overlap, in small tiles (many seams), on a dark frame of a real crop at ratio 100 (where
    it draws on the most context): within 60 dB of its whole-frame pass; without overlap the
    seams show."""
    from rawdenoise.weights import load_model

    clean = np.minimum(read_raw(_phase_crop(shared_data, make_dng, "RGGB")).normalized(), 1.0)
    rng = np.random.default_rng(0)  # 2 DN per electron of 16383, read noise 8 DN, ratio 100
    dark = rng.poisson(clean / 100 * 16383 / 2) * 2 / 16383 + rng.normal(0, 5e-4, clean.shape)
    x = np.minimum(dark * 100, 1.0).astype(np.float32)
    net = load_model("faithful").network_for(100.0).eval()
    whole = denoise(net, x, multiple_of=16, tile=0)
    tiled = denoise(net, x, multiple_of=16, tile=96)  # 128x192 packed: six tiles, 32 px overlap
    seams = denoise(net, x, multiple_of=16, tile=96, overlap=0)
    assert psnr(tiled, whole) >= 60.0  # measured 73 dB
    assert psnr(seams, whole) < 55.0  # measured 48 dB


def _tiny() -> nn.Module:
    from rawdenoise.networks.tiny import TinyNet

    torch.manual_seed(0)
    return TinyNet().eval()


@pytest.mark.parametrize(
    ("h", "w", "m", "tile", "overlap"),
    [(5, 7, 16, 16, 0), (37, 53, 4, 16, 4), (100, 64, 16, 48, 16), (161, 97, 1, 40, 13)],
)
def test_identity_network_comes_back_exactly(h, w, m, tile, overlap) -> None:
    """Weights sum to one everywhere, reflect padding is cropped, odd sizes survive."""
    x = np.random.default_rng(1).random((4, h, w), dtype=np.float32)
    y = denoise(Identity(), x, multiple_of=m, tile=tile, overlap=overlap)
    assert y.shape == x.shape and y.dtype == np.float32
    np.testing.assert_allclose(y, x, atol=2e-6)


def test_output_clipped_to_unit_range_input_not_clipped_here() -> None:
    class Gain(nn.Module):
        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return 2 * x - 0.5

    x = np.linspace(-0.2, 1.0, 4 * 32 * 32, dtype=np.float32).reshape(4, 32, 32)
    y = denoise(Gain(), x, multiple_of=4, tile=16, overlap=4)
    assert y.min() == 0.0 and y.max() == 1.0
    np.testing.assert_allclose(y, np.clip(2 * x - 0.5, 0, 1), atol=1e-6)


def test_output_below_black_kept_down_to_the_lower_clip_process_uses() -> None:
    class Shift(nn.Module):
        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return x - 0.01

    x = np.full((4, 32, 32), 0.005, dtype=np.float32)  # a near-black flat area
    kept = denoise(Shift(), x, multiple_of=4, tile=16, overlap=4, low=BELOW_BLACK)
    clipped = denoise(Shift(), x, multiple_of=4, tile=16, overlap=4)
    np.testing.assert_allclose(kept, -0.005, atol=1e-6)  # the mean stays where it was put
    assert clipped.min() == 0.0


def test_network_input_does_not_grow_with_the_image() -> None:
    small, large = Recorder(Identity()), Recorder(Identity())
    denoise(small, np.zeros((4, 64, 64), np.float32), multiple_of=16, tile=64)
    denoise(large, np.zeros((4, 700, 1100), np.float32), multiple_of=16, tile=64)
    assert max(np.prod(s[-2:]) for s in large.shapes) <= 64 * 64
    assert len(large.shapes) > 20
    # the automatic tile comes from the device budget, not from the image
    cpu = torch.device("cpu")
    assert choose_tile(16, device=cpu, bytes_per_pixel=1600, budget=2**28) == 400


def test_auto_tile_respects_the_memory_budget(monkeypatch) -> None:
    monkeypatch.setattr(devices, "memory_budget", lambda device: 40 * 2**20)
    net = Recorder(_tiny())
    bpp = tiling.estimate_bytes_per_pixel(
        net.inner, 4, device=torch.device("cpu"), dtype=torch.float32
    )
    y = denoise(net, np.full((4, 600, 600), 0.3, np.float32), multiple_of=4)
    assert y.shape == (4, 600, 600)
    biggest = max(np.prod(s[-2:]) for s in net.shapes[1:])  # [0] is the probe
    assert biggest * bpp <= 40 * 2**20
    assert len(net.shapes) > 2


def test_24mp_cpu_layout_wastes_little() -> None:
    """A 24 MP frame (1500x2000 packed) under the CPU cap: few tiles, < 10% recomputed."""
    side = choose_tile(16, device=torch.device("cpu"), bytes_per_pixel=1600, budget=1280 * 2**20)
    plan = plan_tiles(
        1500, 2000, multiple_of=16, max_side=2 * side, max_pixels=side * side, overlap=64
    )
    assert plan.count == 4 and plan.overhead < 1.10
    assert plan.tile_pixels <= side * side


def test_axis_layout_aligned_overlapping_and_blending_to_one() -> None:
    axis = plan_axis(1000, 4, 64, 16)
    assert all(s % 16 == 0 for s in axis.starts) and axis.length % 16 == 0
    ends = [s + axis.length for s in axis.starts]
    assert all(e - s >= 64 for e, s in zip(ends[:-1], axis.starts[1:], strict=False))
    assert axis.starts[0] == 0 and ends[-1] == axis.padded
    total = np.zeros(axis.padded)
    for s, w in zip(axis.starts, axis_weights(axis), strict=True):
        total[s : s + axis.length] += w
        assert w[0] == (1.0 if s == 0 else 0.0)  # a quarter of the overlap is discarded
    np.testing.assert_allclose(total, 1.0, atol=1e-6)


def test_default_overlap_scales_with_the_network_stride() -> None:
    assert default_overlap(16) == 32 and default_overlap(4) == 16 and default_overlap(1) == 16
    assert default_overlap(32) == 32  # at most 32


def test_progress_reports_every_batch() -> None:
    calls: list[tuple[int, int]] = []
    x = np.zeros((4, 100, 100), np.float32)
    denoise(
        Identity(),
        x,
        multiple_of=4,
        tile=40,
        overlap=8,
        batch=2,
        progress=lambda *a: calls.append(a),
    )
    total = calls[-1][1]
    assert calls[0] == (0, total) and calls[-1] == (total, total) and total >= 9


def test_bf16_on_cpu_close_to_fp32() -> None:
    x = np.random.default_rng(0).random((4, 64, 64), dtype=np.float32) * 0.5
    a = denoise(_tiny(), x, multiple_of=4, tile=0)
    b = denoise(_tiny(), x, multiple_of=4, tile=0, precision="bf16")
    assert 30.0 < psnr(a, b) < float("inf")


def test_device_and_precision_choices() -> None:
    assert choose_device("auto").type in ("cpu", "cuda", "mps")
    assert choose_device("cpu").type == "cpu"
    with pytest.raises(UsageError):
        choose_device("tpu")
    cpu = torch.device("cpu")
    with pytest.raises(UsageError, match="fp16 runs only on a GPU"):
        resolve_precision("fp16", cpu)
    assert resolve_precision("bf16", cpu) == torch.bfloat16
    with pytest.raises(UsageError):
        resolve_precision("fp8", cpu)
    if not torch.cuda.is_available():
        with pytest.raises(ResourceError, match="CUDA"):
            choose_device("cuda")


def test_each_torchrun_process_takes_its_own_gpu(monkeypatch) -> None:
    """Bare ``cuda``/``auto`` mean cuda:LOCAL_RANK (modulo the GPUs); checked without a GPU."""
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 2)
    assert choose_device("cuda", local_rank=3) == torch.device("cuda", 1)
    monkeypatch.setenv("LOCAL_RANK", "1")
    assert choose_device("auto") == torch.device("cuda", 1)
    assert choose_device("cuda:0") == torch.device("cuda", 0)
    with pytest.raises(ResourceError, match="no CUDA device 5"):
        choose_device("cuda:5")
    monkeypatch.setenv("LOCAL_RANK", "abc")
    with pytest.raises(UsageError, match="LOCAL_RANK"):
        choose_device("cuda")
    with pytest.raises(UsageError, match="invalid device"):
        choose_device("cuda:x")


def test_bad_tile_arguments_are_usage_errors() -> None:
    x = np.zeros((4, 200, 200), np.float32)
    with pytest.raises(UsageError, match="at least 16"):
        denoise(Identity(), x, multiple_of=16, tile=8)
    with pytest.raises(UsageError, match="larger than the overlap"):
        denoise(Identity(), x, multiple_of=16, tile=64, overlap=64)


def test_precision_auto_is_bf16_only_where_the_cpu_computes_it_natively(monkeypatch) -> None:
    import torch

    from rawdenoise import devices

    cpu = torch.device("cpu")
    monkeypatch.setattr(devices, "cpu_has_native_bf16", lambda: True)
    assert devices.auto_precision(cpu) == "bf16"
    assert devices.resolve_precision("auto", cpu) == torch.bfloat16
    monkeypatch.setattr(devices, "cpu_has_native_bf16", lambda: False)
    assert devices.auto_precision(cpu) == "fp32"
    assert devices.resolve_precision("AUTO", cpu) == torch.float32
    assert devices.auto_precision(torch.device("mps")) == "fp32"


def _fewest_pixels_one_by_one(height, width, *, multiple_of, max_side, max_pixels, overlap):
    """plan_tiles' choice written as the plain double loop over every (rows, cols) pair."""
    from rawdenoise.tiling import axis_options

    best, columns = None, axis_options(width, overlap, multiple_of)
    for rows in axis_options(height, overlap, multiple_of):
        for cols in columns:
            if rows.length > max_side or cols.length > max_side:
                continue
            if rows.length * cols.length > max_pixels:
                continue
            key = (rows.computed * cols.computed, rows.count * cols.count)
            if best is None or key < best[0]:
                best = (key, (rows, cols))
    return None if best is None else best[1]


def test_the_tile_layout_is_the_one_computing_fewest_pixels_then_fewest_tiles() -> None:
    rng = np.random.default_rng(4)
    checked = 0
    for _ in range(60):
        h, w = (int(v) for v in rng.integers(1, 1000, 2))
        m = int(rng.choice([4, 8, 16]))
        side = int(rng.choice([64, 256, 768]))
        overlap = int(rng.choice([0, 16, 64]))
        if side <= -(-overlap // m) * m:
            continue
        limits = {"max_side": 2 * side, "max_pixels": side * side}
        want = _fewest_pixels_one_by_one(h, w, multiple_of=m, overlap=overlap, **limits)
        got = plan_tiles(h, w, multiple_of=m, overlap=overlap, **limits)
        if want is not None:
            assert (got.rows, got.cols) == want, (h, w, m, side, overlap)
            checked += 1
    assert checked > 40
