"""Leave a CPU core to each background stage of a batch while it works.

``process`` decodes the next file and writes the previous one in threads while the network
runs. When torch's threads already occupy every core, a third busy thread does not run beside
them: it takes a core from one of them in the middle of a parallel region, and every thread
then waits at the region's end for the one it displaced. :class:`CoreShare` counts the
background stages at work, and before each tile the network runs on the cores they leave (at
least one). A tile's output does not depend on the number of threads (checked bit for bit,
fp32 and bf16, 1 and 2 threads), only its time does.

Measured on a 2-core Xeon with AMX (2 threads, a folder of eight 24 MP DNGs, ``-f dng``, two
runs each, alternating): bf16 3.65 / 3.70 s per file, 4.24 / 4.56 s without; fp32 9.57 / 9.71
s, 9.48 / 10.15 s without (a tie: the network's share of the time is larger).
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable
from typing import Any, TypeVar

T = TypeVar("T")


def usable_cores() -> int:
    """The cores this process may run on."""
    if hasattr(os, "sched_getaffinity"):
        return max(len(os.sched_getaffinity(0)), 1)
    return max(os.cpu_count() or 1, 1)


class CoreShare:
    """Background stages at work, and the torch threads that leaves the network.

    Counting starts at once (a batch reads its first file while torch is imported); the
    network's own thread count is given to :meth:`start` once torch is there.
    """

    def __init__(self, cores: int | None = None) -> None:
        self.cores = usable_cores() if cores is None else max(int(cores), 1)
        self.threads = 0  #: the network's threads with nothing beside it (0: not started)
        self._busy = 0
        self._lock = threading.Lock()

    def start(self, threads: int) -> None:
        self.threads = max(int(threads), 1)

    def working(self, fn: Callable[..., T]) -> Callable[..., T]:
        """``fn`` counted as a background stage at work while it runs."""

        def run(*args: Any, **kwargs: Any) -> T:
            with self._lock:
                self._busy += 1
            try:
                return fn(*args, **kwargs)
            finally:
                with self._lock:
                    self._busy -= 1

        return run

    def network_threads(self) -> int:
        """Threads for the network's next tile: its own, within the cores the stages leave."""
        return max(min(self.threads, self.cores - self._busy), 1)

    def apply(self) -> None:
        """Set torch's CPU threads for the next tile (a no-op when they are already right)."""
        import torch

        if not self.threads:
            return
        wanted = self.network_threads()
        if torch.get_num_threads() != wanted:
            torch.set_num_threads(wanted)

    def restore(self) -> None:
        """Give the network its own thread count back."""
        import torch

        if self.threads and torch.get_num_threads() != self.threads:
            torch.set_num_threads(self.threads)
