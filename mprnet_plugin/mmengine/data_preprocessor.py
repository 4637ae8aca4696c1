"""Turn a list of dataset samples into one batch on the model's device, with images in [0, 1]."""
from __future__ import annotations

from typing import Any, Dict, List, Sequence, Union

import torch
from mmengine.model import BaseDataPreprocessor
from mmengine.registry import MODELS
from torch import Tensor

Batch = Union[Tensor, Sequence[Tensor]]


@MODELS.register_module()
class RestorationDataPreprocessor(BaseDataPreprocessor):
    """Stack ``inputs`` and each sample's ``gt``, move them to the device, and scale integer images to [0, 1].

    Accepts both of MMEngine's collates: ``pseudo_collate`` (lists of samples, the default) and ``default_collate``
    (already stacked). Float images (as BasicSR's datasets give) are taken as already in [0, 1]; integer images are
    divided by ``integer_max`` (255 for 8-bit loaders). ``data_samples`` becomes a list with one dict per sample.
    """

    def __init__(self, integer_max: float = 255.0, non_blocking: bool = False) -> None:
        super().__init__(non_blocking=non_blocking)
        self.integer_max = float(integer_max)

    def scale(self, images: Tensor) -> Tensor:
        """Float images unchanged; integer images divided by ``integer_max``."""
        if images.is_floating_point():
            return images
        return images.float() / self.integer_max

    def stack(self, images: Batch, what: str) -> Tensor:
        """One (N, C, H, W) tensor from a batch tensor or a list of (C, H, W) tensors; errors say what differs."""
        if isinstance(images, Tensor):
            return images if images.dim() == 4 else images[None]
        shapes = {tuple(img.shape) for img in images}
        if len(shapes) > 1:
            raise ValueError(f'RestorationDataPreprocessor: the {what} of one batch have different shapes '
                             f'{sorted(shapes)}; crop them to one size (gt_size) or use batch_size=1 for '
                             'full-size validation')
        return torch.stack(list(images))

    def forward(self, data: Dict[str, Any], training: bool = False) -> Dict[str, Any]:
        """``{'inputs': (N, C, H, W) float, 'data_samples': [{'gt': (C, H, W) float, ...}, ...]}`` on the device."""
        if 'inputs' not in data:
            raise KeyError(f'RestorationDataPreprocessor: a batch needs an "inputs" entry; got keys {sorted(data)}')
        inputs = self.scale(self.cast_data(self.stack(data['inputs'], 'inputs')))
        samples = unbatch(data.get('data_samples'), inputs.shape[0])
        for sample in samples:
            if isinstance(sample.get('gt'), Tensor):
                sample['gt'] = self.scale(self.cast_data(sample['gt']))
        return dict(inputs=inputs, data_samples=samples)


def unbatch(samples: Any, size: int) -> List[Dict[str, Any]]:
    """A list of per-sample dicts from either a list of dicts or one dict of batched values."""
    if samples is None:
        return [dict() for _ in range(size)]
    if isinstance(samples, dict):
        return [{key: value[i] for key, value in samples.items()} for i in range(size)]
    return [dict(sample) for sample in samples]
