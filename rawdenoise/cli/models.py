"""``rawdenoise models``: list, import, inspect and remove named models.

A named model is ``NAME.safetensors`` in the models folder (``rawdenoise plugins --paths``);
every command that takes ``--model`` accepts such a name, ``default`` (the bundled model) or a
file path. ``import`` converts LED ``.pth`` checkpoints into our safetensors format.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import typer

from rawdenoise.cli._completion import (
    complete_arch,
    complete_model,
)
from rawdenoise.cli._console import emit_json, info, out_console
from rawdenoise.cli._errors import handle_errors

app = typer.Typer(
    help=(
        "List, import, inspect and remove named models. A name works wherever a command "
        "takes --model."
    ),
    no_args_is_help=True,
    context_settings={"help_option_names": ["-h", "--help"]},
)


def _format_ratio(ratio: Any) -> str:
    if not ratio:
        return "-"
    lo, hi = ratio
    return f"{lo:g}-{hi:g}"


def _format_options(options: dict[str, Any]) -> str:
    return ", ".join(f"{k}={v}" for k, v in options.items()) or "-"


def _summary(name: str, path: Path) -> dict[str, Any]:
    """What our file's header says (no torch); ``error`` set when it cannot be read."""
    from rawdenoise.errors import RawDenoiseError
    from rawdenoise.weights import _info_from_metadata, read_header

    row: dict[str, Any] = {"name": name, "path": str(path)}
    try:
        row["size_bytes"] = path.stat().st_size
        metadata, tensors = read_header(path)
        model_info = _info_from_metadata(path, metadata)
    except (OSError, RawDenoiseError) as exc:
        row["error"] = str(exc)
        return row
    count = 0
    for spec in tensors.values():
        n = 1
        for dim in spec.get("shape", []):
            n *= int(dim)
        count += n
    row["tensors"] = len(tensors)
    row["parameters"] = count
    if model_info is None:
        row["error"] = "no rawdenoise metadata (re-import it with 'rawdenoise models import')"
        return row
    row.update(model_info.to_dict())
    row["name"] = name
    return row


@app.command("list")
@handle_errors
def list_(
    json_out: bool = typer.Option(False, "--json", help="Print the result as JSON."),
) -> None:
    """Named models: the bundled `default` (when installed) and the ones you imported or trained."""
    from rawdenoise.dirs import models_dir
    from rawdenoise.weights import list_models

    rows = [_summary(name, path) for name, path in list_models()]
    if json_out:
        emit_json({"models_dir": str(models_dir()), "models": rows})
        return
    if not rows:
        info(
            f"no models in {models_dir()}; add one with 'rawdenoise models import FILE --name NAME'"
        )
        return
    from rich.table import Table

    table = Table(box=None, pad_edge=False)
    for column in ("name", "architecture", "kind", "camera", "ratio", "size"):
        table.add_column(column)
    for row in rows:
        if "architecture" not in row:
            table.add_row(row["name"], f"unreadable: {row.get('error', '?')}", "", "", "", "")
            continue
        kind = row["kind"] + (f" ({row['branches']} branches)" if row["kind"] == "repnr" else "")
        table.add_row(
            row["name"],
            f"{row['architecture']} ({_format_options(row['options'])})",
            kind,
            row["camera"] or "-",
            _format_ratio(row["ratio_range"]),
            f"{row['size_bytes'] / 1e6:.1f} MB",
        )
    out_console().print(table)


@app.command("import")
@handle_errors
def import_(
    source: Path = typer.Argument(
        ...,
        metavar="FILE",
        help="An LED checkpoint (.pth) or a model file (.safetensors).",
        show_default=False,
        readable=False,  # an unreadable file is bad input (exit 3), said by the loader
    ),
    name: str = typer.Option(
        ..., "--name", "-n", metavar="NAME", help="Name to register it under.", show_default=False
    ),
    arch: str | None = typer.Option(
        None,
        "--arch",
        metavar="NAME",
        help="Architecture of the file (default: recognised from its keys).",
    ),
    option: list[str] = typer.Option(
        [],
        "--option",
        "-O",
        metavar="KEY=VALUE",
        help="Architecture option KEY=VALUE (repeatable), e.g. channels=32.",
    ),
    camera: str | None = typer.Option(
        None, "--camera", metavar="CAMERA", help='Record the camera ("Make Model").'
    ),
    ratio_range: str | None = typer.Option(
        None,
        "--ratio-range",
        metavar="LOW-HIGH",
        help="Record the ratios it was trained for, e.g. 100-300.",
    ),
    overwrite: bool = typer.Option(False, "--overwrite", help="Replace a model with that name."),
    json_out: bool = typer.Option(False, "--json", help="Print the result as JSON."),
) -> None:
    """Convert a checkpoint into a named model in the models folder.

    LED checkpoints are read safely (tensors only): `params_deploy`, `params_ema` or `params`,
    `module.` prefixes, RepNR pretrain keys (kept, so `finetune` can start from them). The
    UNet's width is read from the weights; for other architectures pass `--arch` and
    `--option`. Example: `rawdenoise models import
    LED_Pretrain_MM22_PMN_Setting_Ratio100-300_Repnr.pth --name led-pmn`, then
    `--model led-pmn`.
    """
    from rawdenoise.interrupts import preload

    preload("torch")  # a Ctrl-C waits for them: see preload
    from dataclasses import replace

    from rawdenoise.errors import OutputExistsError, UsageError
    from rawdenoise.weights import (
        DEFAULT_NAME,
        check_model_name,
        load_model,
        model_path,
        parse_options,
        save_model,
    )

    check_model_name(name)
    if name == DEFAULT_NAME:
        raise UsageError(
            "'default' names the bundled model", hint="choose another --name for your model"
        )
    target = model_path(name)
    if target.exists() and not overwrite:
        raise OutputExistsError(f"a model named {name!r} exists ({target})", path=target)
    ratios = _parse_range(ratio_range) if ratio_range is not None else None  # before loading
    loaded = load_model(source, arch=arch, options=parse_options(option))
    model_info = replace(loaded.info, name=name)
    if camera is not None:
        model_info = replace(model_info, camera=camera)
    if ratios is not None:
        model_info = replace(model_info, ratio_range=ratios)
    module = loaded.repnr if loaded.repnr is not None else loaded.network
    save_model(target, module, model_info, overwrite=overwrite)
    row = _summary(name, target)
    row["notes"] = list(loaded.notes)
    if json_out:
        emit_json(row)
        return
    what = f"{row['architecture']} ({_format_options(row['options'])}), {row['kind']}"
    if row["kind"] == "repnr":
        what += f" with {row['branches']} camera branches"
    out_console().print(f"imported {source} as {name!r}: {what}", markup=False, soft_wrap=True)
    for note in loaded.notes:
        info(f"  {note}")
    info(f"saved {target}")


