"""RepNR: LED's re-parameterized noise removal wrapper (method.md §3).

Every eligible ``nn.Conv2d`` of a base network becomes a :class:`RepNRConv2d` holding the
original kernel (``main_weight``/``main_bias``), a channel-wise scale/shift per branch
(``align_weights``/``align_biases``: ``branches`` virtual cameras plus the target branch, index
-1) and, once :meth:`RepNR.add_aux` is called, a zero-initialized parallel conv
(``aux_weight``/``aux_bias``).

The forward pass always uses the merged ("re-parameterized") kernel::

    W_eff[o, i] = a[i] * W[o, i] + W_aux[o, i]
    b_eff[o]    = b[o] + sum_{i,u,v} W[o, i, u, v] * c[i] + b_aux[o]

so training and :meth:`RepNR.deploy` compute exactly the same function, borders included
(LED's "trivial" form, which shifts the zero-padded input, differs at the 1-pixel border).

Eligible convs: ``nn.Conv2d`` (``ConvTranspose2d`` is not one), not grouped, not dilated (LED's
forward ignores groups and dilation, so it excludes such convs by name; we skip them), and not
named in ``exclude`` (a child's attribute name at any depth, or its full dotted name).

State-dict keys are LED's: ``conv1_1.main_weight``, ``conv1_1.main_bias``,
[``conv1_1.aux_weight``, ``conv1_1.aux_bias``], ``conv1_1.align_weights.0..N``,
``conv1_1.align_biases.0..N``; unconverted modules keep their keys (``upv6.weight``, ...).
"""

from __future__ import annotations

import copy
from collections.abc import Collection, Iterator

import torch
from torch import nn

STAGES = ("pretrain", "align", "aux")


def is_eligible(conv: nn.Module) -> bool:
    """Whether RepNR can convert ``conv`` (plain, ungrouped, undilated ``nn.Conv2d``)."""
    return (
        isinstance(conv, nn.Conv2d)
        and type(conv).forward is nn.Conv2d.forward  # subclasses with their own maths: skip
        and set(conv._parameters) <= {"weight", "bias"}
        and conv.groups == 1
        and all(d == 1 for d in conv.dilation)
    )


