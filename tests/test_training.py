"""Training machinery: device choice, schedules, seeding, checkpoints, exact resume."""

from __future__ import annotations

import itertools
import math
import os
import signal
from pathlib import Path

import numpy as np
import pytest
import torch
from torch import nn

from rawdenoise.errors import UsageError
from rawdenoise.training import loop
from rawdenoise.training.checkpoint import load_checkpoint
from rawdenoise.training.schedule import lr_factor
from rawdenoise.training.seeding import derive_seed, iteration_rng


def test_schedules() -> None:
    assert lr_factor("constant", 0, 10) == 1.0
    assert lr_factor("constant", 0, 10, warmup=4) == pytest.approx(0.25)
    assert lr_factor("cosine", 0, 11) == pytest.approx(1.0)
    assert lr_factor("cosine", 5, 11) == pytest.approx(0.5)
    assert lr_factor("cosine", 10, 11, final=0.1) == pytest.approx(0.1)
    values = [lr_factor("cosine", i, 100, warmup=10) for i in range(100)]
    assert values[9] == pytest.approx(1.0) and all(
        a >= b for a, b in itertools.pairwise(values[9:])
    )
    with pytest.raises(UsageError):
        lr_factor("step", 0, 10)


def test_iteration_rng_depends_on_seed_iteration_rank_only() -> None:
    cpu = torch.device("cpu")
    a = iteration_rng(7, 3, 0, cpu)
    b = iteration_rng(7, 3, 0, cpu)
    c = iteration_rng(7, 4, 0, cpu)
    d = iteration_rng(7, 3, 1, cpu)
    draw = lambda g: torch.rand(4, generator=g)  # noqa: E731
    assert torch.equal(draw(a.local), draw(b.local))
    assert not torch.equal(draw(iteration_rng(7, 3, 0, cpu).local), draw(c.local))
    # the shared generator is the same on every rank, the local one is not
    assert torch.equal(draw(iteration_rng(7, 3, 0, cpu).shared), draw(d.shared))
    assert not torch.equal(draw(iteration_rng(7, 3, 0, cpu).local), draw(d.local))
    assert derive_seed(1, 2) != derive_seed(2, 1)


def _toy(seed: int = 0) -> nn.Module:
    torch.manual_seed(seed)
    return nn.Sequential(nn.Conv2d(4, 8, 3, padding=1), nn.ReLU(), nn.Conv2d(8, 4, 3, padding=1))


def _stages(model: nn.Module) -> list[loop.Stage]:
    first, second = model[0], model[2]
    return [
        loop.Stage("one", 7, 1e-2, enter=lambda: first.parameters(), schedule="cosine"),
        loop.Stage("two", 5, 1e-3, enter=lambda: second.parameters()),
    ]


def _step(net: nn.Module, iteration: int, rng) -> torch.Tensor:
    x = torch.rand(2, 4, 12, 12, generator=rng.local)
    noisy = x + 0.1 * torch.randn(x.shape, generator=rng.device)
    return (net(noisy) - x).abs().mean()


def test_resume_gives_identical_weights(tmp_path) -> None:
    ckpt = tmp_path / "run.ckpt"
    cfg = dict(seed=3, device=torch.device("cpu"), fingerprint={"lr": 0.01})

    full = _toy()
    result = loop.run(full, _stages(full), _step, loop.LoopConfig(**cfg))
    assert result.iterations == 12 and math.isfinite(result.last_loss)

    for stop_after in (4, 7):  # inside the first stage, and exactly on the stage boundary
        ckpt.unlink(missing_ok=True)
        part = _toy()
        with pytest.raises(loop.TrainingInterrupted) as info:
            loop.run(
                part,
                _stages(part),
                _step,
                loop.LoopConfig(**cfg, checkpoint=ckpt, stop_after=stop_after),
            )
        assert info.value.exit_code == 130 and "--resume" in (info.value.hint or "")
        assert load_checkpoint(ckpt).iteration == stop_after
        resumed = _toy(seed=99)  # different initial weights: all come from the checkpoint
        out = loop.run(
            resumed,
            _stages(resumed),
            _step,
            loop.LoopConfig(**cfg, checkpoint=ckpt, resume=True),
        )
        assert out.resumed_from == stop_after
        theirs = resumed.state_dict()
        for k, v in full.state_dict().items():
            assert torch.equal(v, theirs[k]), k


