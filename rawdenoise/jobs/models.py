"""The jobs behind ``rawdenoise models``: list, import, describe and remove named models.

A named model is ``NAME.safetensors`` in the models folder; our files are described from their
header alone (no torch), other files are loaded. Each function returns plain dictionaries (the
``--json`` output of the command).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from rawdenoise.errors import InputError, OutputExistsError, RawDenoiseError, UsageError
from rawdenoise.ratio_blend import HIGH_PREFIX


def model_summary(name: str, path: Path) -> dict[str, Any]:
    """What our file's header says (no torch); ``error`` set when it cannot be read."""
    from rawdenoise.model_file import _info_from_metadata, read_header

    row: dict[str, Any] = {"name": name, "path": str(path)}
    try:
        row["size_bytes"] = path.stat().st_size
        metadata, tensors = read_header(path)
        model_info = _info_from_metadata(path, metadata)
    except (OSError, RawDenoiseError) as exc:
        row["error"] = str(exc)
        return row
    row["tensors"] = len(tensors)
    row["parameters"] = sum(  # a ratio blend's second weight set is not more parameters
        math.prod(int(d) for d in t.get("shape", []))
        for key, t in tensors.items()
        if not key.startswith(HIGH_PREFIX)
    )
    if model_info is None:
        row["error"] = "no rawdenoise metadata (re-import it with 'rawdenoise models import')"
        return row
    row.update(model_info.to_dict())
    row["name"] = name
    return row


def list_named_models() -> list[dict[str, Any]]:
    """A :func:`model_summary` per named model (the bundled ``default`` first when installed)."""
    from rawdenoise.weights import list_models

    return [model_summary(name, path) for name, path in list_models()]


@dataclass(frozen=True)
class ImportOptions:
    """One field per option of ``rawdenoise models import``."""

    source: Path
    name: str
    arch: str | None = None
    option: tuple[str, ...] = ()
    camera: str | None = None
    ratio_range: str | None = None
    overwrite: bool = False


@dataclass
class Imported:
    row: dict[str, Any]  #: :func:`model_summary` of the new file, with ``notes``
    target: Path
    notes: tuple[str, ...]  #: what loading did (param key picked, ...)


def import_model(options: ImportOptions) -> Imported:
    """Convert a checkpoint (LED ``.pth``, a ``.safetensors``) into a named model."""
    from rawdenoise.interrupts import preload

    preload("torch")  # a Ctrl-C waits for them: see preload
    from rawdenoise.weights import load_model, parse_options, save_model

    name = options.name
    target = _new_model_path(name, options.overwrite, "importing", [options.source])
    text = options.ratio_range
    ratios = parse_ratio_range(text) if text is not None else None  # before loading
    loaded = load_model(options.source, arch=options.arch, options=parse_options(options.option))
    model_info = replace(loaded.info, name=name)
    if options.camera is not None:
        model_info = replace(model_info, camera=options.camera)
    if ratios is not None:
        model_info = replace(model_info, ratio_range=ratios)
    module = loaded.repnr if loaded.repnr is not None else loaded.network
    high_set = loaded.blend.high_tensors() if loaded.blend is not None else None
    save_model(target, module, model_info, overwrite=options.overwrite, more_tensors=high_set)
    row = model_summary(name, target)
    row["notes"] = list(loaded.notes)
    return Imported(row, target, tuple(loaded.notes))


def _new_model_path(name: str, overwrite: bool, doing: str, sources: list[str | Path]) -> Path:
    """Where the new named model ``name`` goes: refused if bundled, if taken (unless
    ``overwrite``), or if it is one of the ``sources`` it is made from."""
    from rawdenoise.model_names import check_model_name, check_not_bundled
    from rawdenoise.weights import model_path

    check_model_name(name)
    check_not_bundled(name, hint="choose another --name for your model")
    target = model_path(name)
    if target.exists() and not overwrite:
        raise OutputExistsError(f"a model named {name!r} exists ({target})", path=target)
    for source in sources:
        if target.exists() and _same_file(source, target):
            raise InputError(
                f"{doing} {source} as {name!r} would replace the file it is read from",
                hint="choose another --name (inputs are never written)",
            )
    return target


