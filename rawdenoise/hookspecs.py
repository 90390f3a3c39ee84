"""The plugin hooks of rawdenoise; these docstrings are the plugin reference.

A plugin is a module (or any object) named by an entry point in the group ``rawdenoise``::

    [project.entry-points.rawdenoise]
    nafnet = "rawdenoise_nafnet.plugin"

It implements one or both hooks with the ``rawdenoise.hookimpl`` decorator. Every hook takes a
``register`` callback: the plugin calls it once per thing it adds. The entry module must not
import torch (or anything heavy): it is imported by ``rawdenoise plugins`` and by shell
completion. Networks are described by an import string that is resolved only when a network is
actually built.

A plugin that fails to import, raises in a hook, or registers something invalid is reported
with one ``rawdenoise: warning: ...`` line and skipped; the rest of rawdenoise carries on.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pluggy

from rawdenoise import hookimpl

#: Marker for hook specifications (project name ``rawdenoise``).
hookspec = pluggy.HookspecMarker("rawdenoise")

__all__ = ["hookimpl", "hookspec", "register_architectures", "register_camera_profiles"]


@hookspec
def register_architectures(register: Callable[[Any], None]) -> None:
    """Add network architectures.

    Call ``register(spec)`` once per architecture, with a
    :class:`rawdenoise.specs.ArchitectureSpec` (or a dict accepted by
    ``ArchitectureSpec.from_dict``)::

        from rawdenoise import hookimpl
        from rawdenoise.specs import ArchitectureSpec

        @hookimpl
        def register_architectures(register):
            register(ArchitectureSpec(
                name="nafnet",
                factory="rawdenoise_nafnet.network:NAFNet",  # imported only to build a network
                aliases=("naf",),
                multiple_of=16,             # tiles are padded to a multiple of this
                default_options={"width": 32},
                description="NAFNet for packed 4-channel RAW",
                repnr_exclude=("ending",),  # child modules RepNR must leave as plain convs
                # optional: grow a trained model to other options with the same output,
                # f(state, options, new_options, seed) -> state (pretrain --init M -O...)
                widen="rawdenoise_nafnet.network:widen",
            ))

    The factory is called as ``factory(**options)`` (the spec's ``default_options`` updated
    with the user's) and must return a ``torch.nn.Module`` mapping a packed Bayer tensor
    (N, in_channels, H, W), normalized to [0, 1], to (N, out_channels, H, W) for any H and W
    that are multiples of ``multiple_of``.

    Names and aliases are looked up case-sensitively. When two plugins register the same name,
    the built-in one wins; otherwise the name is ambiguous and ``PLUGIN:NAME`` (the plugin's
    entry-point or distribution name) picks one.
    """


@hookspec
def register_camera_profiles(register: Callable[[Any], None]) -> None:
    """Add camera profiles (EXIF identity and noise model of a camera).

    Call ``register(profile)`` once per camera, with a
    :class:`rawdenoise.specs.CameraProfile` (or a dict accepted by
    ``CameraProfile.from_dict``, the JSON schema ``rawdenoise calibrate`` writes)::

        from rawdenoise import hookimpl
        from rawdenoise.specs import CameraProfile, LogLinear, NoiseParams

        @hookimpl
        def register_camera_profiles(register):
            register(CameraProfile(
                id="nikon-d850-lrd",
                make="NIKON CORPORATION", model="NIKON D850",
                noise=NoiseParams(k_min=3.32, k_max=11.98, tukey=LogLinear(0.906, -0.675),
                                  gaussian=LogLinear(0.832, -0.175), row=LogLinear(0.832, -2.33),
                                  tukey_lambdas=(-0.26,)),
                source="where the numbers come from",
            ))

    ``find_camera_profile(make, model)`` matches the EXIF make and model (or one of the
    profile's ``aliases``) case- and space-insensitively. Profiles in the user's
    ``profiles/`` folder take precedence over built-in ones, which take precedence over
    plugins'.
    """
