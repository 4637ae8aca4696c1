"""The authors' extra training augmentations, applied to a whole (lq, gt) batch on the training device.

BasicSR's ``PairedImageDataset`` gives the random crop and the 8 flip/rotation variants; these are the rest of the
MPRNet recipes: saturation jitter for deblurring and MixUp for denoising. Both change input and target alike, and
both apply to the whole batch (before any split into gradient-accumulation micro-batches). Host-neutral: the BasicSR
model and the MMEngine model call the same functions.
"""
from __future__ import annotations

from typing import Any, Mapping, Optional, Tuple

import torch
from torch import Tensor
from torchvision.transforms.functional import adjust_saturation


def parse_saturation_option(value: Any,
                            option: str = 'train.saturation_jitter') -> Optional[Tuple[float, float, float]]:
    """``(prob, low, high)`` from ``{prob, range: [low, high]}`` (``option`` names it in errors); None when off."""
    if not value:
        return None
    if not isinstance(value, Mapping):
        raise ValueError(f'{option}: expected {{prob: P, range: [low, high]}}; got {value!r}')
    prob = float(value.get('prob', 1 / 3))
    low, high = (float(v) for v in value.get('range', (0.8, 1.2)))
    if not 0 <= prob <= 1 or not 0 <= low <= high:
        raise ValueError(f'{option}: need 0 <= prob <= 1 and 0 <= low <= high; got {dict(value)}')
    return prob, low, high


def parse_mixup_option(value: Any) -> Optional[Tuple[float, int]]:
    """``(alpha, start_iter)`` from ``train.mixup: {alpha, start_iter}``; None when off."""
    if not value:
        return None
    if not isinstance(value, Mapping) or float(value.get('alpha', 0.6)) <= 0:
        raise ValueError(f'train.mixup: expected {{alpha: A > 0, start_iter: N}}; got {value!r}')
    return float(value.get('alpha', 0.6)), int(value.get('start_iter', 0))


def saturation_jitter(lq: Tensor, gt: Tensor, prob: float, low: float, high: float) -> Tuple[Tensor, Tensor]:
    """With probability ``prob`` per sample, scale the saturation of both images by one factor from U[low, high]."""
    lq, gt = lq.clone(), gt.clone()
    chosen = torch.rand(lq.shape[0]) < prob
    factors = torch.empty(lq.shape[0]).uniform_(low, high)
    for i in torch.nonzero(chosen).flatten().tolist():
        factor = float(factors[i])
        lq[i] = adjust_saturation(lq[i], factor)
        gt[i] = adjust_saturation(gt[i], factor)
    return lq, gt


def mixup(lq: Tensor, gt: Tensor, alpha: float) -> Tuple[Tensor, Tensor]:
    """Blend the batch with a shuffled copy of itself, ``lam ~ Beta(alpha, alpha)``, the same for input and target."""
    lam = float(torch.distributions.Beta(alpha, alpha).sample())
    order = torch.randperm(lq.shape[0], device=lq.device)
    return lam * lq + (1 - lam) * lq[order], lam * gt + (1 - lam) * gt[order]
