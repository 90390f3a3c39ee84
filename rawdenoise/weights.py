"""Load a model, whatever its file: ours (safetensors + metadata) or LED's ``.pth``; the
public face of the model-file modules (names, our format, foreign checkpoints) re-exported in
``__all__``.

Our format is a safetensors file whose metadata holds a :class:`~rawdenoise.specs.ModelInfo`
as JSON under the key ``rawdenoise`` (architecture name and options, plain or RepNR state,
camera, ratio range, training summary, rawdenoise version). Safetensors holds tensors only, so
opening a model never runs code.

LED checkpoints (method.md §2.3) are ``torch.save`` dicts with ``params_deploy``,
``params_ema`` and/or ``params`` (picked in that order), possibly with ``module.`` prefixes,
holding either a plain UNet state dict or RepNR keys (``main_weight``, ``align_weights.N``,
...). They are read with ``torch.load(weights_only=True)`` only, so a pickle holding anything
but tensors and plain containers is refused. RepNR states are kept (``LoadedModel.repnr``) and
deployed into a plain network; a target branch still at its initial values (an LED pretrain
checkpoint) is first set to the mean of the camera branches, as LED's fine-tuning does.

Architectures are built only through :func:`rawdenoise.registry.create_network`. torch and
safetensors are imported inside the functions that need them, so that listing models and
reading their metadata (:func:`read_model_info`) stays fast.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from rawdenoise.errors import ModelFileError, PluginError, UsageError
from rawdenoise.specs import ArchitectureSpec, ModelInfo

if TYPE_CHECKING:
    from torch import nn

    from rawdenoise.networks.repnr import RepNR
    from rawdenoise.ratio_blend import RatioBlend
from rawdenoise.foreign_checkpoints import (
    CHECKPOINT_KEY,
    LED_PARAM_KEYS,
    _check_finite,
    _info_from_checkpoint,
    _read_torch,
)
from rawdenoise.model_file import (
    _info_from_metadata,
    _read_safetensors,
    is_safetensors,
    read_model_info,
    save_model,
)
from rawdenoise.model_names import (
    DEFAULT_NAME,
    list_models,
    model_path,
    parse_options,
    resolve_model,
)
from rawdenoise.state_dicts import (
    _blame_file_options,
    _guess_architecture,
    _ratio_from_name,
    describe_state,
    infer_options,
    is_repnr_state,
    load_state_strict,
    repnr_branches,
)

#: How :meth:`LoadedModel.at_ratio`'s note begins (training says where it started from).
AT_RATIO_NOTE = "ratio blend taken at ratio"


@dataclass
class LoadedModel:
    """A model ready to run: ``network`` is plain (deployed), on CPU, in eval mode."""

    network: nn.Module
    info: ModelInfo
    spec: ArchitectureSpec
    repnr: RepNR | None  #: the RepNR wrapper when the file holds RepNR state (for finetune)
    path: Path
    #: "rawdenoise" (our file), "led" (LED .pth), "state_dict", "checkpoint" (a training run's)
    source: str = "rawdenoise"
    notes: tuple[str, ...] = ()  #: what loading did (param key picked, generalize, ...)
    #: the two weight sets of a model blended by ratio (``network`` is then its low set)
    blend: RatioBlend | None = None

    @property
    def multiple_of(self) -> int:
        return self.spec.multiple_of

    def network_for(self, ratio: float) -> nn.Module:
        """The network to run at ``ratio``: ``network``, or a blend model's at that ratio."""
        return self.network if self.blend is None else self.blend.network_for(ratio)

    def at_ratio(self, ratio: float) -> LoadedModel:
        """This model as a single-set model with a blend's weights at ``ratio`` (itself when
        it is not a blend): what training from it starts from."""
        if self.blend is None:
            return self
        module = self.blend.module_for(ratio)  # blended once, then deployed from it
        repnr = module if self.repnr is not None else None
        network = self.blend.deploy(module)
        t = self.blend.weight(ratio)
        note = f"{AT_RATIO_NOTE} {ratio:g} (high-ratio set's share {t:.2f})"
        info = replace(self.info, ratio_blend=None)
        return replace(
            self, network=network, repnr=repnr, info=info, blend=None, notes=(*self.notes, note)
        )


