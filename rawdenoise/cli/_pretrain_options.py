"""Declarations of ``rawdenoise pretrain``'s options about what it learns from: the clean
frames, the network, the noise and the crops (the training settings are declared with the
command in :mod:`rawdenoise.cli.pretrain`)."""

from __future__ import annotations

import typer

from rawdenoise.cli._completion import complete_arch, complete_camera_profile, complete_model

CLEAN = typer.Argument(
    ...,
    metavar="PATH",
    help="Folder(s) of clean RAW frames (low ISO, well exposed), or the files themselves.",
    show_default=False,
    readable=False,  # an unreadable frame is bad input (exit 3), said by the decoder
)

NAME = typer.Option(..., "--name", "-n", metavar="NAME", help="Save the model under this name.")

ARCH = typer.Option(
    "unet",
    "--arch",
    metavar="NAME",
    help="Network architecture (see plugins).",
    autocompletion=complete_arch,
)

OPTION = typer.Option(
    [],
    "--option",
    "-O",
    metavar="KEY=VALUE",
    help="Architecture option KEY=VALUE (repeatable), e.g. channels=16.",
)

CAMERA = typer.Option(
    None,
    "--camera",
    metavar="ID",
    autocompletion=complete_camera_profile,
    help="Noise of one calibrated camera profile (ID) instead of virtual cameras; with "
    "--dark-frames: the profile giving K per ISO.",
)

DARK_FRAMES = typer.Option(
    None,
    "--dark-frames",
    help="Folder of dark frames (lens capped) whose real noise replaces the read/row terms.",
    file_okay=False,
    readable=False,
)

NOISE = typer.Option(
    "parametric",
    "--noise",
    metavar="parametric|learned",
    help="With --camera: the profile's parametric noise, or shot noise with its K plus the "
    "learned dark noise of calibrate --learn-noise.",
)

VIRTUAL_CAMERAS = typer.Option(
    5, "--virtual-cameras", help="Virtual cameras (RepNR branches), LED's coverage."
)

RATIO_RANGE = typer.Option(
    "100,300",
    "--ratio-range",
    metavar="LOW,HIGH",
    help="Ratios drawn per crop, integer uniform LOW,HIGH.",
)

NOISE_TYPE = typer.Option(
    "ptrqc",
    "--noise-type",
    metavar="LETTERS",
    help="Noise components: p shot, t Tukey-lambda or g Gaussian read, r row, "
    "q quantization, c colour bias.",
)

INIT = typer.Option(
    None,
    "--init",
    metavar="MODEL",
    autocompletion=complete_model,
    help="Start from this model (name or file) instead of random weights, e.g. to train "
    "the default further or on more frames; its architecture, options and (for as many "
    "--virtual-cameras) virtual cameras are used. -O channels=N (more than it has) grows a "
    "unet to N channels with the same output first.",
)

SAMPLE_BY = typer.Option(
    "pixel",
    "--sample-by",
    metavar="pixel|frame",
    help="Pick each crop's frame by area ('pixel') or with equal odds per frame ('frame', "
    "so small frames such as texture images count as much as large ones).",
)

AUGMENT = typer.Option(
    "bayer",
    "--augment",
    metavar="bayer|packed|none",
    help="Crop flips/transposes: 'bayer' (on the mosaic, keeping each 2x2 block's "
    "arrangement), 'packed' (LED's flips of the packed array, which mirror the block; "
    "the bundled default was trained so) or 'none'.",
)

RATIO_SAMPLING = typer.Option(
    "uniform",
    "--ratio-sampling",
    help="How ratios are drawn from --ratio-range: 'uniform' integers (LED), 'log' "
    "(log-uniform: a range such as 1,300 trains ratio 1-2 as often as 150-300) or "
    "'mixed' (each crop one or the other: low ratios covered, dark ones not starved).",
)

AUGMENT_COLOUR = typer.Option(
    False,
    "--augment-colour",
    help="Random exposure and red/blue gains per crop (white balance): the network learns "
    "to denoise any colour and level instead of its training frames' statistics.",
)

AUGMENT_CA = typer.Option(
    False,
    "--augment-ca",
    help="Random lateral chromatic aberration per crop (red and blue moved up to 0.4 packed "
    "px against green), so that the network does not learn that colour planes always line up.",
)
