"""Score one network on the shared validation set with BasicSR's registered metrics, and keep crops for the grid."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Dict, List, Optional, Tuple

import numpy as np
import torch
from basicsr.utils import tensor2img
from torch import nn
from torch.utils.data import Dataset
from tqdm import tqdm

from mprnet_plugin.metrics.scoring import ScoringError, metric_image, score_images
from mprnet_plugin.inference.tiling import restore
from mprnet_plugin.runtime.precision import autocast

Box = Tuple[int, int, int, int]  # top, left, height, width


def centre_box(height: int, width: int, crop_size: int) -> Box:
    """The centred ``crop_size`` square of an image (or the whole side when the image is smaller)."""
    ch, cw = min(crop_size, height), min(crop_size, width)
    return (height - ch) // 2, (width - cw) // 2, ch, cw


def crop(img: np.ndarray, box: Box) -> np.ndarray:
    """The ``box`` region of an H x W (x C) array."""
    top, left, h, w = box
    return img[top:top + h, left:left + w]


@dataclass
class Evaluation:
    """Mean and per-image metric values, and the restored crops (BGR uint8) for the first images."""

    means: Dict[str, float]
    per_image: List[Dict[str, Any]]
    crops: List[np.ndarray] = field(default_factory=list)


def evaluate_network(net: nn.Module, dataset: Dataset, metrics: Dict[str, Dict[str, Any]], device: torch.device,
                     size_multiple: Optional[int] = None, tile: Optional[int] = None, tile_overlap: int = 32,
                     max_images: Optional[int] = None, grid_images: int = 0, crop_size: int = 96,
                     desc: str = 'eval', precision: str = 'fp32') -> Evaluation:
    """Restore every validation image (padded to ``size_multiple``, default the network's), score it like BasicSR.

    ``precision``: fp32, or bf16 / fp16 autocast (``runtime.precision``; the caller checks it suits ``device``).

    Scored by ``metrics.scoring.score_images``: 8-bit rounded outputs, unrounded ones for the float metrics.
    """
    count = len(dataset) if max_images is None else min(len(dataset), max_images)
    if count == 0:
        raise ValueError('the validation set is empty')
    net.eval()
    per_image: List[Dict[str, Any]] = []
    crops: List[np.ndarray] = []
    with torch.inference_mode():
        for index in tqdm(range(count), desc=desc, unit='img', dynamic_ncols=True, leave=False):
            sample = dataset[index]
            lq = sample['lq'].unsqueeze(0).to(device)
            with autocast(device, precision):
                out = restore(net, lq, tile=tile, overlap=tile_overlap, multiple=size_multiple)
            restored = out.float().cpu()
            try:
                values = score_images(restored, sample['gt'], metrics)
            except ScoringError as exc:
                raise type(exc)(f'{sample.get("lq_path", index)}: {exc}') from None
            row: Dict[str, Any] = {'image': str(sample.get('gt_path', index)), **values}
            per_image.append(row)
            if index < grid_images:
                restored_8bit = metric_image(restored, unrounded=False)
                crops.append(crop(restored_8bit, centre_box(*restored_8bit.shape[:2], crop_size)))
    means = {name: float(np.mean([row[name] for row in per_image])) for name in metrics}
    return Evaluation(means, per_image, crops)


def reference_crops(dataset: Dataset, images: int, crop_size: int) -> Dict[str, List[np.ndarray]]:
    """The degraded and ground-truth crops (BGR uint8) the grid shows beside the restored ones."""
    out: Dict[str, List[np.ndarray]] = {'lq': [], 'gt': []}
    for index in range(min(images, len(dataset))):
        sample = dataset[index]
        for key in ('lq', 'gt'):
            img = tensor2img(sample[key].unsqueeze(0))
            out[key].append(crop(img, centre_box(*img.shape[:2], crop_size)))
    return out