def load_model(
    ref: str | Path, *, arch: str | None = None, options: Mapping[str, Any] | None = None
) -> LoadedModel:
    """Load a model by path (our ``.safetensors``, an LED ``.pth``) or by name.

    ``arch``/``options`` say which architecture a file without our metadata is for (default:
    recognised from the keys; the built-in UNet's ``channels`` are read from the weights);
    for our files they override what the metadata says.
    """
    from rawdenoise.registry import create_network, get_architecture

    path = resolve_model(ref)
    notes: list[str] = []
    info: ModelInfo | None = None
    param_key: str | None = None
    if is_safetensors(path):
        state, metadata = _read_safetensors(path)
        info = _info_from_metadata(path, metadata)
        source = "rawdenoise" if info is not None else "state_dict"
    else:
        state, param_key, whole = _read_torch(path)
        source = "led" if param_key in LED_PARAM_KEYS else "state_dict"
        if param_key == CHECKPOINT_KEY:
            info, source = _info_from_checkpoint(path, whole), "checkpoint"
        if param_key:
            notes.append(f"read {param_key!r}")

    _check_finite(path, state)
    arch_name = arch or (info.architecture if info else None) or _guess_architecture(state)
    if arch_name is None:
        from rawdenoise.registry import list_architectures

        known = ", ".join(a.name for a in list_architectures())
        raise ModelFileError(
            f"cannot tell which architecture {path.name} is for: it looks like "
            f"{describe_state(state)}",
            hint=f"pass --arch NAME (known: {known}) and --option KEY=VALUE",
        )
    spec = get_architecture(arch_name)
    opts: dict[str, Any] = dict(info.options) if info is not None else {}
    if info is None or arch is not None:
        inferred = infer_options(spec.factory, state)
        opts = {**opts, **{k: v for k, v in inferred.items() if k not in (options or {})}}
    opts.update(options or {})
    try:
        base = create_network(spec, opts)
    except (UsageError, PluginError) as exc:
        raise _blame_file_options(exc, path, spec, opts, options) from exc
    full_opts = spec.options(opts)

    blend_range = info.ratio_blend if info is not None else None
    high_state = None
    if blend_range is not None:
        from rawdenoise.ratio_blend import split_state

        state, high_state = split_state(state, path)

    def build(base: nn.Module, state: Mapping[str, Any]) -> nn.Module:
        """The loaded module: a RepNR wrapper for RepNR state, else ``base`` itself."""
        if not is_repnr_state(state):
            from rawdenoise.networks.repnr import add_conv_biases

            add_conv_biases(base, state)
            load_state_strict(base, state, path=path, arch=spec.name, options=full_opts)
            return base.eval()
        from rawdenoise.networks.repnr import RepNR, convertible_convs

        branches = repnr_branches(state)
        in_file = {k[: -len(".main_weight")] for k in state if k.endswith(".main_weight")}
        extra = tuple(n for n in convertible_convs(base, spec.repnr_exclude) if n not in in_file)
        aux = any(k.endswith(".aux_weight") for k in state)
        module = RepNR(base, branches=branches, exclude=spec.repnr_exclude + extra, aux=aux)
        load_state_strict(module, state, path=path, arch=spec.name, options=full_opts)
        if module.target_is_initial():
            module.generalize()
            notes.append("target branch set to the mean of the camera branches (generalize)")
        return module.eval()

    def deploy(module: nn.Module) -> nn.Module:
        from rawdenoise.networks.repnr import RepNR

        return module.deploy().eval() if isinstance(module, RepNR) else module.eval()

    loaded_module = build(base, state)
    network = deploy(loaded_module)
    repnr = None if loaded_module is network else loaded_module
    if repnr is not None:
        notes.append(f"RepNR state with {repnr.branches} camera branches deployed")
    blend = None
    if blend_range is not None and high_state is not None:
        from rawdenoise.ratio_blend import RatioBlend

        high_module = build(create_network(spec, opts), high_state)
        blend = RatioBlend(loaded_module, high_module, *blend_range, deploy, network)
        notes.append(blend.describe())

    if info is None:
        info = ModelInfo(
            architecture=spec.name,
            options=full_opts,
            name=path.stem,
            ratio_range=_ratio_from_name(path.name),
            trained_on=f"imported from {path.name}" + (f" ({param_key})" if param_key else ""),
            base_model=path.name,
            extra={"source": source, **({"param_key": param_key} if param_key else {})},
        )
    info = replace(
        info,
        architecture=spec.name,
        options=full_opts,
        kind="repnr" if repnr is not None else "plain",
        branches=repnr.branches if repnr is not None else 0,
    )
    return LoadedModel(
        network, info, spec, repnr, path, source=source, notes=tuple(notes), blend=blend
    )


__all__ = [
    "DEFAULT_NAME",
    "LoadedModel",
    "list_models",
    "load_model",
    "model_path",
    "parse_options",
    "read_model_info",
    "resolve_model",
    "save_model",
]
