"""Run a restoration network on an image of any size: pad to its size multiple and crop back, optionally in tiles.

Used by BasicSR validation, MMEngine prediction, ``Restorer`` and ``mprnet-infer``; nothing else pads or tiles.

Tiling is an approximation for MPRNet: its channel attention pools over the whole input it sees, so a tile's
output differs slightly from the same region of the whole-image output. Use the largest tile that fits in memory.
"""
from __future__ import annotations

import math
from typing import Callable, List, Optional, Sequence, Tuple, Union

import torch
import torch.nn.functional as F
from torch import Tensor

from mprnet_plugin.archs.descriptor import image_output, network_size_multiple
from mprnet_plugin.data.crop_grid import crop_starts

NetOutput = Union[Tensor, Sequence[Tensor]]
Network = Callable[[Tensor], NetOutput]


def check_tile(tile: object, overlap: object, multiple: int = 8, size_name: str = 'tile size',
               overlap_name: str = 'tile overlap') -> None:
    """Refuse a tile size that is not a positive multiple of ``multiple``, or an overlap outside [0, tile)."""
    if isinstance(tile, bool) or not isinstance(tile, int) or tile <= 0 or tile % multiple:
        raise ValueError(f'{size_name} must be a positive multiple of {multiple}; got {tile!r}')
    if isinstance(overlap, bool) or not isinstance(overlap, int) or not 0 <= overlap < tile:
        raise ValueError(f'{overlap_name} must be an integer in [0, tile size {tile}); got {overlap!r}')


def pad_to_multiple(x: Tensor, multiple: int = 8) -> Tuple[Tensor, Tuple[int, int]]:
    """Reflect-pad the right and bottom edges of (N, C, H, W) ``x`` to multiples of ``multiple``.

    Returns the padded tensor and the original (H, W). Images too small to reflect are padded by replication.
    """
    h, w = x.shape[-2:]
    pad_h, pad_w = (-h) % multiple, (-w) % multiple
    if pad_h == 0 and pad_w == 0:
        return x, (h, w)
    mode = 'reflect' if pad_h < h and pad_w < w else 'replicate'
    return F.pad(x, (0, pad_w, 0, pad_h), mode=mode), (h, w)


def crop_to(x: Tensor, size: Tuple[int, int]) -> Tensor:
    """Crop (..., H, W) ``x`` back to its top-left ``size``."""
    return x[..., :size[0], :size[1]]


def tile_starts(length: int, tile: int, overlap: int) -> List[int]:
    """Start offsets of tiles of size ``tile`` that cover ``length`` with at least ``overlap`` shared pixels."""
    if length <= tile:
        return [0]
    # The same grid as the training crops: a fixed step, plus a last tile flush with the border.
    return crop_starts(length, tile, tile - overlap)