class RepNRConv2d(nn.Module):
    """A conv with per-branch input alignment and an optional auxiliary conv, merged per call."""

    def __init__(
        self,
        conv: nn.Conv2d,
        branches: int,
        *,
        init_weight: float = 1.0,
        init_bias: float = 0.0,
    ) -> None:
        super().__init__()
        if not is_eligible(conv):
            raise ValueError("RepNRConv2d needs an ungrouped, undilated nn.Conv2d")
        self.branches = int(branches)
        self.in_channels, self.out_channels = conv.in_channels, conv.out_channels
        weight = conv.weight.detach()
        self.main_weight = nn.Parameter(weight.clone())
        if conv.bias is not None:
            self.main_bias = nn.Parameter(conv.bias.detach().clone())
        else:
            self.register_parameter("main_bias", None)
        shape = (1, conv.in_channels, 1, 1)

        def make(value: float) -> nn.Parameter:
            return nn.Parameter(torch.full(shape, value, dtype=weight.dtype, device=weight.device))

        self.align_weights = nn.ParameterList([make(init_weight) for _ in range(branches + 1)])
        self.align_biases = nn.ParameterList([make(init_bias) for _ in range(branches + 1)])
        self.branch = -1
        # A parameter-free copy of the original conv: its hyper-parameters (stride, padding,
        # padding mode, class) run the merged kernel, and deploy() clones it. Kept out of
        # _modules so that it adds no state-dict keys.
        template = copy.copy(conv)
        template._parameters = {"weight": None, "bias": None}
        self.__dict__["_template"] = template

    @property
    def has_aux(self) -> bool:
        return getattr(self, "aux_weight", None) is not None

    def add_aux(self) -> None:
        """Add the zero-initialized parallel conv (no-op if present)."""
        if self.has_aux:
            return
        w = self.main_weight
        self.aux_weight = nn.Parameter(torch.zeros_like(w.detach()))
        self.aux_bias = nn.Parameter(torch.zeros(self.out_channels, dtype=w.dtype, device=w.device))

    def merged(self, branch: int | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        """The effective (weight, bias) of ``branch`` (default: the current branch)."""
        idx = self.branch if branch is None else branch
        a = self.align_weights[idx].reshape(1, -1, 1, 1)
        c = self.align_biases[idx].reshape(-1)
        w = self.main_weight * a
        b = self.main_weight.sum(dim=(2, 3)) @ c
        if self.main_bias is not None:
            b = b + self.main_bias
        if self.has_aux:
            w = w + self.aux_weight
            b = b + self.aux_bias
        return w, b

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        w, b = self.merged()
        if x.dim() == 4 and x.is_contiguous(memory_format=torch.channels_last):
            # the merged kernel is made anew each call: give it the input's layout, or the
            # convolution converts layouts back and forth (3-6x slower on CPU)
            w = w.contiguous(memory_format=torch.channels_last)
        return self._template._conv_forward(x, w, b)

    def to_conv(self, branch: int = -1) -> nn.Conv2d:
        """A plain conv (same class and hyper-parameters) computing ``branch``; always biased."""
        with torch.no_grad():
            w, b = self.merged(branch)
        conv = copy.copy(self._template)
        conv._parameters = {"weight": nn.Parameter(w.clone()), "bias": nn.Parameter(b.clone())}
        conv._buffers = dict(conv._buffers)
        conv._modules = dict(conv._modules)
        return conv

    def extra_repr(self) -> str:
        return (
            f"{self.in_channels}, {self.out_channels}, branches={self.branches}, "
            f"aux={self.has_aux}, template={self._template!r}"
        )


def _qualified_children(
    module: nn.Module, prefix: str = ""
) -> Iterator[tuple[nn.Module, str, str, nn.Module]]:
    """(parent, child name, dotted name, child) for every module below ``module``."""
    for name, child in module.named_children():
        dotted = f"{prefix}{name}"
        yield module, name, dotted, child
        yield from _qualified_children(child, dotted + ".")


def convertible_convs(base: nn.Module, exclude: Collection[str] = ()) -> list[str]:
    """Dotted names of the convs :class:`RepNR` would convert in ``base``."""
    excluded = set(exclude)
    return [
        dotted
        for _, name, dotted, child in _qualified_children(base)
        if is_eligible(child) and name not in excluded and dotted not in excluded
    ]


class RepNR(nn.Module):
    """LED's RepNR wrapper around a deep copy of ``base`` (``base`` itself is left untouched).

    ``forward(x, branch=-1)`` runs one branch (0..branches-1: virtual cameras, -1: the target
    camera). ``state_dict()`` has LED's keys, without a wrapper prefix.
    """

    def __init__(
        self,
        base: nn.Module,
        branches: int = 5,
        exclude: Collection[str] = (),
        aux: bool = False,
        *,
        init_weight: float = 1.0,
        init_bias: float = 0.0,
    ) -> None:
        super().__init__()
        if branches < 1:
            raise ValueError("RepNR needs at least one camera branch")
        self.branches = int(branches)
        self.exclude = tuple(exclude)
        net = copy.deepcopy(base)
        converted = set(convertible_convs(net, self.exclude))
        for parent, name, dotted, child in list(_qualified_children(net)):
            if dotted in converted:
                rep = RepNRConv2d(child, branches, init_weight=init_weight, init_bias=init_bias)
                setattr(parent, name, rep)
        self.converted = tuple(sorted(converted))
        self.net = net
        if aux:
            self.add_aux()
        self.register_state_dict_post_hook(_strip_net_prefix)
        self.register_load_state_dict_pre_hook(_add_net_prefix)

    # -- structure -------------------------------------------------------------------------
    def repnr_convs(self) -> Iterator[tuple[str, RepNRConv2d]]:
        for name, module in self.net.named_modules():
            if isinstance(module, RepNRConv2d):
                yield name, module

    @property
    def has_aux(self) -> bool:
        return any(conv.has_aux for _, conv in self.repnr_convs())

    def add_aux(self) -> None:
        """Add the zero-initialized auxiliary (out-of-model noise) convs; output is unchanged."""
        for _, conv in self.repnr_convs():
            conv.add_aux()

    # -- running ---------------------------------------------------------------------------
    def _check_branch(self, branch: int) -> int:
        if not -(self.branches + 1) <= branch <= self.branches:
            raise IndexError(
                f"branch {branch} out of range: 0..{self.branches - 1} cameras, -1 target"
            )
        return branch

    def forward(self, x: torch.Tensor, branch: int = -1) -> torch.Tensor:
        branch = self._check_branch(int(branch))
        for _, conv in self.repnr_convs():
            conv.branch = branch
        return self.net(x)

    @torch.no_grad()
    def generalize(self) -> None:
        """Set the target branch (-1) to the mean of the camera branches' alignments."""
        for _, conv in self.repnr_convs():
            for params in (conv.align_weights, conv.align_biases):
                params[-1].copy_(torch.stack([params[i] for i in range(self.branches)]).mean(0))

    def target_is_initial(self, init_weight: float = 1.0, init_bias: float = 0.0) -> bool:
        """Whether the target branch still holds its initial values (never trained)."""
        return all(
            bool((conv.align_weights[-1] == init_weight).all())
            and bool((conv.align_biases[-1] == init_bias).all())
            for _, conv in self.repnr_convs()
        )

    # -- training --------------------------------------------------------------------------
    def set_stage(self, stage: str) -> None:
        """Choose what trains (``requires_grad``), as LED's ``pretrain()``/``finetune()``.

        ``pretrain``: main weights, camera branches 0..N-1 and all unconverted parameters
        (LED trains the whole network); target branch and aux frozen.
        ``align``: only the target branch's alignment. ``aux``: only the auxiliary convs (added
        here if missing). In ``align``/``aux`` everything else is frozen, as LED's fine-tune
        optimizers only ever step these.
        """
        if stage not in STAGES:
            raise ValueError(f"unknown RepNR stage {stage!r}; expected one of {STAGES}")
        if stage == "aux":
            self.add_aux()
        for p in self.net.parameters():
            p.requires_grad_(stage == "pretrain")
        for _, conv in self.repnr_convs():
            for i in range(self.branches + 1):
                target = i == self.branches
                trainable = (stage == "pretrain" and not target) or (stage == "align" and target)
                conv.align_weights[i].requires_grad_(trainable)
                conv.align_biases[i].requires_grad_(trainable)
            if conv.has_aux:
                conv.aux_weight.requires_grad_(stage == "aux")
                conv.aux_bias.requires_grad_(stage == "aux")

    def trainable_parameters(self) -> list[nn.Parameter]:
        return [p for p in self.parameters() if p.requires_grad]

    # -- deployment ------------------------------------------------------------------------
    @torch.no_grad()
    def deploy(self, branch: int = -1) -> nn.Module:
        """A plain base-architecture network computing ``branch`` (default: the target).

        Converted convs become plain convs with the merged kernel; a conv that had no bias gets
        one (the alignment shift and the aux bias live there; LED dropped it). The wrapper is
        not modified. All parameters of the result require grad; its train/eval mode is this
        wrapper's.
        """
        self._check_branch(branch)
        net = copy.deepcopy(self.net)
        for parent, name, _, child in list(_qualified_children(net)):
            if isinstance(child, RepNRConv2d):
                setattr(parent, name, child.to_conv(branch))
        for p in net.parameters():
            p.requires_grad_(True)
        return net.train(self.training)


def _strip_net_prefix(module: nn.Module, state_dict: dict, prefix: str, local_metadata) -> None:
    inner = prefix + "net."
    for key in [k for k in state_dict if k.startswith(inner)]:
        state_dict[prefix + key[len(inner) :]] = state_dict.pop(key)


def _add_net_prefix(
    module: nn.Module,
    state_dict: dict,
    prefix: str,
    local_metadata,
    strict,
    missing_keys,
    unexpected_keys,
    error_msgs,
) -> None:
    for key in [k for k in state_dict if k.startswith(prefix)]:
        state_dict[prefix + "net." + key[len(prefix) :]] = state_dict.pop(key)


def add_conv_biases(network: nn.Module, state_dict: dict[str, torch.Tensor]) -> list[str]:
    """Give bias-free convs of ``network`` a bias where ``state_dict`` has one.

    RepNR's deploy adds biases to bias-free convs, so a deployed file has ``X.bias`` keys that a
    freshly built base network lacks. Returns the dotted names of the convs changed.
    """
    changed = []
    for name, module in network.named_modules():
        key = f"{name}.bias" if name else "bias"
        if (
            isinstance(module, nn.modules.conv._ConvNd)
            and module.bias is None
            and key in state_dict
            and state_dict[key].shape == (module.out_channels,)
        ):
            w = module.weight
            module.bias = nn.Parameter(
                torch.zeros(module.out_channels, dtype=w.dtype, device=w.device)
            )
            changed.append(name)
    return changed
