"""``rawdenoise models``: list, import, blend, inspect and remove named models.

A named model is ``NAME.safetensors`` in the models folder (``rawdenoise plugins --paths``);
every command that takes ``--model`` accepts such a name, ``default`` (the bundled model) or a
file path. ``import`` converts LED ``.pth`` checkpoints into our safetensors format.
"""

from __future__ import annotations

from pathlib import Path

import typer

from rawdenoise.cli._completion import complete_arch, complete_model, complete_removable_model
from rawdenoise.cli._console import emit_json, info, out_console
from rawdenoise.cli._errors import handle_errors
from rawdenoise.cli._models_view import show_imported, show_info, show_list

app = typer.Typer(
    help=(
        "List, import, inspect and remove named models. A name works wherever a command "
        "takes --model."
    ),
    no_args_is_help=True,
    context_settings={"help_option_names": ["-h", "--help"]},
)


@app.command("list")
@handle_errors
def list_(json_out: bool = typer.Option(False, "--json", help="Print the result as JSON.")) -> None:
    """Named models: the bundled `default` and `faithful` (when installed), then yours."""
    from rawdenoise.dirs import models_dir
    from rawdenoise.jobs.models import list_named_models

    rows = list_named_models()
    if json_out:
        emit_json({"models_dir": str(models_dir()), "models": rows})
    elif not rows:
        info(
            f"no models in {models_dir()}; add one with 'rawdenoise models import FILE --name NAME'"
        )
    else:
        show_list(rows)


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
    from rawdenoise.cli._options import options_from
    from rawdenoise.jobs.models import ImportOptions, import_model

    done = import_model(options_from(ImportOptions, locals()))
    if json_out:
        emit_json(done.row)
    else:
        show_imported(done, source, name)


@app.command("blend")
@handle_errors
def blend(
    low_model: str = typer.Argument(
        ...,
        metavar="LOW_MODEL",
        help="The model for low ratios (a name or a file).",
        autocompletion=complete_model,
        show_default=False,
    ),
    high_model: str = typer.Argument(
        ...,
        metavar="HIGH_MODEL",
        help="The model for high ratios: a training of the same network from the same start.",
        autocompletion=complete_model,
        show_default=False,
    ),
    name: str = typer.Option(
        ..., "--name", "-n", metavar="NAME", help="Name of the new model.", show_default=False
    ),
    ratios: str = typer.Option(
        ...,
        "--ratios",
        metavar="LOW-HIGH",
        help="LOW_MODEL's weights up to LOW, HIGH_MODEL's from HIGH, e.g. 50-60.",
        show_default=False,
    ),
    overwrite: bool = typer.Option(False, "--overwrite", help="Replace a model with that name."),
    json_out: bool = typer.Option(False, "--json", help="Print the result as JSON."),
) -> None:
    """One model from two whose weights depend on the ratio.

    The new model runs LOW_MODEL up to ratio LOW, HIGH_MODEL from HIGH, and between them the
    two weight sets interpolated by log ratio (network interpolation). Both must be trainings
    of one network (same architecture, options, kind and camera branches) from the same
    start, e.g. a pretrained model and its continuation at high ratios (`pretrain --init`).
    `process` runs each file at its own ratio; `evaluate` each pair at its; `finetune` starts
    from the blend at the pairs' ratio. Example: `rawdenoise models blend mybase mybase-dark
    --ratios 50-60 --name mybase-all`.
    """
    from rawdenoise.cli._options import options_from
    from rawdenoise.jobs.models import BlendOptions, blend_models

    row = blend_models(options_from(BlendOptions, locals()))
    if json_out:
        emit_json(row)
        return
    lo, hi = row["ratio_blend"]
    out_console().print(
        f"blended {low_model} (ratios up to {lo:g}) and {high_model} (from {hi:g}) as {name!r}",
        markup=False,
        soft_wrap=True,
    )
    info(f"saved {row['path']}")


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
    from rawdenoise.jobs.models import describe_model

    row = describe_model(model, arch, option)
    if json_out:
        emit_json(row)
    else:
        show_info(row, model)


@app.command("remove")
@handle_errors
def remove(
    name: str = typer.Argument(
        ..., help="The model name.", autocompletion=complete_removable_model, show_default=False
    ),
    json_out: bool = typer.Option(False, "--json", help="Print the result as JSON."),
) -> None:
    """Delete a named model from the models folder."""
    from rawdenoise.jobs.models import remove_model

    path = remove_model(name)
    if json_out:
        emit_json({"removed": name, "path": str(path)})
        return
    out_console().print(f"removed {name!r} ({path})", markup=False)
