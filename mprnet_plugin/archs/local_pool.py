"""Local average pooling for channel attention at test time (TLC: Chu et al., ECCV 2022).

A channel-attention layer trained on small patches pools its whole input; on a large test image that mean covers a
region it never saw in training. The local pooling averages over a fixed window around each position instead: the
mean of every window that fits (by an integral image), the gate computed on that smaller map, then replicate-padded
back to the map's size with TLC's centring. Where the window covers the whole map, it is the global mean.

Every function here also traces (``torch.jit.trace``, ONNX) with free height and width: sizes that depend on the
input become tensor arithmetic while tracing instead of Python integers frozen at the traced size.
"""
from __future__ import annotations

import contextlib
from typing import Optional, Tuple, Union

import torch
import torch.nn.functional as F
from torch import Tensor

Window = Tuple[int, int]
Size = Union[int, Tensor]  # a Python int in eager mode, a traced 0-d tensor while tracing

# Sub-sampling factors the fast variant tries, largest first (TLC's).
FAST_FACTORS = (5, 4, 3, 2, 1)


def covers(window: Window, height: int, width: int) -> bool:
    """True when the window spans the whole ``height`` x ``width`` map (local pooling is then the global mean)."""
    return window[0] >= height and window[1] >= width


def _clip(size: Size, k: int) -> Size:
    """``min(size, k)``, recorded as tensor arithmetic while tracing."""
    if torch.jit.is_tracing():
        return torch.clamp(torch.as_tensor(size), max=k)
    return min(int(size), k)


def _window_sums(cum: Tensor, dim: int, k: Size) -> Tensor:
    """``cum[k:] - cum[:-k]`` along ``dim``: window sums from a cumulative sum that starts with a zero."""
    length = cum.shape[dim]
    n = length - k
    if torch.jit.is_tracing():
        index = torch.arange(n, device=cum.device)
        return cum.index_select(dim, index + k) - cum.index_select(dim, index)
    return cum.narrow(dim, int(k), int(n)) - cum.narrow(dim, 0, int(n))


def _zero_first(x: Tensor, dim: int) -> Tensor:
    """``x`` with one zero slice prepended along ``dim`` (-1 or -2), ready for a cumulative sum."""
    return F.pad(x, (1, 0) if dim == -1 else (0, 0, 1, 0))


def local_mean(x: Tensor, window: Window) -> Tensor:
    """Mean of every ``min(h, kh)`` x ``min(w, kw)`` window that fits in (N, C, h, w) ``x`` (valid positions).

    The result is (N, C, h - k1 + 1, w - k2 + 1) in ``x``'s dtype. The integral image is accumulated in float32 at
    least (float64 stays float64), outside autocast, separably (each cumulative sum runs along one axis only) and
    with the per-channel mean removed first, so its rounding error does not grow with the map's area: a 4K map is as
    accurate as a small one.
    """
    h, w = x.shape[-2:]
    k1, k2 = _clip(h, window[0]), _clip(w, window[1])
    dtype = torch.promote_types(x.dtype, torch.float32)
    no_autocast = (torch.autocast(x.device.type, enabled=False) if torch.amp.is_autocast_available(x.device.type)
                   else contextlib.nullcontext())  # e.g. the meta device, where MACs are counted
    with no_autocast:
        values = x.to(dtype)
        mean = values.mean((2, 3), keepdim=True)
        if torch.jit.is_tracing():
            rows = _window_sums(_zero_first(values - mean, -1).cumsum_(-1), -1, k2)
            sums = _window_sums(_zero_first(rows, -2).cumsum_(-2), -2, k1)
            return (sums / (k1 * k2) + mean).to(x.dtype)
        # Eager: each cumulative sum is written straight into a buffer that starts with a zero slice, so no padded
        # copy is made (on a CPU every large allocation costs page faults as well as a pass over memory).
        n, c = x.shape[:2]
        cum = _buffer_with_zero_first(values, (n, c, h, w + 1), -1)
        torch.sub(values, mean, out=cum[..., 1:])
        cum.cumsum_(-1)
        cum_rows = _buffer_with_zero_first(values, (n, c, h + 1, w - k2 + 1), -2)
        torch.sub(cum[..., k2:], cum[..., :w - k2 + 1], out=cum_rows[..., 1:, :])
        del cum
        cum_rows.cumsum_(-2)
        sums = cum_rows[..., k1:, :] - cum_rows[..., :h - k1 + 1, :]
        return sums.mul_(1 / (k1 * k2)).add_(mean).to(x.dtype)