def _prepare(iteration: int, rng) -> tuple[torch.Tensor, torch.Tensor]:
    x = torch.rand(2, 4, 12, 12, generator=rng.local)
    return x + 0.1 * torch.randn(x.shape, generator=rng.device), x


def _prepared_step(net: nn.Module, iteration: int, batch) -> torch.Tensor:
    noisy, x = batch
    return (net(noisy) - x).abs().mean()


def test_batches_made_ahead_or_in_turn_give_identical_weights() -> None:
    """The worker thread only changes when a batch is made, never what it is."""
    weights = {}
    for ahead in (True, False):
        model = _toy()
        cfg = loop.LoopConfig(seed=5, device=torch.device("cpu"), prefetch=ahead)
        loop.run(model, _stages(model), _prepared_step, cfg, prepare=_prepare)
        weights[ahead] = model.state_dict()
    for k, v in weights[True].items():
        assert torch.equal(v, weights[False][k]), k
    # and the same as a step that makes its own batch from the generators
    model = _toy()
    loop.run(model, _stages(model), _step, loop.LoopConfig(seed=5, device=torch.device("cpu")))
    for k, v in model.state_dict().items():
        assert torch.equal(v, weights[True][k]), k


def test_the_worker_thread_is_used_where_a_core_is_free(monkeypatch) -> None:
    cores = len(os.sched_getaffinity(0))
    monkeypatch.setattr(torch, "get_num_threads", lambda: cores)
    assert not loop.prefetch_pays(torch.device("cpu"))  # every core runs torch's threads
    assert loop.prefetch_pays(torch.device("cuda"))  # the CPU is idle during a GPU step
    if cores > 1:
        monkeypatch.setattr(torch, "get_num_threads", lambda: cores - 1)
        assert loop.prefetch_pays(torch.device("cpu"))


def test_periodic_checkpoints_and_fingerprint_mismatch(tmp_path) -> None:
    ckpt = tmp_path / "run.ckpt"
    seen: list[int] = []
    model = _toy()
    loop.run(
        model,
        _stages(model),
        _step,
        loop.LoopConfig(
            seed=1,
            device=torch.device("cpu"),
            checkpoint=ckpt,
            checkpoint_every=5,
            fingerprint={"lr": 0.01},
            on_checkpoint=seen.append,
        ),
    )
    assert seen == [5, 10]
    assert load_checkpoint(ckpt).iteration == 10  # the final iteration writes none
    with pytest.raises(UsageError, match=r"lr: 0.01 -> 0.02"):
        load_checkpoint(ckpt, {"lr": 0.02})


def test_divergence_is_reported() -> None:
    model = _toy()

    def bad(net, it, rng):
        return net(torch.full((1, 4, 4, 4), float("nan"))).mean()

    with pytest.raises(UsageError, match="diverged"):
        loop.run(model, _stages(model), bad, loop.LoopConfig(seed=0, device=torch.device("cpu")))


def test_sigterm_stops_after_the_step_with_a_checkpoint(tmp_path) -> None:
    ckpt = tmp_path / "run.ckpt"
    model = _toy()

    def step(net, iteration, rng):
        if iteration == 2:
            os.kill(os.getpid(), signal.SIGTERM)  # as `timeout` or a scheduler would
        return _step(net, iteration, rng)

    previous = signal.getsignal(signal.SIGTERM)
    with pytest.raises(loop.TrainingInterrupted, match="SIGTERM"):
        loop.run(
            model,
            _stages(model),
            step,
            loop.LoopConfig(seed=0, device=torch.device("cpu"), checkpoint=ckpt),
        )
    assert load_checkpoint(ckpt).iteration == 3  # the step in flight was finished and saved
    assert signal.getsignal(signal.SIGTERM) is previous


