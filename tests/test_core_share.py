"""process leaves a core to its reader and writer threads while they work."""

from __future__ import annotations

import threading

import pytest
import torch

from rawdenoise.core_share import CoreShare


def test_the_network_leaves_a_core_to_each_stage_at_work() -> None:
    share = CoreShare(cores=2)
    share.start(2)
    assert share.network_threads() == 2
    started, release = threading.Event(), threading.Event()

    def decode() -> str:
        started.set()
        release.wait(5)
        return "frame"

    worker = threading.Thread(target=lambda: results.append(share.working(decode)()))
    results: list[str] = []
    worker.start()
    assert started.wait(5)
    assert share.network_threads() == 1  # the decode has a core of its own
    release.set()
    worker.join(5)
    assert results == ["frame"] and share.network_threads() == 2


def test_never_below_one_thread_nor_above_its_own() -> None:
    share = CoreShare(cores=8)
    share.start(4)  # --threads 4 on 8 cores: stages fit beside it
    hold = threading.Event()
    stages = [threading.Thread(target=share.working(hold.wait), args=(5,)) for _ in range(3)]
    for t in stages:
        t.start()
    try:
        assert share.network_threads() == 4
        one = CoreShare(cores=1)
        one.start(1)
        assert one.network_threads() == 1
    finally:
        hold.set()
        for t in stages:
            t.join(5)


def test_a_failing_stage_is_no_longer_counted() -> None:
    share = CoreShare(cores=2)
    share.start(2)

    def broken() -> None:
        raise ValueError("bad file")

    with pytest.raises(ValueError):
        share.working(broken)()
    assert share.network_threads() == 2


def test_apply_sets_torchs_threads_and_restore_gives_them_back() -> None:
    before = torch.get_num_threads()
    share = CoreShare(cores=2)
    share.start(2)
    share._busy = 1  # a stage at work
    try:
        share.apply()
        assert torch.get_num_threads() == 1
        share._busy = 0
        share.restore()
        assert torch.get_num_threads() == 2
    finally:
        torch.set_num_threads(before)