def _ramp(length: int, overlap: int, taper_start: bool, taper_end: bool, device: torch.device) -> Tensor:
    """A 1-D blending weight: 1 inside; on a side shared with a neighbouring tile, 0 for the outermost
    ``overlap // 4`` pixels (where the tile's own zero padding shows), then a raised-cosine rise to 1 at ``overlap``.

    The neighbour's weight is positive wherever this one is 0, so every pixel is covered.
    """
    weight = torch.ones(length, device=device)
    span = min(overlap, length // 2)
    dead = span // 4
    rise = span - dead
    if rise > 0:
        t = (torch.arange(rise, device=device, dtype=torch.float32) + 0.5) / rise
        edge = torch.cat([torch.zeros(dead, device=device), 0.5 - 0.5 * torch.cos(math.pi * t)])
        if taper_start:
            weight[:span] = edge
        if taper_end:
            weight[-span:] = edge.flip(0)
    return weight


def restore_tiled(net: Network, x: Tensor, tile: int, overlap: int = 32, multiple: Optional[int] = None,
                  tile_batch: int = 1) -> Tensor:
    """Restore (N, C, H, W) ``x`` in overlapping ``tile`` x ``tile`` tiles blended with a raised-cosine window.

    For a network whose receptive field reaches at most ``overlap // 4`` pixels this equals the whole-image result.
    ``multiple`` defaults to the network's ``size_multiple``.
    """
    multiple = multiple or network_size_multiple(net)
    check_tile(tile, overlap, multiple)
    padded, size = pad_to_multiple(x, multiple)
    h, w = padded.shape[-2:]
    th, tw = min(tile, h), min(tile, w)
    ys, xs = tile_starts(h, th, overlap), tile_starts(w, tw, overlap)
    out: Optional[Tensor] = None
    weight_sum = torch.zeros(1, 1, h, w, device=x.device, dtype=torch.float32)
    boxes = [(y, x0) for y in ys for x0 in xs]
    for i in range(0, len(boxes), tile_batch):
        chunk = boxes[i:i + tile_batch]
        tiles = torch.cat([padded[..., y:y + th, x0:x0 + tw] for y, x0 in chunk], dim=0)
        preds = image_output(net(tiles)).float().split(padded.shape[0], dim=0)
        for (y, x0), pred in zip(chunk, preds):
            if out is None:
                out = torch.zeros(padded.shape[0], pred.shape[1], h, w, device=x.device, dtype=torch.float32)
            wy = _ramp(th, overlap, y > 0, y + th < h, x.device)
            wx = _ramp(tw, overlap, x0 > 0, x0 + tw < w, x.device)
            win = (wy[:, None] * wx[None, :])[None, None]
            out[..., y:y + th, x0:x0 + tw] += pred * win
            weight_sum[..., y:y + th, x0:x0 + tw] += win
    assert out is not None
    return crop_to(out / weight_sum, size).to(x.dtype)


def restore(net: Network, x: Tensor, tile: Optional[int] = None, overlap: int = 32, multiple: Optional[int] = None,
            tile_batch: int = 1) -> Tensor:
    """Restore (N, C, H, W) ``x`` of any size with ``net``: padded (to ``multiple``, default the network's
    ``size_multiple``) and cropped back, whole or in tiles."""
    multiple = multiple or network_size_multiple(net)
    if x.dim() != 4:
        raise ValueError(f'restore expects a 4-D (N, C, H, W) tensor; got shape {tuple(x.shape)}')
    if tile is not None and tile > 0 and (x.shape[-2] > tile or x.shape[-1] > tile):
        return restore_tiled(net, x, tile, overlap, multiple, tile_batch)
    padded, size = pad_to_multiple(x, multiple)
    return crop_to(image_output(net(padded)), size)


def is_out_of_memory(exc: BaseException) -> bool:
    """True for an allocation failure: CUDA's ``OutOfMemoryError`` or the CPU allocator's ``RuntimeError``."""
    return isinstance(exc, torch.OutOfMemoryError) or (
        isinstance(exc, RuntimeError) and "can't allocate memory" in str(exc))


def _smaller_tile(current: Optional[int], fallback_tile: int, size: Tuple[int, int], multiple: int) -> int:
    """The next tile size to try after running out of memory with ``current`` (None: the whole image)."""
    longest = max(size)
    nxt = fallback_tile if current is None else current // 2
    if nxt >= longest:  # a fallback tile as large as the image would run it whole again
        nxt = longest // 2
    return nxt - nxt % multiple


def restore_with_fallback(net: Network, x: Tensor, tile: Optional[int] = None, overlap: int = 32,
                          multiple: Optional[int] = None,
                          tile_batch: int = 1, fallback_tile: int = 512, min_tile: int = 64,
                          notify: Optional[Callable[[str], None]] = None) -> Tensor:
    """``restore``, retried in smaller tiles when memory runs out.

    The first try is whole (or in ``tile`` tiles); on out-of-memory it retries with fewer tiles per batch, then in
    ``fallback_tile`` tiles, halving down to ``min_tile``. ``notify`` receives a message at each retry.
    """
    current = tile if tile else None
    multiple = multiple or network_size_multiple(net)
    while True:
        try:
            return restore(net, x, current, overlap, multiple, tile_batch)
        except Exception as exc:  # noqa: BLE001 (only allocation failures are retried)
            if not is_out_of_memory(exc):
                raise
            failure = f'{type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ""}'
        # Retry outside the except block, so the failed attempt's tensors (held by the traceback) are freed first.
        if x.is_cuda:
            torch.cuda.empty_cache()
        shape = 'x'.join(map(str, x.shape[-2:]))
        done = 'whole' if current is None else f'in {current}px tiles'
        if current is not None and tile_batch > 1:
            tile_batch = max(1, tile_batch // 2)
            retry = f'{tile_batch} tiles at a time'
        else:
            nxt = _smaller_tile(current, fallback_tile, tuple(x.shape[-2:]), multiple)
            if nxt < max(min_tile, overlap + multiple):
                raise MemoryError(f'out of memory restoring a {shape} image {done}, and tiles below {min_tile}px '
                                  f'(or not larger than the overlap {overlap}) are not tried: {failure}')
            current = nxt
            retry = f'{current}px tiles with {overlap}px overlap'
        if notify is not None:
            notify(f'out of memory restoring a {shape} image {done}; retrying with {retry}')
