"""MPRNet-Local: MPRNet with TLC's local channel-attention pooling at test time (Chu et al., ECCV 2022).

Every channel-attention layer gets its own window: the size of the feature map it sees when the network runs on a
``train_size`` input, times ``base_size / train_size`` (integer division, as TLC). The four stage-1 quarters, the
stage-2 halves and stage 3 see different sizes, so their windows differ. The windows are worked out once, when the
network is built or converted, by a dry run on the ``meta`` device (no arithmetic, no memory).

The parameters stay the ChannelAttention modules' own (``...CA.conv_du.*``): the state dict is exactly MPRNet's, so
every MPRNet checkpoint loads strictly, and ``to_local`` / ``to_global`` convert a built network both ways in place,
sharing its weights. For inputs up to ``train_size`` every window covers its map and the output is MPRNet's, bit for
bit. TLC is a test-time converter, but the local pooling is differentiable too: a network trained on crops larger
than ``train_size`` trains through it (inference without autograd takes a faster, in-place path).
"""
from __future__ import annotations

from typing import Dict, Optional, Sequence, Union

import torch
from torch import Tensor, nn

from basicsr.utils.registry import ARCH_REGISTRY

from .descriptor import ArchDescriptor, register_descriptor
from .local_pool import (Window, covers, fast_local_mean, gate_centred, gate_centred_by_rows, local_mean, local_mean_,
                         no_autocast, pad_centred)
from .mprnet_arch import MPRNET_DESCRIPTOR, SIZE_MULTIPLE, ChannelAttention, MPRNet

SizeSpec = Union[int, Sequence[int]]

# TLC's default window: 1.5 times the training patch, per side.
DEFAULT_BASE_SCALE = 1.5


class LocalChannelAttention(ChannelAttention):
    """ChannelAttention pooling over ``window`` around each position; it shares ``source``'s parameters and keys."""

    def __init__(self, source: ChannelAttention, window: Window, fast_imp: bool = False) -> None:
        nn.Module.__init__(self)
        self.conv_du = source.conv_du  # the same module: same parameters, same state-dict keys
        self.window, self.fast_imp = (int(window[0]), int(window[1])), fast_imp

    def forward(self, x: Tensor, residual: Optional[Tensor] = None) -> Tensor:
        """``x`` gated per channel and position, plus ``residual`` when given."""
        h, w = x.shape[-2:]
        # In eager mode a covering window is MPRNet's own global pooling; a traced graph keeps the general path, so
        # that it stays right at sizes other than the traced one.
        if not torch.jit.is_tracing() and covers(self.window, h, w):
            return super().forward(x, residual)
        if self.fast_imp:
            pooled = fast_local_mean(x, self.window)
            return self._gate(x, self.conv_du(pooled), residual)
        # The first 1x1 convolution is linear, so it commutes with the mean: applied first, it leaves the window
        # sums a quarter of the channels to add up (the reduction), for the price of one small convolution.
        reduce, relu, expand, sigmoid = self.conv_du
        reduced = reduce(x)
        if torch.jit.is_tracing() or reduced.requires_grad:
            return self._gate(x, self.conv_du[1:](local_mean(reduced, self.window)), residual)
        with no_autocast(reduced):
            work = reduced.to(torch.promote_types(reduced.dtype, torch.float32))
            pooled = relu(local_mean_(work, self.window))
        return gate_centred_by_rows(x, pooled, lambda rows: sigmoid(expand(rows)), residual)

    @staticmethod
    def _gate(x: Tensor, gate: Tensor, residual: Optional[Tensor]) -> Tensor:
        """``residual + x * gate`` with ``gate`` replicate-padded to ``x``'s size, centred as TLC."""
        if not (torch.jit.is_tracing() or torch.is_grad_enabled() and (x.requires_grad or gate.requires_grad)):
            return gate_centred(x, gate, residual)  # the same values, without a padded full-size gate
        gate = pad_centred(gate, *x.shape[-2:])
        return x * gate if residual is None else torch.addcmul(residual, x, gate)

    def to_global(self) -> ChannelAttention:
        """A plain ChannelAttention with the same parameters."""
        plain = ChannelAttention.__new__(ChannelAttention)
        nn.Module.__init__(plain)
        plain.conv_du = self.conv_du
        return plain

    def extra_repr(self) -> str:
        return f'window={self.window}, fast_imp={self.fast_imp}'


def parse_size(value: SizeSpec, what: str) -> Window:
    """``(h, w)`` from an int, ``[h, w]`` or TLC's ``[1, 3, h, w]``; anything else is refused naming ``what``."""
    if isinstance(value, bool):
        raise ValueError(f'MPRNetLocal: {what} must be an int, [h, w] or [N, C, h, w]; got {value!r}')
    if isinstance(value, int):
        size = (value, value)
    elif isinstance(value, (list, tuple)) and len(value) in (2, 4) and all(
            isinstance(v, int) and not isinstance(v, bool) for v in value):
        size = (value[-2], value[-1])
    else:
        raise ValueError(f'MPRNetLocal: {what} must be an int, [h, w] or [N, C, h, w]; got {value!r}')
    if size[0] < 1 or size[1] < 1:
        raise ValueError(f'MPRNetLocal: {what} must be positive; got {value!r}')
    return size


