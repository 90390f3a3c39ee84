"""Our model file: safetensors whose metadata holds a :class:`~rawdenoise.specs.ModelInfo`
as JSON under the key ``rawdenoise`` (architecture name and options, plain or RepNR state,
camera, ratio range, training summary, rawdenoise version). Safetensors holds tensors only, so
opening a model never runs code; the header is read without torch (:func:`read_model_info`).
"""

from __future__ import annotations

import json
import struct
from collections.abc import Mapping
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from rawdenoise import __version__
from rawdenoise.errors import ModelFileError, PluginError, UsageError
from rawdenoise.specs import MODEL_SCHEMA_VERSION, SCHEMA_VERSION, ModelInfo

if TYPE_CHECKING:
    import torch
    from torch import nn


#: Metadata key holding the ModelInfo JSON, and the format marker beside it.
META_KEY = "rawdenoise"
FORMAT_KEY = "format"
FORMAT = "rawdenoise.model"


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
    if version > MODEL_SCHEMA_VERSION:
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


def save_model(
    path: Path,
    module: nn.Module,
    info: ModelInfo,
    *,
    overwrite: bool = False,
    more_tensors: Mapping[str, torch.Tensor] | None = None,
) -> Path:
    """Write ``module`` (a plain network or a RepNR wrapper) with ``info`` as our model file.

    ``info.kind`` and ``info.branches`` are set from ``module``; ``info.architecture`` must be a
    registered architecture. ``more_tensors`` are stored beside the module's (a ratio blend's
    high set, :mod:`rawdenoise.ratio_blend`). Written atomically; an existing file is kept
    unless ``overwrite``.
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
        schema_version=MODEL_SCHEMA_VERSION if info.ratio_blend is not None else SCHEMA_VERSION,
    )
    state = {**module.state_dict(), **(more_tensors or {})}
    tensors = {k: v.detach().to("cpu").contiguous().clone() for k, v in state.items()}
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
