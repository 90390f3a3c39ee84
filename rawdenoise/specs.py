"""Frozen, validated descriptions of what plugins register and what model files carry.

Pure Python (no numpy, no torch) so that plugin discovery, completion and ``rawdenoise plugins``
stay fast. Every spec round-trips through JSON with ``to_dict``/``from_dict``.
"""

from __future__ import annotations

import math
import numbers
import re
from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from types import MappingProxyType
from typing import Any

from rawdenoise.errors import PluginError

#: Schema version written into camera profiles and model metadata.
SCHEMA_VERSION = 1
#: Newest model-file schema this version reads; a model file is written as 2 only when it
#: needs what 2 added (``ratio_blend``), so that older versions still read every other file.
MODEL_SCHEMA_VERSION = 2

BAYER_PATTERNS = ("RGGB", "BGGR", "GRBG", "GBRG")
_NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._+-]*$")
_FACTORY_RE = re.compile(r"^[A-Za-z_][\w.]*:[A-Za-z_][\w.]*$")


def _check_name(kind: str, name: str) -> None:
    if not isinstance(name, str) or not _NAME_RE.match(name):
        raise PluginError(
            f"invalid {kind} name {name!r}",
            hint="use letters, digits, '.', '_', '+' and '-', starting with a letter or digit",
        )


def _frozen_mapping(value: Mapping[str, Any] | None) -> Mapping[str, Any]:
    return MappingProxyType(dict(value or {}))


def _finite(kind: str, *values: float) -> None:
    for v in values:
        if not isinstance(v, (int, float)) or not math.isfinite(v):
            raise PluginError(f"{kind}: expected a finite number, got {v!r}")


@dataclass(frozen=True)
class ArchitectureSpec:
    """A network architecture for packed 4-channel Bayer input.

    ``factory`` is an import string ``"package.module:callable"`` resolved only when a network is
    built, so that registering an architecture never imports torch. The callable takes the
    options (``default_options`` updated with the user's) as keyword arguments and returns a
    ``torch.nn.Module`` mapping (N, in_channels, H, W) to (N, out_channels, H, W).
    """

    name: str
    factory: str
    aliases: tuple[str, ...] = ()
    in_channels: int = 4
    out_channels: int = 4
    #: input height and width of one forward pass must be a multiple of this (tiling uses it)
    multiple_of: int = 16
    default_options: Mapping[str, Any] = field(default_factory=dict)
    description: str = ""
    #: child-module names that RepNR must leave as plain convs (LED: the output conv)
    repnr_exclude: tuple[str, ...] = ()
    #: optional ``"package.module:callable"``: ``f(state, options, new_options, seed)`` returns
    #: a state dict for ``new_options`` (e.g. more channels) whose network computes what
    #: ``state``'s did, or raises ``ValueError``; lets ``pretrain --init`` grow a model
    widen: str = ""

    def __post_init__(self) -> None:
        _check_name("architecture", self.name)
        for alias in self.aliases:
            _check_name("architecture alias", alias)
        if not isinstance(self.factory, str) or not _FACTORY_RE.match(self.factory):
            raise PluginError(
                f"architecture {self.name!r}: factory must be 'package.module:callable', "
                f"got {self.factory!r}"
            )
        if self.widen and not (isinstance(self.widen, str) and _FACTORY_RE.match(self.widen)):
            raise PluginError(
                f"architecture {self.name!r}: widen must be 'package.module:callable', "
                f"got {self.widen!r}"
            )
        for attr in ("in_channels", "out_channels", "multiple_of"):
            value = getattr(self, attr)
            if not isinstance(value, int) or value < 1:
                raise PluginError(f"architecture {self.name!r}: {attr} must be a positive integer")
        object.__setattr__(self, "aliases", tuple(self.aliases))
        object.__setattr__(self, "repnr_exclude", tuple(self.repnr_exclude))
        object.__setattr__(self, "default_options", _frozen_mapping(self.default_options))

    def options(self, overrides: Mapping[str, Any] | None = None) -> dict[str, Any]:
        """Default options updated with ``overrides``."""
        merged = dict(self.default_options)
        merged.update(overrides or {})
        return merged

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "factory": self.factory,
            "aliases": list(self.aliases),
            "in_channels": self.in_channels,
            "out_channels": self.out_channels,
            "multiple_of": self.multiple_of,
            "default_options": dict(self.default_options),
            "description": self.description,
            "repnr_exclude": list(self.repnr_exclude),
            "widen": self.widen,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> ArchitectureSpec:
        known = {f.name for f in fields(cls)}
        kwargs = {k: v for k, v in data.items() if k in known}
        for key in ("aliases", "repnr_exclude"):
            if key in kwargs:
                kwargs[key] = tuple(kwargs[key])
        return cls(**kwargs)