def test_crops_are_clamped_and_inside_the_frames() -> None:
    from rawdenoise.training.datasets import draw_crops, effective_crop

    assert effective_crop([(40, 64), (100, 100)], 256) == 40
    assert effective_crop([(40, 64)], 256, multiple_of=16) == 32
    assert effective_crop([(300, 300)], 256, multiple_of=16) == 256
    g = torch.Generator().manual_seed(0)
    sizes = [(40, 64), (33, 90)]
    for d in draw_crops(sizes, 200, 33, g):
        h, w = sizes[d.index]
        assert 0 <= d.top <= h - 33 and 0 <= d.left <= w - 33
    # a crop as large as the frame (LED crashed here) has one position
    assert {(d.top, d.left) for d in draw_crops([(32, 32)], 10, 32, g)} == {(0, 0)}


@pytest.mark.parametrize(("sample_by", "small_share"), [("pixel", 0.059), ("frame", 0.5)])
def test_clean_crops_pick_frames_by_area_or_equally(sample_by, small_share) -> None:
    from rawdenoise.training.datasets import CleanCrops
    from rawdenoise.training.frames import PackedFrame

    def frame(h: int, w: int, value: float) -> PackedFrame:
        data = np.full((4, h, w), value, dtype=np.float32)
        return PackedFrame(Path(f"{value}.dng"), data, (0.0,) * 4, (1.0,) * 4, "test")

    # a 64x64 frame beside a 256x256 one: 1/17 of the pixels
    crops = CleanCrops(
        [frame(256, 256, 0.25), frame(64, 64, 0.75)], 16, (1, 1), sample_by=sample_by
    )
    clean, _, _ = crops.batch(4000, torch.Generator().manual_seed(3))
    share = float((clean[:, 0, 0, 0] == 0.75).float().mean())
    assert share == pytest.approx(small_share, abs=0.03)
    with pytest.raises(ValueError, match="sample_by"):
        CleanCrops([frame(64, 64, 0.5)], 16, (1, 1), sample_by="area")


@pytest.mark.parametrize("content", ["garbage", "python object"])
def test_a_damaged_checkpoint_is_one_line_without_torchs_advice(tmp_path, content) -> None:
    from fractions import Fraction

    from rawdenoise.errors import InputError

    ckpt = tmp_path / "run.ckpt"
    if content == "garbage":
        ckpt.write_bytes(b"\x80\x02not a checkpoint at all" * 8)
    else:  # refused by weights_only loading, with several lines of torch's advice
        torch.save({"iteration": 1, "thing": Fraction(1, 3)}, ckpt)
    with pytest.raises(InputError, match="cannot read the checkpoint") as caught:
        load_checkpoint(ckpt)
    assert "\n" not in caught.value.message and "weights_only" not in caught.value.message


def steps(y: np.ndarray, x: np.ndarray, axis: int) -> set[tuple[int, int]]:
    """The (row, column) source steps between neighbouring output pixels along ``axis``."""
    dy, dx = np.diff(y, axis=axis).ravel(), np.diff(x, axis=axis).ravel()
    return {(int(a), int(b)) for a, b in zip(dy, dx, strict=True)}


