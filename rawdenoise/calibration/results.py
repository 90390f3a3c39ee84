"""What a calibration finds: per ISO (:class:`IsoResult`) and for the camera
(:class:`CalibrationResult`), and the constants that shape it."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from rawdenoise.calibration import stats
from rawdenoise.specs import CameraProfile

#: Packed pixels per side of a photon-transfer tile.
TILE = 16
#: Largest packed crop (per side) of a dark frame used for its statistics (ELD: 800).
DARK_CROP = 1024
#: Most tiles per side kept from a flat frame (spread over the whole frame).
FLAT_TILES = 64
#: Two flats form a pair when their mean signals differ by less than this fraction.
PAIR_TOLERANCE = 0.05
#: Brightest usable flat area below this fraction of the range: an error / a warning.
TOO_DARK, DIM = 0.02, 0.10
#: Colour-bias bins written into NoiseParams (LED samples them by linear K bin).
BIAS_BINS = 16
#: Residual r^2 below which a log-linear fit is flagged.
MIN_R2 = 0.9


@dataclass
class IsoResult:
    """Everything measured at one ISO (DN; K in DN per electron)."""

    iso: float
    k: float
    k_channels: np.ndarray
    ptc: list[stats.LineFit]
    read_sigma: float
    tl_sigma: float
    tl_lambda: float
    row_sigma: float
    color_bias: np.ndarray
    temporal_read_sigma: float
    pixel_std: float
    n_dark: int
    n_flat: int
    pairs: int
    spatial: bool
    clipped_fraction: float
    max_signal: float  #: brightest usable flat tile, DN above black
    ppcc_lambdas: np.ndarray
    ppcc_values: np.ndarray
    ppcc_max: float
    ptc_points: list[tuple[np.ndarray, np.ndarray]] = field(default_factory=list)

    def to_json(self) -> dict:
        return {
            "iso": self.iso,
            "K": self.k,
            "K_channels": [float(v) for v in self.k_channels],
            "read_sigma": self.read_sigma,
            "tl_sigma": self.tl_sigma,
            "tl_lambda": self.tl_lambda,
            "row_sigma": self.row_sigma,
            "color_bias": [float(v) for v in self.color_bias],
            "temporal_read_sigma": self.temporal_read_sigma,
            "ptc_r2": [f.r2 for f in self.ptc],
            "ptc_intercept": [f.intercept for f in self.ptc],
            "ppcc": self.ppcc_max,
            "dark_frames": self.n_dark,
            "flat_frames": self.n_flat,
            "flat_pairs": self.pairs,
            "clipped_fraction": self.clipped_fraction,
        }


@dataclass
class CalibrationResult:
    profile: CameraProfile
    isos: list[IsoResult]
    fits: dict[str, stats.LineFit]
    warnings: list[str]
    cfa: str
    shape: tuple[int, int]
