"""Physics-based RAW noise synthesis in torch (method.md §5, §9): batched, seedable, CPU/GPU.

- :class:`NoisyPairGenerator`: clean packed batch -> (noisy input, clean target) pairs;
  built with :meth:`~NoisyPairGenerator.virtual`, :meth:`~NoisyPairGenerator.from_profile` or
  :meth:`~NoisyPairGenerator.from_dark_frames`.
- :class:`VirtualCameras`: LED's coverage of the calibrated cameras' parameter ranges.
- :class:`ParametricCamera`: one camera's log-linear noise model (e.g. from a CameraProfile).
- :class:`DarkFrameBank`: real dark frames sampled as the signal-independent noise.
- :func:`synthesize_dn`: add the enabled components to a signal in DN.
"""

from rawdenoise.noise.components import (
    gaussian_noise,
    quantization_noise,
    row_noise,
    shot_noise,
    tukey_lambda_noise,
)
from rawdenoise.noise.darkbank import DarkFrameBank, DarkFrameNoise
from rawdenoise.noise.generator import (
    NoisyPair,
    NoisyPairGenerator,
    check_noise_type,
    synthesize_dn,
)
from rawdenoise.noise.params import NoiseSample, ParametricCamera, sample_log_linear
from rawdenoise.noise.virtual import LED_VIRTUAL_RANGES, VirtualCameras

__all__ = [
    "LED_VIRTUAL_RANGES",
    "DarkFrameBank",
    "DarkFrameNoise",
    "NoiseSample",
    "NoisyPair",
    "NoisyPairGenerator",
    "ParametricCamera",
    "VirtualCameras",
    "check_noise_type",
    "gaussian_noise",
    "quantization_noise",
    "row_noise",
    "sample_log_linear",
    "shot_noise",
    "synthesize_dn",
    "tukey_lambda_noise",
]