@dataclass(frozen=True)
class LogLinear:
    """``log(sigma) ~ N(slope * log(K) + bias, sigma)`` (natural logs; ELD/LED layout)."""

    slope: float
    bias: float
    sigma: float = 0.0

    def __post_init__(self) -> None:
        _finite("log-linear fit", self.slope, self.bias, self.sigma)
        if self.sigma < 0:
            raise PluginError("log-linear fit: residual sigma must be >= 0")

    def mean_log(self, log_k: float) -> float:
        return self.slope * log_k + self.bias

    def to_dict(self) -> dict[str, float]:
        return {"slope": self.slope, "bias": self.bias, "sigma": self.sigma}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> LogLinear:
        return cls(float(data["slope"]), float(data["bias"]), float(data.get("sigma", 0.0)))


@dataclass(frozen=True)
class IsoPoint:
    """Per-ISO calibration values (in DN of the camera's raw scale)."""

    iso: float
    k: float
    read_sigma: float
    tl_sigma: float | None = None
    tl_lambda: float | None = None
    row_sigma: float | None = None
    color_bias: tuple[float, float, float, float] | None = None

    def to_dict(self) -> dict[str, Any]:
        d = {f.name: getattr(self, f.name) for f in fields(self)}
        if self.color_bias is not None:
            d["color_bias"] = list(self.color_bias)
        return d

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> IsoPoint:
        known = {f.name for f in fields(cls)}
        kwargs = {k: v for k, v in data.items() if k in known}
        if kwargs.get("color_bias") is not None:
            kwargs["color_bias"] = tuple(float(x) for x in kwargs["color_bias"])
        return cls(**kwargs)


