"""Progress of a batch of files on stderr: a live bar on a terminal, one log line per file off it.

On a terminal: a transient rich bar (files and the current file's tiles, with ETA). Not on a
terminal (``2> log``, a pipe, a batch scheduler): one plain line per file as it finishes, with
full paths, never wrapped or cut. A failed file is always one ``rawdenoise: error: ...`` line
(plus its hint), even with ``-q``; ``-q`` silences the rest.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from rawdenoise.cli._console import err_console, state

if TYPE_CHECKING:
    from rich.console import Console


def log_line(index: int, total: int, result: Any) -> str:
    """The line for one finished file: ``[3/10] done IN -> OUT (24.2 MP, ratio 100, 23.4 s)``."""
    where = f"[{index}/{total}]"
    if result.status == "done":
        facts = [f"{result.megapixels:.1f} MP"]
        if result.ratio is not None:
            facts.append(f"ratio {result.ratio:.4g}")
        facts.append(f"{result.seconds:.1f} s")
        return f"{where} done {result.source} -> {result.output} ({', '.join(facts)})"
    reason = f": {result.error}" if result.error else ""
    return f"{where} {result.status} {result.source}{reason}"


class FileProgress:
    """Context manager reporting a batch of ``files`` (see the module docstring)."""

    def __init__(self, files: int, console: Console | None = None) -> None:
        self.files = files
        self.console = console or err_console()
        self.bar: Any = None
        self.lines = not state.quiet and not self.console.is_terminal

    def __enter__(self) -> FileProgress:
        if state.quiet or self.files == 0 or not self.console.is_terminal:
            return self
        from rich.progress import (
            BarColumn,
            MofNCompleteColumn,
            Progress,
            TextColumn,
            TimeElapsedColumn,
            TimeRemainingColumn,
        )

        self.bar = Progress(
            TextColumn("{task.description}", markup=False),  # a file name, not markup
            BarColumn(),
            MofNCompleteColumn(),
            TimeElapsedColumn(),
            TextColumn("eta"),
            TimeRemainingColumn(),
            console=self.console,
            transient=True,
        )
        self.bar.start()
        self.files_task = self.bar.add_task("files", total=self.files)
        self.tiles_task = self.bar.add_task("tiles", total=1, visible=False)
        return self

    def __exit__(self, *exc: object) -> None:
        if self.bar is not None:
            self.bar.stop()

    def start_file(self, index: int, name: str) -> None:
        if self.bar is not None:
            self.bar.update(self.tiles_task, description=name, completed=0, total=1, visible=True)

    def follow(self, events: Any) -> None:
        """Show the progress a :class:`~rawdenoise.jobs.process.ProcessEvents` reports."""
        events.file_started = lambda index, job: self.start_file(index, job.source.name)
        events.tiles, events.file_done = self.tiles, self.file_done

    def tiles(self, index: int, done: int, total: int) -> None:
        if self.bar is not None:
            self.bar.update(self.tiles_task, completed=done, total=total)
            self.bar.update(self.files_task, completed=index + done / max(total, 1))

    def file_done(self, completed: int, result: Any) -> None:
        """``result`` (a :class:`rawdenoise.pipeline.FileResult`) is the ``completed``-th file."""
        if self.bar is not None:
            self.bar.update(self.files_task, completed=completed)
            self.bar.update(self.tiles_task, visible=False)
        if result.status == "failed":
            self._error(result)
        elif self.lines:
            self._print(log_line(completed, self.files, result))

    def _error(self, result: Any) -> None:
        """A failed file: one error line now (the batch goes on)."""
        self._print(f"rawdenoise: error: {result.error}")
        if result.hint:
            self._print(f"hint: {result.hint}")

    def _print(self, text: str) -> None:
        self.console.print(text, markup=False, highlight=False, soft_wrap=True)
