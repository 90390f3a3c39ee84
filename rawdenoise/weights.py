"""Model files: load ours (safetensors + metadata) and LED's ``.pth``; save ours.

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

import json
import os
import re
import struct
from collections.abc import Mapping
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from rawdenoise import __version__
from rawdenoise.dirs import models_dir
from rawdenoise.errors import ModelFileError, PluginError, UsageError
from rawdenoise.specs import SCHEMA_VERSION, ArchitectureSpec, ModelInfo

if TYPE_CHECKING:
    import torch
    from torch import nn

    from rawdenoise.networks.repnr import RepNR

#: Metadata key holding the ModelInfo JSON, and the format marker beside it.
META_KEY = "rawdenoise"
FORMAT_KEY = "format"
FORMAT = "rawdenoise.model"
SUFFIX = ".safetensors"
#: The bundled model that ``--model default`` names.
DEFAULT_NAME = "default"
PACKAGED_DEFAULT = Path(__file__).resolve().parent / "models" / "default.safetensors"
#: LED's param keys, in the order we prefer them.
LED_PARAM_KEYS = ("params_deploy", "params_ema", "params")
#: Suffixes that make a ``--model`` value a path rather than a name.
MODEL_SUFFIXES = (".safetensors", ".pth", ".pt", ".ckpt", ".bin")
_NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._+-]{0,99}$")
_SHOW = 4  # keys named in a mismatch message, per list


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

    @property
    def multiple_of(self) -> int:
        return self.spec.multiple_of


# --------------------------------------------------------------------------- names and paths


def check_model_name(name: str) -> str:
    """``name`` if it is a valid model name, else :class:`UsageError`."""
    if not isinstance(name, str) or not _NAME_RE.match(name) or name.endswith(SUFFIX):
        raise UsageError(
            f"invalid model name {name!r}",
            hint="use letters, digits, '.', '_', '+' and '-' (no path, no extension)",
        )
    return name


def model_path(name: str) -> Path:
    """Where the model ``name`` lives: ``models_dir()/NAME.safetensors`` (``default``: bundled)."""
    check_model_name(name)
    if name == DEFAULT_NAME:
        return PACKAGED_DEFAULT
    return models_dir() / f"{name}{SUFFIX}"


def list_models() -> list[tuple[str, Path]]:
    """(name, path) of every named model: the bundled default (if present), then the user's."""
    out: list[tuple[str, Path]] = []
    if PACKAGED_DEFAULT.is_file():
        out.append((DEFAULT_NAME, PACKAGED_DEFAULT))
    folder = models_dir()
    if folder.is_dir():
        for path in sorted(folder.glob(f"*{SUFFIX}")):
            name = path.name[: -len(SUFFIX)]
            if name != DEFAULT_NAME and _NAME_RE.match(name) and not name.startswith("."):
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
    """The file ``ref`` names: a path, a model name in ``models_dir()``, or ``default``."""
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
    if name == DEFAULT_NAME:
        if PACKAGED_DEFAULT.is_file():
            return PACKAGED_DEFAULT
        raise PluginError(
            "the bundled 'default' model is not part of this installation",
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


# --------------------------------------------------------------------------- metadata


def is_safetensors(path: Path) -> bool:
    """Whether ``path`` is laid out as safetensors (8-byte size, then the JSON header).

    A file that cannot be read at all (permission denied, a FIFO...) is a
    :class:`ModelFileError` saying why, not a crash.
    """
    try:
        if not path.is_file():
            raise ModelFileError(f"{path} is not a regular file")
        with path.open("rb") as fh:
            head = fh.read(9)
    except OSError as exc:
        reason = (exc.strerror or type(exc).__name__).lower()
        raise ModelFileError(f"cannot read the model file {path} ({reason})") from exc
    return len(head) == 9 and head[8:9] == b"{"


def read_header(path: Path) -> tuple[dict[str, str], dict[str, dict[str, Any]]]:
    """(metadata, {tensor name: {"dtype", "shape", ...}}) of a safetensors file, without torch."""
    try:
        with path.open("rb") as fh:
            raw = fh.read(8)
            if len(raw) != 8:
                raise ValueError("file too short")
            (size,) = struct.unpack("<Q", raw)
            if size > 100_000_000:
                raise ValueError("header too large")
            header = json.loads(fh.read(size))
    except (OSError, ValueError) as exc:
        raise ModelFileError(f"{path} is not a readable safetensors file: {exc}") from exc
    if not isinstance(header, dict):
        raise ModelFileError(f"{path} is not a readable safetensors file: bad header")
    metadata = header.pop("__metadata__", None) or {}
    try:  # the tensors' bytes must all be there: a cut-off copy is not a model
        end = 8 + size + max((int(t["data_offsets"][1]) for t in header.values()), default=0)
    except (TypeError, KeyError, IndexError, ValueError) as exc:
        raise ModelFileError(f"{path} is not a readable safetensors file: bad header") from exc
    have = path.stat().st_size
    if have < end:
        raise ModelFileError(
            f"{path} is truncated ({have} of {end} bytes)", hint="copy or download it again"
        )
    return dict(metadata), header


def _info_from_metadata(path: Path, metadata: Mapping[str, str]) -> ModelInfo | None:
    text = metadata.get(META_KEY)
    if text is None:
        return None
    try:
        data = json.loads(text)
        version = int(data.get("schema_version", SCHEMA_VERSION))
    except (ValueError, TypeError, AttributeError, OverflowError) as exc:
        raise ModelFileError(f"{path}: unreadable rawdenoise metadata: {exc}") from exc
    if version > SCHEMA_VERSION:
        raise ModelFileError(
            f"{path} was written by a newer rawdenoise (model schema {version})",
            hint="upgrade rawdenoise",
        )
    try:
        return ModelInfo.from_dict(data)
    except (PluginError, TypeError, ValueError) as exc:
        raise ModelFileError(f"{path}: invalid rawdenoise metadata: {exc}") from exc


def read_model_info(path: Path) -> ModelInfo | None:
    """The ModelInfo stored in one of our files (``None`` for other safetensors); no torch."""
    metadata, _ = read_header(Path(path))
    return _info_from_metadata(Path(path), metadata)


# --------------------------------------------------------------------------- reading files


def _read_safetensors(path: Path) -> tuple[dict[str, torch.Tensor], dict[str, str]]:
    import safetensors
    from safetensors.torch import load_file

    st_error = getattr(safetensors, "SafetensorError", ValueError)

    metadata, _ = read_header(path)
    try:
        state = load_file(str(path), device="cpu")
    except (st_error, OSError, ValueError, RuntimeError) as exc:
        raise ModelFileError(f"{path} is not a readable safetensors file: {exc}") from exc
    return state, metadata


def torch_load_reason(exc: BaseException) -> str:
    """One line saying why ``torch.load`` failed.

    Its unpickling errors span several lines of advice (e.g. to retry with
    ``weights_only=False``, which rawdenoise never does); keep the line that says what is wrong.
    """
    text = str(exc)
    detail = re.search(r"WeightsUnpickler error:\s*(.+)", text)
    lines = text.strip().splitlines()
    line = detail.group(1).strip() if detail else (lines[0].strip() if lines else "")
    return f"{type(exc).__name__}: {line}" if line else type(exc).__name__


#: ``_read_torch``'s param key for one of rawdenoise's own training checkpoints
CHECKPOINT_KEY = "checkpoint"


def _read_torch(path: Path) -> tuple[dict[str, torch.Tensor], str | None, Mapping[str, Any]]:
    """An LED/PyTorch checkpoint's state dict (weights_only), the param key picked and the
    whole object (a rawdenoise training checkpoint's fingerprint, extra and iteration)."""
    import pickle

    import torch

    try:
        obj = torch.load(str(path), map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as exc:
        text = str(exc)
        found = re.search(r"GLOBAL (\S+)", text)
        if found or re.search(r"unsupported (global|class)", text, re.IGNORECASE):
            what = f" ({found.group(1)})" if found else ""
            raise ModelFileError(
                f"{path} holds Python objects{what}, not just tensors; refused: rawdenoise "
                "never unpickles code",
                hint="re-save it as a plain dict of tensors (state_dict), or as safetensors",
            ) from None
        raise ModelFileError(
            f"{path} is not a PyTorch checkpoint or is corrupt ({torch_load_reason(exc)})"
        ) from None
    except Exception as exc:  # the unpickler raises KeyError, IndexError, ... on garbage
        raise ModelFileError(
            f"{path} is not a PyTorch checkpoint or is corrupt ({torch_load_reason(exc)})"
        ) from None
    if not isinstance(obj, Mapping):
        raise ModelFileError(
            f"{path} holds a {type(obj).__name__}, not a dict of tensors; refused",
            hint="a checkpoint must be a state_dict or LED's {'params': state_dict, ...}",
        )
    from rawdenoise.training.checkpoint import FORMAT as CHECKPOINT_FORMAT
    from rawdenoise.training.checkpoint import is_newer

    if obj.get("format") == CHECKPOINT_FORMAT:
        if is_newer(obj):
            raise ModelFileError(
                f"{path} is a training checkpoint from a newer rawdenoise",
                hint="upgrade rawdenoise",
            )
        if isinstance(obj.get("model"), Mapping):
            _check_tensor_dict(path, obj["model"], "model")
            return dict(obj["model"]), CHECKPOINT_KEY, obj
    key = next((k for k in LED_PARAM_KEYS if isinstance(obj.get(k), Mapping)), None)
    if key is None and isinstance(obj.get("state_dict"), Mapping):
        key = "state_dict"
    state = obj[key] if key is not None else obj
    _check_tensor_dict(path, state, key)
    return _strip_prefixes(state), key, obj


def _info_from_checkpoint(path: Path, ckpt: Mapping[str, Any]) -> ModelInfo | None:
    """What an unfinished run's checkpoint says about its model; ``None`` when it names no
    architecture (finetune checkpoints written before ``extra`` held it: known by their keys).
    """
    fingerprint = ckpt.get("fingerprint") if isinstance(ckpt.get("fingerprint"), Mapping) else {}
    extra = ckpt.get("extra") if isinstance(ckpt.get("extra"), Mapping) else {}
    arch = extra.get("arch", fingerprint.get("arch"))
    if not isinstance(arch, str) or not arch:
        return None
    options = extra.get("options", fingerprint.get("options"))
    ratio = fingerprint.get("ratio_range")
    command = str(fingerprint.get("command", "training"))
    iteration, total = ckpt.get("iteration"), fingerprint.get("iterations")
    total = sum(total) if isinstance(total, list) else total
    try:
        return ModelInfo(
            architecture=arch,
            options=dict(options) if isinstance(options, Mapping) else {},
            name=path.stem,
            ratio_range=(float(ratio[0]), float(ratio[1])) if isinstance(ratio, list) else None,
            trained_on=f"unfinished {command} run, checkpoint at iteration {iteration}/{total}",
            extra={
                **{k: v for k, v in fingerprint.items() if k not in ("arch", "options")},
                **{k: v for k, v in extra.items() if k not in ("arch", "options")},
                "source": "checkpoint",
                "iterations_done": iteration,
            },
        )
    except (PluginError, TypeError, ValueError) as exc:
        raise ModelFileError(f"{path}: invalid training checkpoint: {exc}") from exc


def _check_tensor_dict(path: Path, state: Mapping[Any, Any], key: str | None) -> None:
    import torch

    where = f"{path} [{key!r}]" if key else str(path)
    if not state:
        raise ModelFileError(f"{where} holds no tensors")
    for k, v in state.items():
        if not isinstance(k, str) or not isinstance(v, torch.Tensor):
            top = ", ".join(repr(k) for k in list(state)[:_SHOW])
            raise ModelFileError(
                f"{where} is not a plain tensor dict (entry {k!r} holds a "
                f"{type(v).__name__}; keys: {top}); refused",
                hint="a checkpoint must be a state_dict or LED's {'params': state_dict, ...}",
            )


def _check_finite(path: Path, state: Mapping[str, torch.Tensor]) -> None:
    """Refuse weights holding NaN or infinity: such a network writes garbage (a NaN channel
    becomes black or white after clipping) with nothing to say it went wrong."""
    import torch

    bad = [
        k
        for k, v in state.items()
        if v.is_floating_point() or v.is_complex()
        if not bool(torch.isfinite(v).all())
    ]
    if bad:
        raise ModelFileError(
            f"{path} holds non-finite weights (NaN or infinity) in {_short(bad)}; refused",
            hint="the file is damaged, or was saved from a run that diverged; use another model",
        )


def _strip_prefixes(state: Mapping[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    out = {}
    for k, v in state.items():
        for prefix in ("module.", "_orig_mod."):
            while k.startswith(prefix):
                k = k[len(prefix) :]
        out[k] = v
    return out


# --------------------------------------------------------------------------- recognising files


def is_repnr_state(state: Mapping[str, Any]) -> bool:
    return any(k.endswith(".main_weight") for k in state)


def repnr_branches(state: Mapping[str, Any]) -> int:
    """Camera branches of a RepNR state (the align lists hold branches + 1 entries)."""
    found = [
        int(m.group(1))
        for k in state
        if (m := re.search(r"\.align_weights\.(\d+)$", k)) is not None
    ]
    if not found:
        raise ModelFileError("RepNR state without alignment parameters (align_weights.N)")
    return max(found)


def _weight(state: Mapping[str, Any], name: str) -> Any:
    return state.get(f"{name}.weight", state.get(f"{name}.main_weight"))


def infer_options(factory: str, state: Mapping[str, Any]) -> dict[str, Any]:
    """Options of the built-in UNet/TinyNet that a state dict implies (channels, in/out)."""
    first, last = {
        "rawdenoise.networks.unet:UNet": ("conv1_1", "conv10_1"),
        "rawdenoise.networks.tiny:TinyNet": ("conv1", "conv_out"),
    }.get(factory, (None, None))
    if first is None:
        return {}
    w_in, w_out = _weight(state, first), _weight(state, last)
    if w_in is None or w_out is None or w_in.ndim != 4 or w_out.ndim != 4:
        return {}
    opts: dict[str, Any] = {"channels": int(w_in.shape[0])}
    if w_in.shape[1] != 4:
        opts["in_channels"] = int(w_in.shape[1])
    if w_out.shape[0] != 4:
        opts["out_channels"] = int(w_out.shape[0])
    if (
        factory.endswith("TinyNet")
        and f"{first}.bias" not in state
        and "conv1.main_bias" not in state
    ):
        opts["bias"] = False
    return opts


def describe_state(state: Mapping[str, Any]) -> str:
    """What architecture a state dict looks like, for error messages."""
    repnr = " (RepNR state)" if is_repnr_state(state) else ""
    keys = set(state)
    w = _weight(state, "conv1_1")
    if w is not None and ({"conv10_1.weight", "conv10_1.main_weight"} & keys):
        return f"an LED/SID UNet with channels={int(w.shape[0])}{repnr}"
    w = _weight(state, "conv1")
    if w is not None and "conv_out.weight" in keys:
        return f"the tiny test network with channels={int(w.shape[0])}{repnr}"
    if {"intro.weight", "ending.weight"} <= keys or "intro.main_weight" in keys:
        return f"LED's NAFNet{repnr}"
    if "patch_embed.proj.weight" in keys or "patch_embed.proj.main_weight" in keys:
        return f"LED's Restormer{repnr}"
    first = ", ".join(list(state)[:_SHOW])
    return f"an unknown architecture{repnr} (first keys: {first})"


def _guess_architecture(state: Mapping[str, Any]) -> str | None:
    keys = set(state)
    if {"conv10_1.weight"} & keys and _weight(state, "conv1_1") is not None:
        return "unet"
    if "conv_out.weight" in keys and _weight(state, "conv1") is not None:
        return "tiny"
    return None


def _ratio_from_name(name: str) -> tuple[float, float] | None:
    m = re.search(r"ratio[_-]?(\d+(?:\.\d+)?)[-_](\d+(?:\.\d+)?)", name, re.IGNORECASE)
    if m is None:
        return None
    lo, hi = float(m.group(1)), float(m.group(2))
    return (lo, hi) if 0 < lo <= hi else None


# --------------------------------------------------------------------------- loading


def _short(keys: list[str]) -> str:
    more = f" (+{len(keys) - _SHOW} more)" if len(keys) > _SHOW else ""
    return ", ".join(keys[:_SHOW]) + more


def load_state_strict(
    module: nn.Module, state: Mapping[str, torch.Tensor], *, path: Path, arch: str, options: dict
) -> None:
    """``load_state_dict(strict=True)`` with one readable :class:`ModelFileError` line."""
    expected = module.state_dict()
    missing = [k for k in expected if k not in state]
    unexpected = [k for k in state if k not in expected]
    shapes = [
        f"{k} {tuple(state[k].shape)} vs {tuple(v.shape)}"
        for k, v in expected.items()
        if k in state and tuple(state[k].shape) != tuple(v.shape)
    ]
    if missing or unexpected or shapes:
        opts = ", ".join(f"{k}={v}" for k, v in options.items())
        parts = [f"missing keys: {_short(missing)}"] if missing else []
        if unexpected:
            parts.append(f"unexpected keys: {_short(unexpected)}")
        if shapes:
            parts.append(f"shape mismatch (file vs network): {_short(shapes)}")
        raise ModelFileError(
            f"{path.name} does not fit architecture {arch!r} ({opts or 'defaults'}): it looks "
            f"like {describe_state(state)}; " + "; ".join(parts),
            hint="pass --arch NAME and --option KEY=VALUE matching the file",
        )
    module.load_state_dict(dict(state), strict=True)


def _blame_file_options(
    exc: UsageError | PluginError,
    path: Path,
    spec: ArchitectureSpec,
    opts: Mapping[str, Any],
    user_options: Mapping[str, Any] | None,
) -> Exception:
    """``exc`` (building the network failed), or a :class:`ModelFileError` when the options
    that came from the file (its metadata, or read from its weights), not the user's
    ``--option``, are what the architecture refuses."""
    from rawdenoise.registry import create_network

    user = dict(user_options or {})
    from_file = {k: v for k, v in opts.items() if k not in user}
    defaults = spec.default_options
    if not any(k not in defaults or defaults[k] != v for k, v in from_file.items()):
        return exc  # nothing of the file's own: the user's options or a broken architecture

    def builds(options: Mapping[str, Any]) -> bool:  # only on this error path
        try:
            create_network(spec, options)
        except (UsageError, PluginError):
            return False
        return True

    if not builds({}):
        return exc  # the architecture fails on its own defaults: a broken plugin
    if user and builds(from_file):
        return exc  # the file's options build: the user's --option is to blame
    return ModelFileError(
        f"{path} stores architecture options that do not work: {exc.message}",
        hint="override a bad value with --option KEY=VALUE, or re-save the model from its source"
        if isinstance(exc, UsageError)
        else "re-save the model from its source",
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

    repnr = None
    if is_repnr_state(state):
        from rawdenoise.networks.repnr import RepNR, convertible_convs

        branches = repnr_branches(state)
        in_file = {k[: -len(".main_weight")] for k in state if k.endswith(".main_weight")}
        extra = tuple(n for n in convertible_convs(base, spec.repnr_exclude) if n not in in_file)
        aux = any(k.endswith(".aux_weight") for k in state)
        repnr = RepNR(base, branches=branches, exclude=spec.repnr_exclude + extra, aux=aux)
        load_state_strict(repnr, state, path=path, arch=spec.name, options=full_opts)
        if repnr.target_is_initial():
            repnr.generalize()
            notes.append("target branch set to the mean of the camera branches (generalize)")
        repnr.eval()
        network = repnr.deploy().eval()
        notes.append(f"RepNR state with {branches} camera branches deployed")
    else:
        from rawdenoise.networks.repnr import add_conv_biases

        add_conv_biases(base, state)
        load_state_strict(base, state, path=path, arch=spec.name, options=full_opts)
        network = base.eval()

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
    return LoadedModel(network, info, spec, repnr, path, source=source, notes=tuple(notes))


# --------------------------------------------------------------------------- saving


def _unwrap(module: nn.Module) -> nn.Module:
    """The real network inside DDP/DataParallel/torch.compile wrappers."""
    while True:
        inner = getattr(module, "module", None) or getattr(module, "_orig_mod", None)
        if inner is None or type(module).__name__ not in (
            "DistributedDataParallel",
            "DataParallel",
            "OptimizedModule",
        ):
            return module
        module = inner


def save_model(path: Path, module: nn.Module, info: ModelInfo, *, overwrite: bool = False) -> Path:
    """Write ``module`` (a plain network or a RepNR wrapper) with ``info`` as our model file.

    ``info.kind`` and ``info.branches`` are set from ``module``; ``info.architecture`` must be a
    registered architecture. Written atomically; an existing file is kept unless ``overwrite``.
    """
    from safetensors.torch import save

    from rawdenoise.atomic import write_bytes_atomic
    from rawdenoise.networks.repnr import RepNR
    from rawdenoise.registry import get_architecture

    module = _unwrap(module)
    get_architecture(info.architecture)  # fail before writing anything
    is_repnr = isinstance(module, RepNR)
    info = replace(
        info,
        kind="repnr" if is_repnr else "plain",
        branches=module.branches if is_repnr else 0,
        rawdenoise_version=__version__,
    )
    tensors = {k: v.detach().to("cpu").contiguous().clone() for k, v in module.state_dict().items()}
    try:
        meta = json.dumps(info.to_dict())
    except TypeError as exc:
        raise UsageError(f"model metadata is not JSON-serializable: {exc}") from exc
    path = Path(path)
    # serialized in memory and written by Python: safetensors' own writer reports a full disk
    # as a SafetensorError, which would not become the one-line "no space left" error (exit 5)
    data = save(tensors, metadata={FORMAT_KEY: FORMAT, META_KEY: meta})
    write_bytes_atomic(path, data, overwrite=overwrite)
    return path


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