def resolve_sizes(train_size: SizeSpec, base_size: Optional[SizeSpec]) -> tuple:
    """``(train_hw, base_hw)``: base defaults to 1.5 x train per side; train must be a multiple of 8 (MPRNet's)."""
    train = parse_size(train_size, 'train_size')
    if train[0] % SIZE_MULTIPLE or train[1] % SIZE_MULTIPLE:
        raise ValueError(f'MPRNetLocal: train_size {train[0]}x{train[1]} must be multiples of {SIZE_MULTIPLE}, '
                         'the sizes MPRNet runs on')
    if base_size is None:
        base = (int(DEFAULT_BASE_SCALE * train[0]), int(DEFAULT_BASE_SCALE * train[1]))
    else:
        base = parse_size(base_size, 'base_size')
    return train, base


def _attention_modules(net: nn.Module) -> Dict[str, ChannelAttention]:
    return {name: m for name, m in net.named_modules() if isinstance(m, ChannelAttention)}


def feature_sizes(net: MPRNet, train_size: Window) -> Dict[str, Window]:
    """The (h, w) each channel-attention module of ``net`` sees on a ``train_size`` input (a meta-device dry run)."""
    with torch.device('meta'):
        dry = MPRNet(**net.config, channels_last=net.channels_last)  # type: ignore[arg-type]
    sizes: Dict[str, Window] = {}
    hooks = []
    for name, module in _attention_modules(dry).items():
        def record(_module: nn.Module, args: tuple, name: str = name) -> None:
            sizes[name] = (int(args[0].shape[-2]), int(args[0].shape[-1]))
        hooks.append(module.register_forward_pre_hook(record))
    try:
        with torch.no_grad():
            dry(torch.empty(1, net.in_c, *train_size, device='meta'))
    finally:
        for hook in hooks:
            hook.remove()
    return sizes


def local_windows(net: MPRNet, train_size: SizeSpec = 256, base_size: Optional[SizeSpec] = None) -> Dict[str, Window]:
    """Each channel-attention module's window: its feature size at ``train_size`` times base / train (TLC's rule)."""
    train, base = resolve_sizes(train_size, base_size)
    return {name: (h * base[0] // train[0], w * base[1] // train[1])
            for name, (h, w) in feature_sizes(net, train).items()}


def _mprnets(net: nn.Module) -> list:
    found = [m for m in net.modules() if isinstance(m, MPRNet)]
    if not found:
        raise TypeError(f'{type(net).__name__} holds no MPRNet to convert')
    return found


def _replace(parent: nn.Module, name: str, module: nn.Module) -> None:
    owner_name, _, attr = name.rpartition('.')
    setattr(parent.get_submodule(owner_name) if owner_name else parent, attr, module)


def to_local(net: nn.Module, train_size: SizeSpec = 256, base_size: Optional[SizeSpec] = None,
             fast_imp: bool = False) -> nn.Module:
    """Make every MPRNet in ``net`` pool locally (TLC), in place, sharing its weights; returns ``net``.

    An already local network gets the new windows.
    """
    for mprnet in _mprnets(net):
        windows = local_windows(mprnet, train_size, base_size)
        for name, module in _attention_modules(mprnet).items():
            plain = module.to_global() if isinstance(module, LocalChannelAttention) else module
            _replace(mprnet, name, LocalChannelAttention(plain, windows[name], fast_imp))
    return net


def to_global(net: nn.Module) -> nn.Module:
    """Undo ``to_local`` in place: every channel attention pools globally again, with the same weights."""
    for mprnet in _mprnets(net):
        for name, module in _attention_modules(mprnet).items():
            if isinstance(module, LocalChannelAttention):
                _replace(mprnet, name, module.to_global())
    return net


def is_local(net: nn.Module) -> bool:
    """True when ``net`` holds a channel attention that pools locally."""
    return any(isinstance(m, LocalChannelAttention) for m in net.modules())


@ARCH_REGISTRY.register()
class MPRNetLocal(MPRNet):
    """MPRNet whose channel attention pools over windows sized from the training patch (TLC), for testing.

    Args:
        train_size: the training patch: an int, ``[h, w]`` or TLC's ``[1, 3, h, w]`` (default 256).
        base_size: the window at the input's scale: an int or ``[h, w]``; default 1.5 x ``train_size`` per side.
        fast_imp: TLC's faster, approximate pooling (sub-sampled integral image) instead of the exact one.
        Every other argument is MPRNet's; the state dict is MPRNet's.
    """

    def __init__(self, *args: object, train_size: SizeSpec = 256, base_size: Optional[SizeSpec] = None,
                 fast_imp: bool = False, **kwargs: object) -> None:
        super().__init__(*args, **kwargs)  # type: ignore[arg-type]
        self.train_size, self.base_size = resolve_sizes(train_size, base_size)
        to_local(self, self.train_size, self.base_size, fast_imp)


# The state dict, presets and size multiple are MPRNet's.
register_descriptor(ArchDescriptor('MPRNetLocal', size_multiple=MPRNET_DESCRIPTOR.size_multiple, has_stages=True,
                                   presets=MPRNET_DESCRIPTOR.presets, infer_config=MPRNET_DESCRIPTOR.infer_config))
