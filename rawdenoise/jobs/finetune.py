"""The job behind ``rawdenoise finetune``: options (with a TOML ``--config`` underneath) ->
a :class:`~rawdenoise.training.finetune.FinetuneConfig` -> training under a run lock.

Command-line values win over the config file, which wins over the preset; without a preset
the device decides (a CPU gets ``quick``, a GPU LED's ``paper``), and why is said before
training starts.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from rawdenoise.errors import UsageError


@dataclass(frozen=True)
class FinetuneOptions:
    """One field per option of ``rawdenoise finetune`` (None: not given)."""

    pairs: Path
    model: str | None = None
    name: str | None = None
    root: Path | None = None
    preset: str | None = None
    iterations: str | None = None
    lr: str | None = None
    crop: int | None = None
    batch: int | None = None
    seed: int | None = None
    device: str | None = None
    precision: str | None = None
    threads: int | None = None
    resume: bool = False
    checkpoint_every: int | None = None
    stop_at: int | None = None
    config: Path | None = None
    overwrite: bool = False


def finetune_config(options: FinetuneOptions, *, estimate: bool = True) -> Any:
    """The training configuration these options (and their ``--config`` file) give; raises
    :class:`UsageError` for a missing model or name and for bad values."""
    from rawdenoise.training.finetune import (
        CONFIG_KEYS,
        FinetuneConfig,
        check_config,
        resolve_settings,
    )
    from rawdenoise.training.options import read_toml

    config = options.config
    file_values: dict = {}
    if config is not None:
        file_values = read_toml(config, CONFIG_KEYS)
        check_config(file_values, config)  # types and ranges, naming the key and the file
    model = options.model if options.model is not None else file_values.get("model")
    name = options.name or file_values.get("name")
    root = options.root
    if root is None and file_values.get("root"):
        root = Path(file_values["root"]).expanduser()
        if not root.is_absolute() and config is not None:
            root = config.parent / root
    if not model:
        raise UsageError("which base model? pass --model NAME (e.g. --model default)")
    if not name:
        raise UsageError("pass --name NAME for the fine-tuned model")
    chosen_preset = options.preset or file_values.get("preset")
    why = None  # said before training starts, once the pair list has been checked
    if chosen_preset is None:  # the device decides: a CPU gets 'quick', a GPU LED's 'paper'
        from rawdenoise.devices import choose_device
        from rawdenoise.training.presets import choose_preset

        device_name = options.device or file_values.get("device") or "auto"
        chosen_preset, why = choose_preset(choose_device(str(device_name)).type)
    given = {
        key: getattr(options, key)
        for key in (
            "iterations", "lr", "crop", "batch", "seed", "device", "checkpoint_every", "precision",
        )
    }  # fmt: skip
    settings = resolve_settings(chosen_preset, file_values, given)
    return FinetuneConfig(
        pairs=options.pairs,
        model=model,
        name=name,
        root=root,
        preset=chosen_preset,
        resume=options.resume,
        overwrite=options.overwrite,
        threads=options.threads,
        stop_at=options.stop_at,
        estimate=estimate,
        preset_note=why,
        **settings,
    )


def finetune(
    options: FinetuneOptions,
    *,
    progress: Any = None,
    info: Callable[[str], None] = lambda _m: None,
    warn: Callable[[str], None] = lambda _m: None,
    estimate: bool = True,
) -> Finetuned:
    """Fine-tune as ``rawdenoise finetune`` does; the result has the saved model's path, or
    the checkpoint's when paused by ``stop_at``. ``progress``: a
    :class:`~rawdenoise.training.progress.ProgressSink`; ``estimate``: time one step first."""
    from rawdenoise import heap
    from rawdenoise.interrupts import preload

    heap.keep_freed_memory()  # each step's activations reuse the last one's pages
    preload("numpy", "rawpy", "torch")  # a Ctrl-C waits for them: see preload
    from rawdenoise.training.checkpoint import run_lock
    from rawdenoise.training.finetune import finetune as run_finetune

    cfg = finetune_config(options, estimate=estimate)
    with run_lock("finetune", cfg.name):  # a second run of this name at once is refused
        result = run_finetune(cfg, progress=progress, info=info, warn=warn)
    return Finetuned(cfg.name, result)


@dataclass
class Finetuned:
    """The model's name (from the options or the config file) and the training's result."""

    name: str
    result: Any  #: rawdenoise.training.finetune.FinetuneResult

    def to_dict(self) -> dict[str, Any]:
        """The JSON of ``rawdenoise finetune --json`` (paused: ``path`` is the checkpoint)."""
        return result_dict(self.result, self.name)


def result_dict(result: Any, name: str) -> dict[str, Any]:
    return {
        "model": name,
        "paused_at": result.paused_at,
        "path": str(result.path),
        "camera": result.camera,
        "pairs": result.pairs,
        "iterations": list(result.iterations),
        "crop": result.crop,
        "seconds": result.seconds,
        "iterations_per_second": result.iterations_per_second,
        "loss": result.loss,
    }
