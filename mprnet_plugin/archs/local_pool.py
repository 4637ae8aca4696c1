"""Local average pooling for channel attention at test time (TLC: Chu et al., ECCV 2022).

A channel-attention layer trained on small patches pools its whole input; on a large test image that mean covers a
region it never saw in training. The local pooling averages over a fixed window around each position instead: the
mean of every window that fits (by an integral image), the gate computed on that smaller map, then replicate-padded
back to the map's size with TLC's centring. Where the window covers the whole map, it is the global mean.

Inference without autograd works in place (no full-size temporaries: on a CPU every large allocation costs page
faults as well as a pass over memory); with autograd recording, the same sums are taken out of place.

Every function here also traces (``torch.jit.trace``, ONNX) with free height and width: sizes that depend on the
input become tensor arithmetic while tracing instead of Python integers frozen at the traced size.
"""
from __future__ import annotations

import contextlib
from typing import Callable, Optional, Tuple, Union

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
    with a per-channel offset near the mean removed first, so its rounding error does not grow with the map's area:
    a 4K map is as accurate as a small one. Differentiable when autograd records ``x``.
    """
    h, w = x.shape[-2:]
    k1, k2 = _clip(h, window[0]), _clip(w, window[1])
    dtype = torch.promote_types(x.dtype, torch.float32)
    with no_autocast(x):
        if torch.jit.is_tracing() or (torch.is_grad_enabled() and x.requires_grad):
            return _local_mean_functional(x.to(dtype), k1, k2).to(x.dtype)
        # A private copy to work in place on (on a CPU every large allocation costs page faults as well as a pass).
        work = x.to(dtype, copy=True, memory_format=_memory_format(x))
        return local_mean_(work, (k1, k2)).to(x.dtype, copy=x.dtype == dtype)


def no_autocast(x: Tensor) -> contextlib.AbstractContextManager:
    """Autocast switched off on ``x``'s device where it exists (not on the meta device, where MACs are counted)."""
    if torch.amp.is_autocast_available(x.device.type):
        return torch.autocast(x.device.type, enabled=False)
    return contextlib.nullcontext()


def _local_mean_functional(values: Tensor, k1: Size, k2: Size) -> Tensor:
    """``local_mean`` without in-place writes into views: what autograd and tracing need."""
    h, w = values.shape[-2:]
    mean = values.mean((2, 3), keepdim=True)
    rows = _window_sums(_zero_first(values - mean, -1).cumsum(-1), -1, k2)
    sums = _window_sums(_zero_first(rows, -2).cumsum(-2), -2, k1)
    return sums / (k1 * k2) + mean


# A cumulative sum along the height is a row loop below this many rows (torch's cumsum along a strided axis of a
# channels-last map is several times slower than one vectorised add per row), and torch's own above it.
_ROW_LOOP_MAX_ROWS = 4096
# The in-place window differences go in strips no wider than the window; beyond this many strips one out-of-place
# difference is cheaper than the Python loop.
_MAX_STRIPS = 16