@pytest.mark.parametrize("cfa", ["RGGB", "BGGR", "GRBG", "GBRG"])
@pytest.mark.parametrize("flips", [(v, h, t) for v in (0, 1) for h in (0, 1) for t in (0, 1)])
def test_crop_augmentation_keeps_the_bayer_geometry(cfa, flips) -> None:
    """Every augmented crop of a frame in the network's layout is a flipped/transposed window
    of the mosaic whose pixels keep their colours and neighbours."""
    from rawdenoise.bayer import RGGB, pack_rggb, pattern_from_cfa, unpack_bayer
    from rawdenoise.training.datasets import CropDraw, apply_crop

    pat = pattern_from_cfa(cfa)
    h, w = 20, 26  # RAW pixels; a pixel's value encodes where it is
    ys, xs = np.mgrid[0:h, 0:w]
    packed = pack_rggb((ys * 100 + xs).astype(np.float32), pat)
    colour_of = np.where(pat == 3, 1, pat)[ys % 2, xs % 2]  # G1 and G2 are one colour
    vflip, hflip, transpose = map(bool, flips)
    for top, left in ((1, 1), (3, 5), (4, 6)):  # (4, 6): the crop touches the far corner
        d = CropDraw(0, top, left, hflip, vflip, transpose)
        out = apply_crop(packed, d, 6).numpy()
        assert out.shape == (4, 6, 6)
        mosaic = unpack_bayer(out, RGGB)
        y, x = (mosaic // 100).astype(int), (mosaic % 100).astype(int)
        # each output pixel came from a pixel of the colour the RGGB block puts there
        assert np.array_equal(colour_of[y, x], np.tile([[0, 1], [1, 2]], (6, 6)))
        # a rigid window: steps of one pixel along each output axis, in the drawn directions
        step_x = (0, -1 if hflip else 1) if not transpose else (-1 if vflip else 1, 0)
        step_y = (-1 if vflip else 1, 0) if not transpose else (0, -1 if hflip else 1)
        assert steps(y, x, axis=1) == {step_x} and steps(y, x, axis=0) == {step_y}
        # the window stays within a packed pixel of the drawn one
        assert abs(int(y.min()) - 2 * top) <= 3 and abs(int(x.min()) - 2 * left) <= 3


def mosaic_domain_crop(data: np.ndarray, d, crop: int) -> np.ndarray:
    """The definition ``apply_crop`` implements with strided views: unpack the window (with a
    packed pixel of margin where the frame has it), flip/transpose the mosaic, repack."""
    from rawdenoise.bayer import RGGB, pack_bayer, unpack_bayer

    h, w = data.shape[1:]
    vflip, hflip = d.vflip and h > crop, d.hflip and w > crop
    if not (vflip or hflip or d.transpose):
        return data[:, d.top : d.top + crop, d.left : d.left + crop]
    top, left = min(d.top, max(h - crop - 1, 0)), min(d.left, max(w - crop - 1, 0))
    mosaic = unpack_bayer(data[:, top : top + crop + 1, left : left + crop + 1], RGGB)
    mosaic = mosaic[-2::-1] if vflip else mosaic
    mosaic = mosaic[:, -2::-1] if hflip else mosaic
    mosaic = mosaic[: 2 * crop, : 2 * crop]
    return pack_bayer(np.ascontiguousarray(mosaic.T if d.transpose else mosaic), RGGB)


@pytest.mark.parametrize("shape", [(9, 11), (6, 11), (9, 6), (6, 6), (7, 7)])
def test_bayer_crops_equal_the_mosaic_domain_flips_exactly(shape) -> None:
    """Every draw, the frame's edges and frames no larger than the crop included; and a batch
    holds exactly the crops its draws give one by one."""
    from rawdenoise.training.datasets import CleanCrops, CropDraw, apply_crop
    from rawdenoise.training.frames import PackedFrame

    h, w = shape
    data = np.random.default_rng(h * w).random((4, h, w), dtype=np.float32)
    for top in range(h - 6 + 1):
        for left in range(w - 6 + 1):
            for k in range(8):
                d = CropDraw(0, top, left, bool(k & 1), bool(k & 2), bool(k & 4))
                expected = mosaic_domain_crop(data, d, 6)
                assert np.array_equal(apply_crop(data, d, 6).numpy(), expected), (d, shape)
    crops = CleanCrops([PackedFrame(Path("f"), data, (0.0,) * 4, (1.0,) * 4, "c")], 6, (1, 1))
    clean, _, _ = crops.batch(16, torch.Generator().manual_seed(3))
    from rawdenoise.training.datasets import draw_crops

    draws = draw_crops([(h, w)], 16, 6, torch.Generator().manual_seed(3), weights=[1.0])
    for k, d in enumerate(draws):
        assert np.array_equal(clean[k].numpy(), mosaic_domain_crop(data, d, 6))


def test_untransformed_crops_are_the_drawn_window() -> None:
    from rawdenoise.training.datasets import CropDraw, apply_crop

    data = np.arange(4 * 10 * 12, dtype=np.float32).reshape(4, 10, 12)
    out = apply_crop(data, CropDraw(0, 2, 3, False, False, False), 5)
    assert np.array_equal(out.numpy(), data[:, 2:7, 3:8])


@pytest.mark.parametrize("failure", ["full", "through a file"])
def test_a_frame_cache_that_cannot_be_written_only_costs_decoding(
    make_dng, tmp_path, monkeypatch, failure
) -> None:
    """A full disk or an unusable cache folder: the frames are decoded and used all the same."""
    import errno

    from rawdenoise.training import frames as frame_cache

    frames_in = [make_dng(f"{n}.dng", h=32, w=32, seed=i) for i, n in enumerate("ab")]
    if failure == "full":
        cache = tmp_path / "frames"

        def no_space(*_args, **_kwargs):
            raise OSError(errno.ENOSPC, "No space left on device")

        monkeypatch.setattr(frame_cache.np, "save", no_space)
    else:
        (tmp_path / "file").write_bytes(b"x")
        cache = tmp_path / "file" / "frames"
    warnings: list[str] = []
    frames = frame_cache.load_clean_frames(frames_in, cache=cache, warn=warnings.append)
    assert [f.path for f in frames] == frames_in and warnings == []
    expected = [frame_cache.decode(p).data.clip(0, 1) for p in frames_in]
    assert all(np.array_equal(f.data, e) for f, e in zip(frames, expected, strict=True))
    assert not list(tmp_path.rglob("*.npy")) and not list(tmp_path.rglob(".*part*"))


def test_the_frame_cache_drops_entries_nothing_can_hit_again(make_dng, tmp_path) -> None:
    """Entries of an older cache version, of deleted sources and of changed sources go; the
    entries of frames that still exist stay and are read back."""
    import json

    from rawdenoise.training.frames import load_clean_frames

    cache = tmp_path / "frames"
    kept, gone, changed = (make_dng(f"{n}.dng", h=32, w=32, seed=i) for i, n in enumerate("abc"))
    load_clean_frames([kept, gone, changed], cache=cache)
    assert len(list(cache.glob("*.npy"))) == 3
    (cache / "0123456789abcdef0123.npy").write_bytes(b"old")  # what version 1 wrote
    (cache / "0123456789abcdef0123.json").write_text(json.dumps({"black": [0], "camera": "x"}))
    gone.unlink()
    make_dng("c.dng", h=32, w=40, seed=5)  # same name, other content: a new key
    frames = load_clean_frames([kept, changed], cache=cache)
    assert [f.size for f in frames] == [(16, 16), (16, 20)]
    entries = sorted(json.loads(m.read_text())["source"] for m in cache.glob("*.json"))
    assert entries == sorted(str(p.resolve()) for p in (kept, changed))
    assert len(list(cache.glob("*.npy"))) == 2
    # an array whose .json was never written (a crash between the two writes) goes once it
    # is an hour old; a younger one may be another run's entry being written
    old, young = cache / "00000000000000000001.npy", cache / "00000000000000000002.npy"
    for orphan in (old, young):
        orphan.write_bytes(b"array")
    os.utime(old, (os.path.getatime(old), os.path.getmtime(old) - 2 * 3600))
    # the atomic writer's temporary files (another run's write in progress, or a crash's
    # leftovers) are judged by age too, not read as entries: a young one is kept
    part_old, part_young = cache / ".0001.x1.part.json", cache / ".0002.x2.part.json"
    for part in (part_old, part_young):
        part.write_text('{"blac')
    os.utime(part_old, (os.path.getatime(part_old), os.path.getmtime(part_old) - 2 * 3600))
    load_clean_frames([kept], cache=cache)
    assert not old.exists() and young.exists()
    assert not part_old.exists() and part_young.exists()