@dataclass(frozen=True)
class NoiseParams:
    """Physics noise model of one camera (LED/ELD ``camera_params`` layout, method.md §5).

    System gain K (DN per electron) spans ``[k_min, k_max]``; read noise (Tukey-lambda and
    Gaussian) and row noise standard deviations follow log-linear fits against log K; Tukey
    lambda values and colour biases (per-channel DN offsets in packed order R, G1, B, G2) are
    lists sampled as LED does (lambda uniformly, colour bias by linear K bin).
    """

    k_min: float
    k_max: float
    tukey: LogLinear
    gaussian: LogLinear
    row: LogLinear
    tukey_lambdas: tuple[float, ...] = ()
    color_bias: tuple[tuple[float, float, float, float], ...] = ()

    def __post_init__(self) -> None:
        _finite("noise parameters K range", self.k_min, self.k_max)
        if not 0 < self.k_min <= self.k_max:
            raise PluginError(
                f"noise parameters: need 0 < k_min <= k_max, got {self.k_min}, {self.k_max}"
            )
        object.__setattr__(self, "tukey_lambdas", tuple(float(x) for x in self.tukey_lambdas))
        biases = tuple(tuple(float(v) for v in row) for row in self.color_bias)
        for row in biases:
            if len(row) != 4:
                raise PluginError("noise parameters: every colour bias needs 4 values (R,G1,B,G2)")
        object.__setattr__(self, "color_bias", biases)

    def to_dict(self) -> dict[str, Any]:
        return {
            "k_min": self.k_min,
            "k_max": self.k_max,
            "tukey": self.tukey.to_dict(),
            "gaussian": self.gaussian.to_dict(),
            "row": self.row.to_dict(),
            "tukey_lambdas": list(self.tukey_lambdas),
            "color_bias": [list(row) for row in self.color_bias],
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> NoiseParams:
        return cls(
            k_min=float(data["k_min"]),
            k_max=float(data["k_max"]),
            tukey=LogLinear.from_dict(data["tukey"]),
            gaussian=LogLinear.from_dict(data["gaussian"]),
            row=LogLinear.from_dict(data["row"]),
            tukey_lambdas=tuple(data.get("tukey_lambdas", ())),
            color_bias=tuple(tuple(r) for r in data.get("color_bias", ())),
        )


def normalize_camera_name(text: str) -> str:
    """Case- and space-insensitive key for EXIF make/model matching."""
    return re.sub(r"[\s_-]+", " ", text).strip().lower()


@dataclass(frozen=True)
class CameraProfile:
    """A camera's identity (EXIF make/model), optional level overrides and its noise model."""

    id: str
    make: str
    model: str
    noise: NoiseParams
    aliases: tuple[str, ...] = ()  #: other "Make Model" strings the camera reports
    cfa: str | None = None
    black_level: tuple[float, ...] | None = None  #: override, 1 or 4 values (R, G1, B, G2)
    white_level: float | None = None  #: override
    iso_points: tuple[IsoPoint, ...] = ()
    source: str = ""
    schema_version: int = SCHEMA_VERSION
    #: learned signal-independent noise (safetensors), relative to the profile's folder
    learned_noise: str | None = None

    def __post_init__(self) -> None:
        _check_name("camera profile", self.id)
        where = f"camera profile {self.id!r}"
        if not self.make or not self.model:
            raise PluginError(f"{where}: make and model are required")
        for field_name in ("make", "model", "source"):
            if not isinstance(getattr(self, field_name), str):
                raise PluginError(f"{where}: {field_name} must be text")
        if isinstance(self.aliases, str) or not all(isinstance(a, str) for a in self.aliases):
            raise PluginError(f'{where}: aliases must be a list of "Make Model" strings')
        if self.white_level is not None and not (
            _is_finite_number(self.white_level) and self.white_level > 0
        ):
            raise PluginError(f"{where}: white_level must be a positive number")
        if self.cfa is not None and self.cfa not in BAYER_PATTERNS:
            raise PluginError(
                f"camera profile {self.id!r}: cfa must be one of {', '.join(BAYER_PATTERNS)}"
            )
        if self.black_level is not None:
            values = self.black_level
            if isinstance(values, str | bytes) or not all(
                isinstance(x, numbers.Real) and not isinstance(x, bool) for x in values
            ):
                raise PluginError(f"{where}: black_level must be 1 or 4 numbers")
            bl = tuple(float(x) for x in values)
            if len(bl) not in (1, 4):
                raise PluginError(f"camera profile {self.id!r}: black_level needs 1 or 4 values")
            object.__setattr__(self, "black_level", bl)
        if not isinstance(self.noise, NoiseParams):
            raise PluginError(f"camera profile {self.id!r}: noise must be NoiseParams")
        if self.schema_version > SCHEMA_VERSION:
            raise PluginError(
                f"camera profile {self.id!r} uses schema {self.schema_version}; this rawdenoise "
                f"reads up to {SCHEMA_VERSION}",
                hint="upgrade rawdenoise",
            )
        if self.learned_noise is not None and not isinstance(self.learned_noise, str):
            raise PluginError(f"{where}: learned_noise must be a file name")
        object.__setattr__(self, "aliases", tuple(self.aliases))
        object.__setattr__(self, "iso_points", tuple(self.iso_points))

    def matches(self, make: str, model: str) -> bool:
        """Whether EXIF ``make``/``model`` name this camera (case/space-insensitive)."""
        wanted = {normalize_camera_name(f"{self.make} {self.model}")}
        wanted.update(normalize_camera_name(a) for a in self.aliases)
        exif_model = normalize_camera_name(model)
        full = normalize_camera_name(f"{make} {model}")
        return full in wanted or exif_model in wanted

    def k_for_iso(self, iso: float) -> float | None:
        """System gain at ``iso`` from the calibrated points (K is proportional to ISO)."""
        if not self.iso_points:
            return None
        ratios = sorted(p.k / p.iso for p in self.iso_points if p.iso > 0)
        return ratios[len(ratios) // 2] * iso

    def to_dict(self) -> dict[str, Any]:
        return {
            "schema_version": self.schema_version,
            "id": self.id,
            "make": self.make,
            "model": self.model,
            "aliases": list(self.aliases),
            "cfa": self.cfa,
            "black_level": list(self.black_level) if self.black_level is not None else None,
            "white_level": self.white_level,
            "noise": self.noise.to_dict(),
            "iso_points": [p.to_dict() for p in self.iso_points],
            "source": self.source,
            **({"learned_noise": self.learned_noise} if self.learned_noise else {}),
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> CameraProfile:
        try:
            return cls(
                id=data["id"],
                make=data["make"],
                model=data["model"],
                noise=NoiseParams.from_dict(data["noise"]),
                aliases=data.get("aliases", ()),  # __post_init__ checks and makes a tuple
                cfa=data.get("cfa"),
                black_level=tuple(data["black_level"]) if data.get("black_level") else None,
                white_level=data.get("white_level"),
                iso_points=tuple(IsoPoint.from_dict(p) for p in data.get("iso_points", ())),
                source=data.get("source", ""),
                schema_version=int(data.get("schema_version", SCHEMA_VERSION)),
                learned_noise=data.get("learned_noise") or None,
            )
        except KeyError as exc:
            raise PluginError(f"invalid camera profile: no {exc.args[0]!r} field") from exc
        except (TypeError, ValueError) as exc:
            raise PluginError(f"invalid camera profile: {exc!s}") from exc


def _is_int(value: Any) -> bool:
    return isinstance(value, numbers.Integral) and not isinstance(value, bool)


def _is_finite_number(value: Any) -> bool:
    if not isinstance(value, numbers.Real) or isinstance(value, bool):
        return False
    try:
        return math.isfinite(value)
    except OverflowError:  # an integer too large for a float
        return False


def _shown(value: Any) -> str:
    """``repr(value)``, cut short for error messages."""
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def _ratio_range(value: Any, name: str = "ratio_range") -> tuple[float, float]:
    """``value`` as ``(low, high)``: two finite numbers with 0 < low <= high, else PluginError."""
    problem = f"model {name} must be two finite numbers 0 < LOW <= HIGH, got {_shown(value)}"
    if isinstance(value, (str, bytes, Mapping)):
        raise PluginError(problem)
    try:
        items = tuple(value)
    except TypeError:
        raise PluginError(problem) from None
    if len(items) != 2 or not all(_is_finite_number(x) for x in items):
        raise PluginError(problem)
    low, high = float(items[0]), float(items[1])
    if not 0 < low <= high:
        raise PluginError(problem)
    return low, high


@dataclass(frozen=True)
class ModelInfo:
    """What a model file says about itself (stored as safetensors metadata)."""

    architecture: str
    options: Mapping[str, Any] = field(default_factory=dict)
    name: str = ""
    kind: str = "plain"  #: "plain" (deployable) or "repnr" (RepNR wrapper state)
    camera: str = ""  #: "Make Model" the model was adapted to, "" for generic models
    ratio_range: tuple[float, float] | None = None
    #: (low, high): the file holds two weight sets blended by ratio (:mod:`rawdenoise.ratio_blend`)
    ratio_blend: tuple[float, float] | None = None
    target_exposure: float | None = None  #: ISO x seconds used by ``--ratio auto``
    #: ``--ratio auto`` for models without a target exposure: the level each photo is brought
    #: to (:func:`rawdenoise.exposure.level_ratio`); generic pretrained models record it
    auto_level: float | None = None
    trained_on: str = ""  #: human-readable summary of the training data
    base_model: str = ""
    branches: int = 0  #: RepNR camera branches (kind == "repnr")
    extra: Mapping[str, Any] = field(default_factory=dict)
    rawdenoise_version: str = ""
    schema_version: int = SCHEMA_VERSION

    def __post_init__(self) -> None:
        if not isinstance(self.architecture, str) or not self.architecture:
            raise PluginError(f"model architecture must be a name, got {_shown(self.architecture)}")
        for attr in ("name", "camera", "trained_on", "base_model", "rawdenoise_version"):
            if not isinstance(getattr(self, attr), str):
                raise PluginError(f"model {attr} must be text, got {_shown(getattr(self, attr))}")
        if self.kind not in ("plain", "repnr"):
            raise PluginError(f"model kind must be 'plain' or 'repnr', got {_shown(self.kind)}")
        for attr in ("branches", "schema_version"):
            value = getattr(self, attr)
            if not _is_int(value) or value < 0:
                raise PluginError(f"model {attr} must be a whole number >= 0, got {_shown(value)}")
        for attr in ("options", "extra"):
            value = getattr(self, attr)
            if not isinstance(value, Mapping) or not all(isinstance(k, str) for k in value):
                raise PluginError(
                    f"model {attr} must map names to values (a JSON object), got {_shown(value)}"
                )
            object.__setattr__(self, attr, _frozen_mapping(value))
        if self.ratio_range is not None:
            object.__setattr__(self, "ratio_range", _ratio_range(self.ratio_range))
        if self.ratio_blend is not None:
            low, high = _ratio_range(self.ratio_blend, "ratio_blend")
            if low == high:
                raise PluginError(f"model ratio_blend needs LOW < HIGH, got {low:g}-{high:g}")
            object.__setattr__(self, "ratio_blend", (low, high))
        for attr in ("target_exposure", "auto_level"):
            value = getattr(self, attr)
            if value is not None and (not _is_finite_number(value) or value <= 0):
                raise PluginError(
                    f"model {attr} must be a finite positive number, got {_shown(value)}"
                )

    def to_dict(self) -> dict[str, Any]:
        d = {f.name: getattr(self, f.name) for f in fields(self)}
        d["options"] = dict(self.options)
        d["extra"] = dict(self.extra)
        d["ratio_range"] = list(self.ratio_range) if self.ratio_range else None
        if self.ratio_blend is None:  # files without it stay readable by older versions
            del d["ratio_blend"]
        else:
            d["ratio_blend"] = list(self.ratio_blend)
        return d

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> ModelInfo:
        known = {f.name for f in fields(cls)}
        kwargs = {k: v for k, v in data.items() if k in known}
        return cls(**kwargs)