def local_mean_(work: Tensor, window: Window) -> Tensor:
    """``local_mean`` computed in place in ``work`` (float32 or float64, overwritten), returned as a view of it.

    For inference only (no autograd): the integral image, its window differences and the final scaling all reuse
    ``work``'s memory, so no full-size tensor is allocated.
    """
    h, w = work.shape[-2:]
    k1, k2 = min(h, int(window[0])), min(w, int(window[1]))
    # Any per-channel value near the mean keeps the cumulative sums small; a sparse sample finds one without a pass
    # over the map (a full reduction of a channels-last map is itself a slow, strided pass).
    offset = work[..., ::max(1, h // 64), ::max(1, w // 64)].mean((2, 3), keepdim=True)
    work.sub_(offset)
    work.cumsum_(-1)
    _window_differences_(work, -1, k2)
    rows = work[..., k2 - 1:]  # rows[..., j] = sum of the k2 columns from j
    if work.is_contiguous() or h > _ROW_LOOP_MAX_ROWS:
        rows.cumsum_(-2)
    else:
        for i in range(1, h):
            rows[..., i, :].add_(rows[..., i - 1, :])
    _window_differences_(rows, -2, k1)
    return rows[..., k1 - 1:, :].mul_(1 / (k1 * k2)).add_(offset)


def _window_differences_(cum: Tensor, dim: int, k: int) -> None:
    """In place along ``dim``: ``cum[j] -= cum[j - k]`` for every ``j >= k``, turning a cumulative sum into sums of
    ``k`` consecutive values ending at ``j``."""
    n = cum.shape[dim]
    if n <= k:
        return
    if (n - k) > _MAX_STRIPS * k:
        cum.narrow(dim, k, n - k).copy_(cum.narrow(dim, k, n - k) - cum.narrow(dim, 0, n - k))
        return
    # Right to left in strips at most k wide: a strip reads only columns left of it, none yet overwritten.
    end = n
    while end > k:
        start = max(k, end - k)
        cum.narrow(dim, start, end - start).sub_(cum.narrow(dim, start - k, end - start))
        end = start


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
    rows and columns broadcast over them: one full-size tensor (the result) instead of two. No autograd (``out=``).
    """
    return gate_centred_by_rows(x, gate, _identity, residual, rows_per_block=gate.shape[-2])


def _identity(t: Tensor) -> Tensor:
    return t


# Bytes of gate computed at a time by ``gate_centred_by_rows``: below glibc's largest mmap threshold (32 MiB), so
# that blocks reuse heap memory instead of page-faulting fresh pages, yet few blocks per map: every block is several
# multi-threaded operations, and on a shared CPU each one can wait a time slice for a descheduled thread (2 MiB
# blocks measured 1.5-2x slower per layer than 24 MiB ones on 2 busy cores, though slightly faster on 1 thread).
GATE_BLOCK_BYTES = 24 * 2 ** 20


def gate_centred_by_rows(x: Tensor, pooled: Tensor, make_gate: Callable[[Tensor], Tensor],
                         residual: Optional[Tensor] = None, rows_per_block: Optional[int] = None) -> Tensor:
    """``gate_centred(x, make_gate(pooled), residual)`` with the gate made a block of rows at a time.

    ``make_gate`` must act on each position on its own (1x1 convolutions, point-wise activations), so that blocks of
    rows give the rows of the whole gate. No autograd (``out=``).
    """
    h, w = x.shape[-2:]
    gh, gw = pooled.shape[-2:]
    top, left = (h - gh) // 2, (w - gw) // 2
    if rows_per_block is None:
        row_bytes = x.shape[0] * x.shape[1] * gw * x.element_size()
        rows_per_block = max(1, GATE_BLOCK_BYTES // max(1, row_bytes))
    cols = ((0, left, slice(0, 1)), (left, left + gw, slice(None)), (left + gw, w, slice(gw - 1, gw)))
    out: Optional[Tensor] = None
    for g0 in range(0, gh, rows_per_block):
        g1 = min(gh, g0 + rows_per_block)
        gate = make_gate(pooled[..., g0:g1, :])
        if out is None:
            base = x if residual is None else residual
            dtype = torch.promote_types(torch.promote_types(x.dtype, gate.dtype), base.dtype)
            out = torch.empty(torch.broadcast_shapes(x.shape, base.shape), dtype=dtype, device=x.device,
                              memory_format=_memory_format(x))
        bands = [(top + g0, top + g1, slice(None))]
        if g0 == 0:
            bands.insert(0, (0, top, slice(0, 1)))  # the top border repeats the gate's first row
        if g1 == gh:
            bands.append((top + gh, h, slice(g1 - g0 - 1, g1 - g0)))  # the bottom border its last row
        for r0, r1, row_sel in bands:
            for c0, c1, col_sel in cols:
                if r1 <= r0 or c1 <= c0:
                    continue
                region = (Ellipsis, slice(r0, r1), slice(c0, c1))
                g = gate[..., row_sel, col_sel]
                if residual is None:
                    torch.mul(x[region], g, out=out[region])
                else:
                    torch.addcmul(residual[region], x[region], g, out=out[region])
    assert out is not None
    return out


def _memory_format(x: Tensor) -> torch.memory_format:
    if x.dim() == 4 and not x.is_contiguous() and x.is_contiguous(memory_format=torch.channels_last):
        return torch.channels_last
    return torch.contiguous_format