def _parse_range(text: str) -> tuple[float, float]:
    """``"100-300"`` (or ``100,300``) -> (100.0, 300.0): finite, 0 < LOW <= HIGH."""
    import math

    from rawdenoise.errors import UsageError

    hint = "write LOW-HIGH with finite numbers, 0 < LOW <= HIGH, e.g. 100-300"
    lo, sep, hi = text.replace(",", "-").partition("-")
    try:
        low, high = float(lo), float(hi)
    except ValueError:
        raise UsageError(f"invalid --ratio-range {text!r}", hint=hint) from None
    if not sep or not (math.isfinite(low) and math.isfinite(high) and 0 < low <= high):
        raise UsageError(f"invalid --ratio-range {text!r}", hint=hint)
    return low, high


@app.command("info")
@handle_errors
def info_(
    model: str = typer.Argument(..., help="A model name or a file path.", show_default=False),
    arch: str | None = typer.Option(
        None,
        "--arch",
        metavar="NAME",
        autocompletion=complete_arch,
        help="Architecture of a foreign file.",
    ),
    option: list[str] = typer.Option(
        [], "--option", "-O", metavar="KEY=VALUE", help="Architecture option KEY=VALUE."
    ),
    json_out: bool = typer.Option(False, "--json", help="Print the result as JSON."),
) -> None:
    """What a model is: architecture and options, kind, camera, ratio range, training summary.

    Our files are described from their header alone; other files (LED .pth) are loaded.
    """
    from rawdenoise.cli._show import compact
    from rawdenoise.weights import is_safetensors, load_model, parse_options, resolve_model

    path = resolve_model(model)
    row = _summary(path.stem, path) if is_safetensors(path) else {}
    if not row or "architecture" not in row or arch or option:
        loaded = load_model(path, arch=arch, options=parse_options(option))
        row = {
            "name": loaded.info.name or path.stem,
            "path": str(path),
            "size_bytes": path.stat().st_size,
            "source": loaded.source,
            **loaded.info.to_dict(),
            "parameters": sum(p.numel() for p in loaded.network.parameters()),
            "notes": list(loaded.notes),
        }
    if json_out:
        emit_json(row)
        return
    console = out_console()
    fields = (
        ("name", row.get("name")),
        ("path", row.get("path")),
        ("architecture", row.get("architecture")),
        ("options", _format_options(row.get("options") or {})),
        ("kind", row.get("kind")),
        ("branches", row.get("branches") if row.get("kind") == "repnr" else None),
        ("camera", row.get("camera")),
        ("ratio range", _format_ratio(row["ratio_range"]) if row.get("ratio_range") else None),
        ("target exposure", row.get("target_exposure")),
        ("auto level", row.get("auto_level")),
        ("trained on", row.get("trained_on")),
        ("base model", row.get("base_model")),
        ("parameters", f"{row['parameters']:,}" if "parameters" in row else None),
        ("size", f"{row['size_bytes'] / 1e6:.1f} MB" if "size_bytes" in row else None),
        ("rawdenoise", row.get("rawdenoise_version")),
    )
    for label, value in fields:
        if value not in (None, ""):
            console.print(f"{label + ':':17}{value}", markup=False)
    for key, value in (row.get("extra") or {}).items():  # numbers to 4 digits, big lists summarized
        shown = compact(value) or "-"
        console.print(f"{key + ':':16} {shown}", markup=False, soft_wrap=True)
    if any(isinstance(v, (dict, list)) for v in (row.get("extra") or {}).values()):
        console.print(f"{'':17}(every value in full: rawdenoise models info {model} --json)")
    for note in row.get("notes") or ():
        console.print(f"{'note:':17}{note}", markup=False)


@app.command("remove")
@handle_errors
def remove(
    name: str = typer.Argument(
        ..., help="The model name.", autocompletion=complete_model, show_default=False
    ),
    json_out: bool = typer.Option(False, "--json", help="Print the result as JSON."),
) -> None:
    """Delete a named model from the models folder."""
    from rawdenoise.errors import InputError, UsageError
    from rawdenoise.weights import (
        DEFAULT_NAME,
        check_model_name,
        entry_problem,
        model_path,
        unknown_model_error,
    )

    check_model_name(name)
    if name == DEFAULT_NAME:
        raise UsageError("the bundled 'default' model cannot be removed")
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
    if json_out:
        emit_json({"removed": name, "path": str(path)})
        return
    out_console().print(f"removed {name!r} ({path})", markup=False)
