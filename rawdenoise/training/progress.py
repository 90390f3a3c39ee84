"""Training progress on stderr: a rich bar on a terminal, one log line at intervals otherwise.

Background runs (``nohup rawdenoise pretrain ... 2> log``) get readable lines instead of
terminal escape codes. ``None`` as the sink means quiet.
"""

from __future__ import annotations

import time
from typing import Protocol

from rich.console import Console


class ProgressSink(Protocol):
    def start(self, total: int, done: int, description: str) -> None: ...
    def update(self, done: int, loss: float, lr: float) -> None: ...
    def message(self, text: str) -> None: ...
    def close(self) -> None: ...


def _eta(seconds: float) -> str:
    seconds = max(int(seconds), 0)
    h, rem = divmod(seconds, 3600)
    m, s = divmod(rem, 60)
    return f"{h}:{m:02d}:{s:02d}" if h else f"{m}:{s:02d}"


class _Rate:
    """Iterations per second over this session (resumed iterations excluded)."""

    def __init__(self) -> None:
        self.t0 = time.perf_counter()
        self.first = 0

    def reset(self, done: int) -> None:
        self.t0 = time.perf_counter()
        self.first = done

    def rate(self, done: int) -> float:
        elapsed = time.perf_counter() - self.t0
        return (done - self.first) / elapsed if elapsed > 0 else 0.0


class LineProgress:
    """A plain line every ``every_s`` seconds (and at the end)."""

    def __init__(self, console: Console, every_s: float = 30.0) -> None:
        self.console = console
        self.every_s = every_s
        self.total = 0
        self.description = ""
        self.rate = _Rate()
        self.last = 0.0
        self.state: tuple[int, float, float] | None = None

    def start(self, total: int, done: int, description: str) -> None:
        self.total, self.description = total, description
        self.rate.reset(done)
        self.last = time.perf_counter()

    def update(self, done: int, loss: float, lr: float) -> None:
        self.state = (done, loss, lr)
        now = time.perf_counter()
        if now - self.last >= self.every_s or done >= self.total:
            self.last = now
            self._line()

    def _line(self) -> None:
        if self.state is None:
            return
        done, loss, lr = self.state
        r = self.rate.rate(done)
        eta = _eta((self.total - done) / r) if r > 0 else "?"
        self.console.print(
            f"{self.description} {done}/{self.total}  loss {loss:.5f}  lr {lr:.2e}  "
            f"{r:.2f} it/s  ETA {eta}",
            markup=False,
            highlight=False,
            soft_wrap=True,
        )

    def message(self, text: str) -> None:
        self.console.print(text, markup=False, highlight=False, soft_wrap=True)

    def close(self) -> None:
        pass


class RichProgress:
    """A live bar with loss, learning rate, it/s and ETA."""

    def __init__(self, console: Console) -> None:
        from rich.progress import (
            BarColumn,
            MofNCompleteColumn,
            Progress,
            TextColumn,
            TimeElapsedColumn,
        )

        self.console = console
        self.rate = _Rate()
        self.progress = Progress(
            TextColumn("[bold]{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TextColumn("loss {task.fields[loss]}"),
            TextColumn("lr {task.fields[lr]}"),
            TextColumn("{task.fields[speed]} it/s"),
            TimeElapsedColumn(),
            TextColumn("ETA {task.fields[eta]}"),
            console=console,
            transient=False,
        )
        self.task = None
        self.total = 0

    def start(self, total: int, done: int, description: str) -> None:
        self.total = total
        self.rate.reset(done)
        self.progress.start()
        self.task = self.progress.add_task(
            description, total=total, completed=done, loss="-", lr="-", speed="-", eta="?"
        )

    def update(self, done: int, loss: float, lr: float) -> None:
        r = self.rate.rate(done)
        self.progress.update(
            self.task,
            completed=done,
            loss=f"{loss:.5f}",
            lr=f"{lr:.1e}",
            speed=f"{r:.2f}",
            eta=_eta((self.total - done) / r) if r > 0 else "?",
        )

    def message(self, text: str) -> None:
        self.progress.console.print(text, markup=False, highlight=False)

    def close(self) -> None:
        self.progress.stop()


def make_progress(console: Console | None) -> ProgressSink | None:
    """The right sink for ``console`` (``None``: quiet)."""
    if console is None:
        return None
    return RichProgress(console) if console.is_terminal else LineProgress(console)
