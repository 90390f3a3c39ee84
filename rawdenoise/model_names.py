"""Model names and paths: ``NAME.safetensors`` in the models folder, the bundled ``default``,
and what a ``--model`` value refers to (a name or a file); ``KEY=VALUE`` architecture options."""

from __future__ import annotations

import json
import os
import re
from pathlib import Path
from typing import TYPE_CHECKING, Any

from rawdenoise.dirs import models_dir
from rawdenoise.errors import ModelFileError, PluginError, UsageError

if TYPE_CHECKING:
    pass

#: The file suffix of our model files.
SUFFIX = ".safetensors"
#: The bundled model that ``--model default`` names.
DEFAULT_NAME = "default"
PACKAGED_DEFAULT = Path(__file__).resolve().parent / "models" / "default.safetensors"
#: The bundled model trained for fidelity (level, colour, geometry; model card), by name.
FAITHFUL_NAME = "faithful"
PACKAGED_FAITHFUL = Path(__file__).resolve().parent / "models" / "faithful.safetensors"
#: Suffixes that make a ``--model`` value a path rather than a name.
MODEL_SUFFIXES = (".safetensors", ".pth", ".pt", ".ckpt", ".bin")
_NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._+-]{0,99}$")


def check_model_name(name: str) -> str:
    """``name`` if it is a valid model name, else :class:`UsageError`."""
    if not isinstance(name, str) or not _NAME_RE.match(name) or name.endswith(SUFFIX):
        raise UsageError(
            f"invalid model name {name!r}",
            hint="use letters, digits, '.', '_', '+' and '-' (no path, no extension)",
        )
    return name


def bundled_models() -> dict[str, Path]:
    """The names reserved for models shipped with rawdenoise, and where their files are."""
    return {DEFAULT_NAME: PACKAGED_DEFAULT, FAITHFUL_NAME: PACKAGED_FAITHFUL}


def check_not_bundled(name: str, hint: str | None = None, *, removing: bool = False) -> None:
    """:class:`UsageError` if ``name`` is a bundled model's (never written or removed)."""
    if name in bundled_models():
        message = (
            f"the bundled model {name!r} cannot be removed"
            if removing
            else f"{name!r} names a bundled model"
        )
        raise UsageError(message, hint=hint)


def model_path(name: str) -> Path:
    """Where the model ``name`` lives: ``models_dir()/NAME.safetensors`` (bundled names: in the
    package)."""
    check_model_name(name)
    bundled = bundled_models().get(name)
    if bundled is not None:
        return bundled
    return models_dir() / f"{name}{SUFFIX}"


def list_models() -> list[tuple[str, Path]]:
    """(name, path) of every named model: the bundled ones (if present), then the user's."""
    bundled = bundled_models()
    out: list[tuple[str, Path]] = [(n, p) for n, p in bundled.items() if p.is_file()]
    folder = models_dir()
    if folder.is_dir():
        for path in sorted(folder.glob(f"*{SUFFIX}")):
            name = path.name[: -len(SUFFIX)]
            if name not in bundled and _NAME_RE.match(name) and not name.startswith("."):
                out.append((name, path))
    return out


def _looks_like_path(ref: str) -> bool:
    return (
        "/" in ref
        or "\\" in ref
        or ref.lower().endswith(MODEL_SUFFIXES)
        or ref.startswith((".", "~"))
        or not _NAME_RE.match(ref)
    )


def entry_problem(path: Path) -> str | None:
    """Why ``path`` (an entry of the models folder) is no model file, or ``None`` if it may be.

    ``None`` also for a path that does not exist at all.
    """
    if path.is_symlink() and not path.exists():
        try:
            target = f" to {os.readlink(path)}"
        except OSError:
            target = ""
        return f"{path} is a dangling symbolic link{target}"
    if path.is_dir():
        return f"{path} is a folder, not a model file"
    if path.exists() and not path.is_file():
        return f"{path} is not a regular file"
    return None


def resolve_model(ref: str | Path) -> Path:
    """The file ``ref`` names: a path, a model name in ``models_dir()``, or a bundled name."""
    if not isinstance(ref, Path) and not str(ref).strip():
        raise UsageError(
            "the model name or path is empty",
            hint="give a model name (see 'rawdenoise models list'), 'default' or a file path",
        )
    if isinstance(ref, Path) or _looks_like_path(str(ref)):
        path = Path(ref).expanduser()
        if not path.exists():
            raise ModelFileError(f"model file {path} does not exist")
        if not path.is_file():
            raise ModelFileError(f"{path} is not a file")
        return path
    name = str(ref)
    bundled = bundled_models().get(name)
    if bundled is not None:
        if bundled.is_file():
            return bundled
        raise PluginError(
            f"the bundled {name!r} model is not part of this installation",
            hint="import a pretrained model: 'rawdenoise models import LED_Pretrain_xxx.pth "
            "--name led' (LED's UNet checkpoints, github.com/Srameo/LED, non-commercial "
            "licence) and pass '--model led', or train one with 'rawdenoise pretrain'",
        )
    path = model_path(name)
    if path.is_file():
        return path
    if Path(name).is_file():  # a file in the current folder without an extension
        return Path(name)
    problem = entry_problem(path)
    if problem is not None:  # listed by 'models list' as unreadable: say why, not "unknown"
        raise ModelFileError(
            f"model {name!r} is unreadable: {problem}",
            hint="a folder is never a model; move it out of the models folder"
            if path.is_dir() and not path.is_symlink()
            else f"remove it with 'rawdenoise models remove {name}'",
        )
    raise unknown_model_error(name)


def unknown_model_error(name: str) -> PluginError:
    """The error for a model name that is not registered, with did-you-mean suggestions."""
    import difflib

    known = [n for n, _ in list_models() if n != name]
    close = difflib.get_close_matches(name, known, n=3)
    hint = (
        f"did you mean {', '.join(close)}?"
        if close
        else "see 'rawdenoise models list'; register a file with 'rawdenoise models import "
        "FILE --name NAME'"
    )
    return PluginError(f"unknown model {name!r}", hint=hint)


def parse_options(pairs: list[str] | tuple[str, ...] | None) -> dict[str, Any]:
    """``["channels=16", "bias=false"]`` -> ``{"channels": 16, "bias": False}`` (for ``--option``).

    Values are read as JSON (numbers, true/false, null, lists) and otherwise kept as strings.
    """
    out: dict[str, Any] = {}
    for pair in pairs or ():
        key, sep, value = pair.partition("=")
        key = key.strip()
        if not sep or not key.isidentifier():
            raise UsageError(f"invalid option {pair!r}", hint="write --option KEY=VALUE")
        text = value.strip()
        try:
            out[key] = json.loads(text)
        except ValueError:
            lowered = text.lower()
            out[key] = {"true": True, "false": False, "none": None}.get(lowered, text)
    return out
