"""Typer parameter helpers shared by commands that take paths."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import typer


def path_parser(*, file_okay: bool = True, dir_okay: bool = True) -> Callable[[Any], Path]:
    """A typer ``parser`` for path options that refuses an empty value.

    Typer turns ``""`` into ``Path(".")``, so ``--dark ""`` would silently mean the current
    folder; this parser keeps the raw text. It also does typer's file/folder checks.
    """

    def parse(value: Any) -> Path:
        if isinstance(value, Path):  # a default
            return value
        if str(value) == "":
            raise typer.BadParameter("an empty path; give a file or folder name")
        path = Path(value)
        if not file_okay and path.is_file():
            raise typer.BadParameter(f"dir {str(value)!r} is a file.")
        if not dir_okay and path.is_dir():
            raise typer.BadParameter(f"file {str(value)!r} is a directory.")
        return path

    return parse
