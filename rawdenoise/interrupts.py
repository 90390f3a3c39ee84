"""Ctrl-C and SIGTERM unwind the same way, and never split a critical section.

Batch schedulers, ``timeout`` and ``kill`` stop a program with SIGTERM, whose default action
kills the process on the spot: temporary files stay behind and nothing is reported. While
:func:`handled` is active, SIGTERM raises :class:`Terminated` (a ``KeyboardInterrupt``), so
every ``finally`` and cleanup that runs for Ctrl-C runs for it too, and the command exits with
its own code (143, 130 for Ctrl-C).

A signal can arrive between any two bytecodes, including between creating a temporary file and
remembering its name, or in the middle of a cleanup. :func:`deferred` holds the exception back
until such a section is over. It works at the Python level (the handler checks a counter)
rather than with ``pthread_sigmask``: a blocked signal is still delivered to torch's worker
threads, and Python then runs the handler in the main thread anyway.

An exception raised by a signal handler can also be lost: C code that calls back into Python
and clears errors (``PyObject_HasAttr`` on a module's ``__getattr__`` during torch's lazy
imports does) swallows it, and the program goes on, sometimes with a half-imported module.
The request is therefore remembered: :func:`check` raises it again at the next safe point,
and the CLI reports any later failure as the interruption it is.
"""

from __future__ import annotations

import contextlib
import signal
import threading
from collections.abc import Iterator
from typing import Any

from rawdenoise.errors import ExitCode


class Interrupted(KeyboardInterrupt):
    """Ctrl-C (SIGINT) received while :func:`handled` was active.

    A subclass, not ``KeyboardInterrupt`` itself: CPython remembers an exact
    ``KeyboardInterrupt`` that escapes ``exec()`` of a string (namedtuple and dataclass
    creation use it, so any import may) and then kills the process with SIGINT when it exits,
    whatever exit code the command chose.
    """

    def __init__(self, signum: int = signal.SIGINT) -> None:
        super().__init__(signal.Signals(signum).name)
        self.signum = signum


class Terminated(Interrupted):
    """SIGTERM received: unwinds like Ctrl-C, exits with :attr:`ExitCode.TERMINATED`."""

    def __init__(self, signum: int = signal.SIGTERM) -> None:
        super().__init__(signum)


def exit_code(exc: KeyboardInterrupt) -> ExitCode:
    """130 for Ctrl-C, 143 for SIGTERM."""
    return ExitCode.TERMINATED if isinstance(exc, Terminated) else ExitCode.INTERRUPTED


def describe(exc: KeyboardInterrupt) -> str:
    """The one-line message for an interruption."""
    return f"interrupted ({exc.args[0]})" if isinstance(exc, Terminated) else "interrupted"


_depth = 0  #: nesting of :func:`deferred` sections in the main thread
_pending: KeyboardInterrupt | None = None  #: what arrived during one, raised when it ends
_over = False  #: the command has finished: a signal now has nothing left to stop
_requested: KeyboardInterrupt | None = None  #: the first interruption, even if it was lost


def interruption(signum: int) -> KeyboardInterrupt:
    """The exception a signal turns into."""
    return Interrupted(signum) if signum == signal.SIGINT else Terminated(signum)


def raise_or_defer(exc: KeyboardInterrupt) -> None:
    """Raise ``exc`` now, or once the current :func:`deferred` section ends."""
    global _pending
    if _depth > 0:
        if _pending is None:
            _pending = exc
        return
    raise exc


def _handler(signum: int, _frame: Any) -> None:
    global _requested
    if not _over:
        exc = interruption(signum)
        if _requested is None:
            _requested = exc
        raise_or_defer(exc)


def requested() -> KeyboardInterrupt | None:
    """The interruption asked for while the command ran (None: none, or it is over)."""
    return None if _over else _requested


def check() -> None:
    """Raise the interruption asked for, if any: a safe point (between files, steps) where one
    that library code swallowed is noticed after all."""
    asked = requested()
    if asked is not None and _depth == 0:
        raise asked


def command_over() -> None:
    """The command's work is done (its exit code is known): ignore signals from now on, so
    that one arriving while the process exits cannot turn a finished run into a crash."""
    global _over
    _over = True


@contextlib.contextmanager
def deferred() -> Iterator[None]:
    """Hold Ctrl-C and SIGTERM back while the block runs; raise them when it ends."""
    global _depth, _pending
    if threading.current_thread() is not threading.main_thread():
        yield  # handlers only ever run in the main thread
        return
    _depth += 1
    try:
        yield
    finally:
        _depth -= 1
        if _depth == 0 and _pending is not None:
            exc, _pending = _pending, None
            raise exc


@contextlib.contextmanager
def allowed() -> Iterator[None]:
    """Inside a :func:`deferred` section, let signals through again (restored afterwards)."""
    global _depth, _pending
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    saved, _depth = _depth, 0
    try:
        if _pending is not None:
            exc, _pending = _pending, None
            raise exc
        yield
    finally:
        _depth = saved


def preload(*modules: str) -> None:
    """Import heavy extension modules (torch, numpy, rawpy, scipy) with signals held back.

    An exception raised while such a module initializes can end far worse than an
    interrupted command: torch's C++ start-up aborts the process (SIGABRT), and an import
    half done leaves a module that fails later. A Ctrl-C during the import waits for it (a
    second or so), then stops the command as usual.
    """
    import importlib

    with deferred():
        for name in modules:
            importlib.import_module(name)


#: signals turned into exceptions; SIGINT already is one (KeyboardInterrupt), but it goes
#: through the same handler so that :func:`deferred` can hold it back
_SIGNALS = (signal.SIGINT, signal.SIGTERM)


@contextlib.contextmanager
def handled(*, restore: bool = True) -> Iterator[None]:
    """Route SIGINT and SIGTERM through :func:`raise_or_defer` while the block runs.

    A signal the parent set to be ignored (``nohup``, ``&`` in a script) stays ignored, and a
    handler someone else installed is left alone. The previous handlers are restored; unless
    ``restore`` is false: the process is about to exit, and the signals are then ignored
    (:func:`command_over`), because while the interpreter shuts down it would reset a Python
    handler to the default action, and a late signal would kill a finished run.
    """
    global _over, _requested
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    _over, _requested = False, None
    defaults = {signal.SIGINT: signal.default_int_handler, signal.SIGTERM: signal.SIG_DFL}
    previous: dict[int, Any] = {}
    for signum in _SIGNALS:
        current = signal.getsignal(signum)
        if current is defaults[signum]:
            previous[signum] = current
            signal.signal(signum, _handler)
    try:
        yield
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler if restore else signal.SIG_IGN)
