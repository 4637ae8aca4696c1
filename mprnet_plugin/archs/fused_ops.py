"""Fused forms of MPRNet's recurring patterns; each computes exactly what the plain ops compute.

* Inference on a CPU (fp32, no autograd, no autocast) runs ``conv -> PReLU`` and ``conv + residual`` as single
  oneDNN calls with the activation or the sum as a post-op: one pass over the feature map and one allocation fewer
  per pattern, which on a CPU matters as much as the arithmetic.
* Training keeps autograd's ops, except the single-slope PReLU: torch's CPU backward for it takes several times the
  two passes it needs (a leaky-ReLU backward and one dot product), so ``PReLU`` supplies those.
* Tracing, scripting, ``torch.compile`` and dispatch modes (the FLOP counter) always see the plain ops, so exported
  graphs stay portable and counts stay complete.

The fused convolutions call oneDNN through a private torch operator (``torch.ops.mkldnn._convolution_pointwise``).
They can be turned off for the whole process (``MPRNET_FUSED_OPS=0`` in the environment, or ``set_fused_ops(False)``,
as timm's ``set_fused_attn``) or for one network (``MPRNet(fused_ops=False)``, ``network_g.fused_ops: false``). A torch
without the operator, or whose operator fails, gets the plain ops, with one warning in the second case.
"""
from __future__ import annotations

import os
import warnings

import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torch.autograd.function import once_differentiable

try:
    from torch.utils._python_dispatch import _get_current_dispatch_mode
except ImportError:  # pragma: no cover - older torch
    _get_current_dispatch_mode = None


def _fused_conv_available() -> bool:
    try:
        return torch.backends.mkldnn.is_available() and hasattr(torch.ops.mkldnn, '_convolution_pointwise')
    except (AttributeError, RuntimeError):
        return False


_FUSED_CONV = _fused_conv_available()
FUSED_OPS_VARIABLE = 'MPRNET_FUSED_OPS'
# The attribute a module carries when its network turned the fused forms off (``set_module_fused_ops``).
MODULE_SWITCH = 'fused_ops'


def _environment_allows() -> bool:
    return os.environ.get(FUSED_OPS_VARIABLE, '1').strip().lower() not in ('0', 'false', 'no', 'off')


_enabled = _environment_allows()


def set_fused_ops(enabled: bool) -> None:
    """Turn the fused forms on or off for the whole process (``MPRNET_FUSED_OPS=0`` starts with them off)."""
    global _enabled
    _enabled = bool(enabled)


def fused_ops_enabled() -> bool:
    """Whether the fused forms may run in this process (they still run only where ``can_fuse_conv`` allows)."""
    return _enabled and _FUSED_CONV


def set_module_fused_ops(module: nn.Module, enabled: bool) -> None:
    """Allow or forbid the fused forms in every convolution and PReLU of ``module`` (one network's switch)."""
    for sub in module.modules():
        if isinstance(sub, (nn.Conv2d, nn.PReLU)):
            setattr(sub, MODULE_SWITCH, bool(enabled))


def _module_allows(module: nn.Module) -> bool:
    return getattr(module, MODULE_SWITCH, True)


def _operator_failed(exc: Exception) -> None:
    """Fall back to the plain ops for the rest of the process after the private operator failed once."""
    global _FUSED_CONV
    _FUSED_CONV = False
    warnings.warn(f'the fused oneDNN convolution failed ({type(exc).__name__}: {str(exc).splitlines()[0][:160]}); '
                  f'using the plain ops from now on (set {FUSED_OPS_VARIABLE}=0 to skip it)', RuntimeWarning,
                  stacklevel=3)


def _dispatch_mode_active() -> bool:
    return _get_current_dispatch_mode is not None and _get_current_dispatch_mode() is not None


def _capturing() -> bool:
    """True while tracing, scripting, torch.compile or a dispatch mode (FLOP counter, fake tensors) watches the ops."""
    return (torch.jit.is_tracing() or torch.jit.is_scripting() or torch.compiler.is_compiling()
            or _dispatch_mode_active())


def can_fuse_conv(x: Tensor, conv: nn.Conv2d) -> bool:
    """Whether ``conv`` on ``x`` may run as oneDNN's fused convolution: CPU fp32 inference, outside graph capture."""
    return (_enabled and _FUSED_CONV and _module_allows(conv) and x.device.type == 'cpu' and x.dtype == torch.float32
            and conv.weight.dtype == torch.float32 and conv.padding_mode == 'zeros'
            and not isinstance(conv.padding, str) and not torch.is_grad_enabled()
            and not torch.is_autocast_enabled('cpu') and torch.backends.mkldnn.enabled and not _capturing())


