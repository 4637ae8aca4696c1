"""Geometric self-ensemble (x8): restore the 8 flips/rotations of an image and average the outputs mapped back.

A standard test-time trick for restoration networks trained with flip/rotation augmentation (EDSR, MPRNet-style
recipes): each pass sees the same content in another orientation, so averaging them cancels part of the network's
orientation-dependent error, at 8 times the test cost. Used by ``MPRNetModel`` (``val.self_ensemble: true``) and
``Restorer(self_ensemble=True)``; ``restore_fn`` does the padding and tiling (``inference.tiling``), so every
orientation, whatever its size, is restored as a plain image would be.
"""
from __future__ import annotations

from typing import Callable, Tuple

import torch
from torch import Tensor

# (quarter turns, horizontal flip): the dihedral group of the square, the identity first.
TRANSFORMS: Tuple[Tuple[int, bool], ...] = tuple((k, flip) for flip in (False, True) for k in range(4))


def transform(x: Tensor, turns: int, flip: bool) -> Tensor:
    """``x`` (..., H, W) flipped left-right (if ``flip``), then turned ``turns`` quarter turns counter-clockwise."""
    if flip:
        x = x.flip(-1)
    return torch.rot90(x, turns, dims=(-2, -1)) if turns else x


def untransform(x: Tensor, turns: int, flip: bool) -> Tensor:
    """The inverse of ``transform(x, turns, flip)``."""
    if turns:
        x = torch.rot90(x, -turns, dims=(-2, -1))
    return x.flip(-1) if flip else x


def self_ensemble(restore_fn: Callable[[Tensor], Tensor], x: Tensor) -> Tensor:
    """The mean of ``restore_fn`` over the 8 flips/rotations of (N, C, H, W) ``x``, each output mapped back.

    The passes run one after another (peak memory of one pass) and are summed in float32; the result has the
    dtype of ``restore_fn``'s first output.
    """
    if x.dim() != 4:
        raise ValueError(f'self_ensemble expects a 4-D (N, C, H, W) tensor; got shape {tuple(x.shape)}')
    first = restore_fn(x)  # the identity transform
    total = first.float().clone()
    for turns, flip in TRANSFORMS[1:]:
        total += untransform(restore_fn(transform(x, turns, flip)), turns, flip).float()
    return (total / len(TRANSFORMS)).to(first.dtype)
