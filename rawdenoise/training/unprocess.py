"""Turn ordinary 8-bit sRGB photographs into plausible Bayer RAW frames ("unprocessing").

Clean RAW frames with fine texture are scarce; sRGB photographs are not. Following Brooks et
al., "Unprocessing Images for Learned Raw Denoising" (CVPR 2019), an sRGB image is taken back
through the steps a camera pipeline applies, in reverse: the sRGB transfer curve is inverted
(IEC 61966-2-1), linear sRGB is mapped to the camera's own RGB with the camera's colour matrix,
the white balance is undone, and the result is sampled on an RGGB mosaic. The frames written
here are DNGs that ``rawdenoise pretrain`` reads like any other clean frame.

The camera's colour matrix (LibRaw's camera RGB to linear sRGB) and white balance are taken from
a real RAW file of that camera (``read_camera_colour``), so the synthetic frames share its
colour statistics.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

#: Linear sRGB (D65) to CIE XYZ, IEC 61966-2-1.
SRGB_TO_XYZ = np.array(
    [
        [0.4124564, 0.3575761, 0.1804375],
        [0.2126729, 0.7151522, 0.0721750],
        [0.0193339, 0.1191920, 0.9503041],
    ]
)


@dataclass(frozen=True)
class CameraColour:
    """What unprocessing needs from a camera: camera RGB -> sRGB, and as-shot WB gains."""

    cam_to_srgb: np.ndarray  #: (3, 3), rows sum to 1 (white-balanced camera RGB -> sRGB)
    wb_gains: tuple[float, float, float]  #: multipliers R, G, B with G = 1
    white_level: int = 16383
    name: str = "camera"


def read_camera_colour(path: str | Path) -> CameraColour:
    """The colour matrix, as-shot white balance and white level of a real RAW file."""
    import rawpy

    with rawpy.imread(str(path)) as raw:
        cam_to_srgb = np.asarray(raw.color_matrix, dtype=np.float64)[:3, :3]
        wb = np.asarray(raw.camera_whitebalance, dtype=np.float64)[:3]
        white = int(raw.white_level)
        name = Path(path).stem
    usable = np.isfinite(cam_to_srgb).all() and abs(np.linalg.det(cam_to_srgb)) > 1e-6
    if not usable or wb[1] <= 0 or (wb <= 0).any():
        raise ValueError(f"{path}: no usable colour matrix / white balance")
    return CameraColour(cam_to_srgb, (wb[0] / wb[1], 1.0, wb[2] / wb[1]), white, name)


def srgb_to_linear(x: np.ndarray) -> np.ndarray:
    """Invert the sRGB transfer curve (values in [0, 1])."""
    x = np.asarray(x, dtype=np.float64)
    return np.where(x <= 0.04045, x / 12.92, ((x + 0.055) / 1.055) ** 2.4)


def cam_from_srgb(colour: CameraColour) -> np.ndarray:
    """Linear sRGB -> camera RGB, rows normalized so that white stays white (before WB)."""
    m = np.linalg.inv(colour.cam_to_srgb)
    return m / m.sum(axis=1, keepdims=True)


def unprocess(rgb8: np.ndarray, colour: CameraColour) -> np.ndarray:
    """An (H, W, 3) or (H, W) uint8 sRGB image as a linear RGGB mosaic in [0, 1].

    H and W are cut to even sizes. Grey images are treated as neutral colour images.
    """
    img = np.asarray(rgb8)
    if img.dtype != np.uint8:
        raise ValueError("unprocess expects an 8-bit image")
    if img.ndim == 2:
        img = np.repeat(img[..., None], 3, axis=2)
    img = img[..., :3]  # drop alpha
    h, w = img.shape[0] // 2 * 2, img.shape[1] // 2 * 2
    lin = srgb_to_linear(img[:h, :w].astype(np.float64) / 255.0)
    cam = lin @ cam_from_srgb(colour).T
    cam /= np.asarray(colour.wb_gains)  # the camera saw the scene before white balance
    return rggb_mosaic(np.clip(cam, 0.0, 1.0))


def rggb_mosaic(rgb: np.ndarray) -> np.ndarray:
    """Sample an (H, W, 3) image on an RGGB mosaic (H and W even), each colour at its own
    Bayer position."""
    out = np.empty(rgb.shape[:2], dtype=np.float64)
    out[0::2, 0::2] = rgb[0::2, 0::2, 0]
    out[0::2, 1::2] = rgb[0::2, 1::2, 1]
    out[1::2, 0::2] = rgb[1::2, 0::2, 1]
    out[1::2, 1::2] = rgb[1::2, 1::2, 2]
    return out


def contact_sheet(images: Sequence[np.ndarray], width: int) -> np.ndarray:
    """Place images (H, W[, C]) row by row on a black sheet ``width`` pixels wide.

    Every image starts at even coordinates so Bayer phases line up; used to gather many small
    images into one frame (one frame of ``pretrain --sample-by frame``).
    """
    rows: list[list[np.ndarray]] = [[]]
    used = 0
    for img in images:
        img = np.asarray(img)[: img.shape[0] // 2 * 2, : img.shape[1] // 2 * 2]
        if img.shape[1] > width:
            raise ValueError(f"an image {img.shape[1]} px wide does not fit a {width} px sheet")
        if used + img.shape[1] > width and rows[-1]:
            rows.append([])
            used = 0
        rows[-1].append(img)
        used += img.shape[1]
    height = sum(max(i.shape[0] for i in row) for row in rows)
    sheet = np.zeros((height, width), dtype=images[0].dtype)
    y = 0
    for row in rows:
        x = 0
        for img in row:
            sheet[y : y + img.shape[0], x : x + img.shape[1]] = img
            x += img.shape[1]
        y += max(i.shape[0] for i in row)
    return sheet


def write_unprocessed_dng(
    path: str | Path,
    mosaic: np.ndarray,
    colour: CameraColour,
    *,
    source: str,
    overwrite: bool = False,
) -> Path:
    """Write a [0, 1] RGGB mosaic as a DNG at the camera's white level (black 0)."""
    from rawdenoise.atomic import atomic_path
    from rawdenoise.dng import write_dng

    dn = np.round(np.clip(mosaic, 0.0, 1.0) * colour.white_level).astype(np.uint16)
    path = Path(path)
    # DNG ColorMatrix1 maps XYZ to camera RGB; AsShotNeutral is the camera's response to white
    gains = np.asarray(colour.wb_gains)
    xyz_to_cam = np.diag(1.0 / gains) @ cam_from_srgb(colour) @ np.linalg.inv(SRGB_TO_XYZ)
    neutral = tuple(float(v) for v in 1.0 / gains)
    with atomic_path(path, overwrite=overwrite) as tmp:
        write_dng(
            tmp,
            dn,
            cfa="RGGB",
            black_level=0,
            white_level=colour.white_level,
            make="rawdenoise",
            model=f"unprocessed {source} as {colour.name}",
            color_matrix=xyz_to_cam,
            as_shot_neutral=neutral,
        )
    return path