def _conv_args(conv: nn.Conv2d) -> tuple:
    return list(conv.padding), list(conv.stride), list(conv.dilation), conv.groups


def single_slope(act: nn.Module) -> float | None:
    """The slope of a one-parameter PReLU, or None for any other activation."""
    if isinstance(act, nn.PReLU) and act.weight.numel() == 1:
        return float(act.weight)
    return None


def conv_prelu(conv: nn.Conv2d, act: nn.Module, x: Tensor) -> Tensor:
    """``act(conv(x))``; one oneDNN call (leaky ReLU post-op) for a one-parameter PReLU in CPU inference."""
    if can_fuse_conv(x, conv):
        slope = single_slope(act)
        if slope is not None:
            try:
                return torch.ops.mkldnn._convolution_pointwise(x, conv.weight, conv.bias, *_conv_args(conv),
                                                               'leaky_relu', [slope], '')
            except (RuntimeError, TypeError) as exc:
                _operator_failed(exc)
    return act(conv(x))


def conv_add(conv: nn.Conv2d, x: Tensor, residual: Tensor) -> Tensor:
    """``conv(x) + residual``; one oneDNN call in CPU inference when both have the output's shape (no broadcasting)."""
    same_size = conv.stride == (1, 1) and residual.shape == (x.shape[0], conv.out_channels, *x.shape[2:])
    if same_size and can_fuse_conv(x, conv) and residual.dtype == torch.float32 and residual.device.type == 'cpu':
        residual = residual.contiguous(memory_format=_memory_format(x))
        try:
            return torch.ops.mkldnn._convolution_pointwise.binary(x, residual, conv.weight, conv.bias,
                                                                  *_conv_args(conv), 'add', None, None, [], None)
        except (RuntimeError, TypeError) as exc:
            _operator_failed(exc)
    return conv(x) + residual


def _memory_format(x: Tensor) -> torch.memory_format:
    if not x.is_contiguous() and x.is_contiguous(memory_format=torch.channels_last):
        return torch.channels_last
    return torch.contiguous_format


def _dot(a: Tensor, b: Tensor) -> Tensor:
    """``(a * b).sum()`` in one pass when both tensors share a dense memory layout."""
    for fmt in (torch.contiguous_format, torch.channels_last):
        if a.dim() == 4 and a.is_contiguous(memory_format=fmt) and b.is_contiguous(memory_format=fmt):
            if fmt == torch.channels_last:
                a, b = a.permute(0, 2, 3, 1), b.permute(0, 2, 3, 1)
            return torch.dot(a.reshape(-1), b.reshape(-1))
    return (a * b).sum()


class _SingleSlopePReLU(torch.autograd.Function):
    """PReLU with one slope, whose backward is a leaky-ReLU backward plus one dot product."""

    @staticmethod
    def forward(ctx, x: Tensor, weight: Tensor) -> Tensor:  # type: ignore[override]
        ctx.save_for_backward(x, weight)
        return F.prelu(x, weight)

    @staticmethod
    @once_differentiable
    def backward(ctx, grad: Tensor) -> tuple:  # type: ignore[override]
        x, weight = ctx.saved_tensors
        grad_x = grad_w = None
        if ctx.needs_input_grad[0]:
            # d/dx: 1 where x > 0, the slope elsewhere (torch's PReLU convention at 0).
            grad_x = torch.ops.aten.leaky_relu_backward(grad, x, float(weight), False)
        if ctx.needs_input_grad[1]:
            grad_w = _dot(grad, x.clamp(max=0)).reshape(weight.shape)
        return grad_x, grad_w


def prelu(x: Tensor, weight: Tensor, allowed: bool = True) -> Tensor:
    """``F.prelu(x, weight)``, with the fast backward for a single slope on CPU (unless the fused forms are off)."""
    if (allowed and _enabled and weight.numel() == 1 and x.device.type == 'cpu' and torch.is_grad_enabled()
            and (x.requires_grad or weight.requires_grad) and not _capturing()):
        return _SingleSlopePReLU.apply(x, weight)
    return F.prelu(x, weight)


class PReLU(nn.PReLU):
    """``nn.PReLU`` (same parameter, same state-dict key) with the fast single-slope CPU backward."""

    def forward(self, x: Tensor) -> Tensor:
        return prelu(x, self.weight, _module_allows(self))