@dataclass(frozen=True)
class BlendOptions:
    """One field per option of ``rawdenoise models blend``."""

    low_model: str
    high_model: str
    name: str
    ratios: str = ""
    overwrite: bool = False


def blend_models(options: BlendOptions) -> dict[str, Any]:
    """Write a named model blended by ratio (:func:`rawdenoise.ratio_blend_file.write_blend`): its
    :func:`model_summary`."""
    from rawdenoise.interrupts import preload

    preload("torch")  # a Ctrl-C waits for them: see preload
    from rawdenoise.ratio_blend_file import write_blend

    low, high = parse_ratio_range(options.ratios, "--ratios")
    if low == high:
        raise UsageError(
            f"invalid --ratios {options.ratios!r}: LOW must be below HIGH",
            hint="the first model runs up to LOW, the second from HIGH, a mix between",
        )
    sources: list[str | Path] = [options.low_model, options.high_model]
    target = _new_model_path(options.name, options.overwrite, "blending", sources)
    write_blend(options.low_model, options.high_model, low, high, target, name=options.name,
                overwrite=options.overwrite)  # fmt: skip
    return model_summary(options.name, target)


def _same_file(source: str | Path, target: Path) -> bool:
    """Whether the model ``source`` names (a file or a model's name) is the file ``target``."""
    import os

    from rawdenoise.model_names import resolve_model

    try:
        path = resolve_model(source)
    except RawDenoiseError:  # loading reports it
        return False
    try:
        return os.path.samefile(path, target)
    except OSError:
        return False


def parse_ratio_range(text: str, option: str = "--ratio-range") -> tuple[float, float]:
    """``"100-300"`` (or ``100,300``) -> (100.0, 300.0): finite, 0 < LOW <= HIGH."""
    hint = "write LOW-HIGH with finite numbers, 0 < LOW <= HIGH, e.g. 100-300"
    lo, sep, hi = text.replace(",", "-").partition("-")
    try:
        low, high = float(lo), float(hi)
    except ValueError:
        raise UsageError(f"invalid {option} {text!r}", hint=hint) from None
    if not sep or not (math.isfinite(low) and math.isfinite(high) and 0 < low <= high):
        raise UsageError(f"invalid {option} {text!r}", hint=hint)
    return low, high


def describe_model(
    model: str, arch: str | None = None, option: tuple[str, ...] | list[str] = ()
) -> dict[str, Any]:
    """What a model is (``models info``): from the header of our files, else by loading it."""
    from rawdenoise.model_file import is_safetensors
    from rawdenoise.weights import load_model, parse_options, resolve_model

    path = resolve_model(model)
    row = model_summary(path.stem, path) if is_safetensors(path) else {}
    if not row or "architecture" not in row or arch or option:
        loaded = load_model(path, arch=arch, options=parse_options(list(option)))
        row = {
            "name": loaded.info.name or path.stem,
            "path": str(path),
            "size_bytes": path.stat().st_size,
            "source": loaded.source,
            **loaded.info.to_dict(),
            "parameters": sum(p.numel() for p in loaded.network.parameters()),
            "notes": list(loaded.notes),
        }
    return row


def remove_model(name: str) -> Path:
    """Delete the named model's file (or link); returns its path."""
    from rawdenoise.model_names import (
        check_model_name,
        check_not_bundled,
        entry_problem,
        unknown_model_error,
    )
    from rawdenoise.weights import model_path

    check_model_name(name)
    check_not_bundled(name, removing=True)
    path = model_path(name)
    # a file (readable or not) or a symbolic link (even a dangling one) goes; a folder stays
    if path.is_dir() and not path.is_symlink():
        raise InputError(
            f"cannot remove {name!r}: {entry_problem(path)}",
            hint="rawdenoise removes model files only; move or delete the folder yourself",
        )
    if not (path.is_file() or path.is_symlink()):
        problem = entry_problem(path)
        if problem is not None:
            raise InputError(f"cannot remove {name!r}: {problem}")
        raise unknown_model_error(name)
    try:
        path.unlink()
    except OSError as exc:
        raise InputError(f"cannot remove {path}: {exc.strerror or exc}") from exc
    return path