def _buffer_with_zero_first(like: Tensor, shape: Tuple[int, ...], dim: int) -> Tensor:
    """An uninitialised tensor of ``shape`` in ``like``'s dtype, device and memory format, whose first slice along
    ``dim`` is zero."""
    buffer = torch.empty(shape, dtype=like.dtype, device=like.device, memory_format=_memory_format(like))
    buffer.narrow(dim, 0, 1).zero_()
    return buffer


def fast_local_mean(x: Tensor, window: Window) -> Tensor:
    """TLC's faster approximation: the local mean of a sub-sampled map, up-sampled back (nearest).

    Each axis is sub-sampled by the largest factor of (5, 4, 3, 2, 1) that divides its size; the window shrinks by
    the same factor. Not equal to ``local_mean``; cheaper on large maps. Its factors depend on the size, so it does
    not export with free height and width.
    """
    if torch.jit.is_tracing():
        raise RuntimeError('fast_imp=True chooses its sub-sampling from the input size and cannot be traced with free '
                           'height and width; export the exact variant (fast_imp=False)')
    h, w = x.shape[-2:]
    if covers(window, h, w):
        return x.mean((2, 3), keepdim=True)
    r1 = next(r for r in FAST_FACTORS if h % r == 0)
    r2 = next(r for r in FAST_FACTORS if w % r == 0)
    small = x[..., ::r1, ::r2]
    pooled = local_mean(small, (max(1, min(h, window[0]) // r1), max(1, min(w, window[1]) // r2)))
    return pooled.repeat_interleave(r1, dim=-2).repeat_interleave(r2, dim=-1)


def pad_centred(gate: Tensor, height: Size, width: Size) -> Tensor:
    """Replicate-pad (N, C, h', w') ``gate`` to ``height`` x ``width``, centred as TLC does (the extra pixel of an odd
    difference goes to the bottom and right)."""
    dh, dw = height - gate.shape[-2], width - gate.shape[-1]
    return F.pad(gate, (dw // 2, (dw + 1) // 2, dh // 2, (dh + 1) // 2), mode='replicate')


def gate_centred(x: Tensor, gate: Tensor, residual: Optional[Tensor] = None) -> Tensor:
    """``residual + x * pad_centred(gate)`` (``x * ...`` without ``residual``), without building the padded gate.

    The padded gate is constant along each border band, so the product is written band by band, the gate's edge
    rows and columns broadcast over them: one full-size tensor (the result) instead of two.
    """
    h, w = x.shape[-2:]
    gh, gw = gate.shape[-2:]
    top, left = (h - gh) // 2, (w - gw) // 2
    rows = ((0, top, slice(0, 1)), (top, top + gh, slice(None)), (top + gh, h, slice(gh - 1, gh)))
    cols = ((0, left, slice(0, 1)), (left, left + gw, slice(None)), (left + gw, w, slice(gw - 1, gw)))
    dtype = torch.promote_types(x.dtype, gate.dtype)
    base = x if residual is None else residual
    out = torch.empty(torch.broadcast_shapes(x.shape, base.shape), dtype=torch.promote_types(dtype, base.dtype),
                      device=x.device, memory_format=_memory_format(x))
    for r0, r1, row_sel in rows:
        for c0, c1, col_sel in cols:
            if r1 <= r0 or c1 <= c0:
                continue
            region = (Ellipsis, slice(r0, r1), slice(c0, c1))
            g = gate[..., row_sel, col_sel]
            if residual is None:
                torch.mul(x[region], g, out=out[region])
            else:
                torch.addcmul(residual[region], x[region], g, out=out[region])
    return out


def _memory_format(x: Tensor) -> torch.memory_format:
    if x.dim() == 4 and not x.is_contiguous() and x.is_contiguous(memory_format=torch.channels_last):
        return torch.channels_last
    return torch.contiguous_format
