"""Exception hierarchy and process exit codes.

Every error a user can cause derives from :class:`RawDenoiseError`. The CLI turns one into a
single ``rawdenoise: error: <message>`` line (plus ``hint: <hint>`` when there is one) and exits
with the error's :class:`ExitCode`; anything else is a bug and exits with ``INTERNAL``.
"""

from __future__ import annotations

from enum import IntEnum
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from pathlib import Path


class ExitCode(IntEnum):
    """Documented exit codes of the ``rawdenoise`` command."""

    OK = 0
    INTERNAL = 1  #: a bug: please report it (run again with --debug for the traceback)
    USAGE = 2  #: bad command line: unknown option, invalid value, conflicting options
    BAD_INPUT = 3  #: an input file is missing, unreadable, not RAW, unsupported or inconsistent
    PLUGIN = 4  #: a plugin, architecture, camera profile or model name could not be resolved
    RESOURCE = 5  #: out of memory, disk full, an output that cannot be written or exists, no device
    INTERRUPTED = 130  #: Ctrl-C (SIGINT)
    TERMINATED = 143  #: SIGTERM (``kill``, ``timeout``, a batch scheduler)


class RawDenoiseError(Exception):
    """Base of all errors that are reported to the user as one line."""

    exit_code: ExitCode = ExitCode.INTERNAL

    def __init__(self, message: str, hint: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint

    def __str__(self) -> str:
        return self.message


class UsageError(RawDenoiseError):
    """The command line is wrong (invalid value, conflicting options)."""

    exit_code = ExitCode.USAGE


class InputError(RawDenoiseError):
    """An input file or its content is unusable."""

    exit_code = ExitCode.BAD_INPUT


class UnsupportedSensorError(InputError):
    """The file decodes but its sensor layout is not a 2x2 Bayer mosaic."""


class MissingExifError(InputError):
    """A required EXIF field (ISO, exposure time, ...) is absent."""


class ModelFileError(InputError):
    """A model or checkpoint file cannot be read or does not match its architecture."""


class PluginError(RawDenoiseError):
    """A plugin, architecture, camera profile or model name cannot be resolved."""

    exit_code = ExitCode.PLUGIN


class ResourceError(RawDenoiseError):
    """The machine lacks a resource: memory, disk space, a device."""

    exit_code = ExitCode.RESOURCE


class OutputError(ResourceError):
    """An output file cannot be written: disk full, read-only file system, permission denied,
    or a path that cannot hold a file (a folder in the way, a file where a folder should be).

    Every reason exits with ``RESOURCE``: one rule for whatever stops an output being written.
    ``path`` is the output that could not be written.
    """

    def __init__(self, message: str, hint: str | None = None, *, path: Path | None = None) -> None:
        super().__init__(message, hint)
        self.path = path


class OutputExistsError(OutputError):
    """An output (a file, a model name, a run's checkpoint) exists and ``--overwrite`` was not
    given: a file in the way. One rule for every command: nothing is replaced, exit 5."""

    def __init__(
        self,
        message: str,
        hint: str | None = "pass --overwrite to replace it",
        *,
        path: Path | None = None,
    ) -> None:
        super().__init__(message, hint, path=path)


class NetworkOutputError(PluginError):
    """A network returned something unusable: not a tensor, another shape than its input's,
    NaN or infinity. Raised where it is noticed; :func:`rawdenoise.registry.network_fault`
    turns it into the error that names the architecture's plugin (or blames the model)."""

    def __init__(self, message: str, hint: str | None = None, *, nonfinite: bool = False) -> None:
        super().__init__(message, hint)
        self.nonfinite = nonfinite
