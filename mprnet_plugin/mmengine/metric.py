"""Image-quality metrics for MMEngine that call the plugin's and BasicSR's registered metric functions."""
from __future__ import annotations

import os
from collections import OrderedDict
from typing import Any, Dict, List, Optional, Sequence

import numpy as np
from mmengine.evaluator import BaseMetric
from mmengine.registry import METRICS
from torch import Tensor

from basicsr.metrics import calculate_metric
from basicsr.utils import tensor2img
from basicsr.utils.registry import METRIC_REGISTRY
from mprnet_plugin.image_io import write_image

# How a metric wants its images: 8-bit like the saved PNGs (the default), or float32 in [0, 1] (not rounded).
INPUT_TYPES = {'uint8': np.uint8, 'float32': np.float32}


def to_bgr_image(img: Tensor, input_type: str) -> np.ndarray:
    """(C, H, W) RGB in [0, 1] as BasicSR's metrics take it: HxWxC BGR, uint8 (rounded) or float32."""
    return tensor2img(img, rgb2bgr=True, out_type=INPUT_TYPES[input_type], min_max=(0, 1))


@METRICS.register_module()
class BasicSRMetric(BaseMetric):
    """Score each prediction against its ``gt`` with metrics from BasicSR's ``METRIC_REGISTRY``, then average.

    Args:
        basicsr_metrics: ``{name: options}`` as in a BasicSR ``val.metrics`` block, e.g.
            ``dict(psnr=dict(type='calculate_psnr', crop_border=0, test_y_channel=False))``. The plugin's metrics
            (RealBlur's aligned PSNR/SSIM, MATLAB-style Y and 3-D SSIM, float PSNR/SSIM) are registered there too.
            An option ``input='float32'`` hands the metric unrounded float images instead of 8-bit ones. (Not named
            ``metrics``: MMEngine takes an evaluator config with that key for a list of metrics.)
        output_dir: if set, also save each prediction there as ``<img_name>.png``.
        collect_device / prefix: as for any MMEngine metric.
    """

    default_prefix: Optional[str] = ''  # metric names as given, without a prefix

    def __init__(self, basicsr_metrics: Dict[str, Dict[str, Any]], output_dir: Optional[str] = None,
                 collect_device: str = 'cpu', prefix: Optional[str] = None) -> None:
        super().__init__(collect_device=collect_device, prefix=prefix)
        if not basicsr_metrics:
            raise ValueError('BasicSRMetric: "basicsr_metrics" is empty; give at least one, e.g. '
                             "dict(psnr=dict(type='calculate_psnr', crop_border=0))")
        self.metrics: Dict[str, Dict[str, Any]] = OrderedDict()
        for name, opt in basicsr_metrics.items():
            opt = dict(opt)
            if 'type' not in opt or opt['type'] not in METRIC_REGISTRY:
                raise KeyError(f'BasicSRMetric: metric {name!r} has type {opt.get("type")!r}, which is not in '
                               f"BasicSR's METRIC_REGISTRY; registered: {sorted(k for k, _ in METRIC_REGISTRY)}")
            input_type = opt.setdefault('input', 'uint8')
            if input_type not in INPUT_TYPES:
                raise ValueError(f'BasicSRMetric: metric {name!r} has input={input_type!r}; '
                                 f'expected one of {sorted(INPUT_TYPES)}')
            self.metrics[name] = opt
        self.output_dir = output_dir

    def process(self, data_batch: Any, data_samples: Sequence[Dict[str, Any]]) -> None:
        """Score each sample of a batch; keep one ``{name: value}`` row per image."""
        for sample in data_samples:
            if not isinstance(sample.get('gt'), Tensor):
                raise ValueError(f'BasicSRMetric: sample {sample.get("img_name", "?")!r} has no "gt" image to score')
            images = {t: (to_bgr_image(sample['pred'], t), to_bgr_image(sample['gt'], t))
                      for t in {opt['input'] for opt in self.metrics.values()}}
            row: Dict[str, Any] = dict(img_name=sample.get('img_name', ''))
            for name, opt in self.metrics.items():
                opt = dict(opt)
                img, img2 = images[opt.pop('input')]
                row[name] = float(calculate_metric(dict(img=img, img2=img2), opt))
            self.results.append(row)
            if self.output_dir and row['img_name']:
                uint8 = images['uint8'][0] if 'uint8' in images else to_bgr_image(sample['pred'], 'uint8')
                write_image(os.path.join(self.output_dir, f'{row["img_name"]}.png'), uint8)

    def compute_metrics(self, results: List[Dict[str, Any]]) -> Dict[str, float]:
        """The mean of each metric over all images."""
        return {name: float(np.mean([row[name] for row in results])) for name in self.metrics}
