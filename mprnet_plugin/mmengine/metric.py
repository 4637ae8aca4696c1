"""Image-quality metrics for MMEngine that call the plugin's and BasicSR's registered metric functions."""
from __future__ import annotations

import os
from collections import OrderedDict
from typing import Any, Dict, List, Optional, Sequence

import numpy as np
from mmengine.evaluator import BaseMetric
from mmengine.registry import METRICS
from torch import Tensor

from basicsr.utils.registry import METRIC_REGISTRY
from mprnet_plugin.io.images import write_image
from mprnet_plugin.metrics.scoring import ScoringError, metric_image, score_images, takes_unrounded

# The optional ``input`` key of a metric: it must agree with the one rule (``scoring.takes_unrounded``).
INPUT_TYPES = {'uint8': False, 'float32': True}


@METRICS.register_module()
class BasicSRMetric(BaseMetric):
    """Score each prediction against its ``gt`` with metrics from BasicSR's ``METRIC_REGISTRY``, then average.

    Args:
        basicsr_metrics: ``{name: options}`` as in a BasicSR ``val.metrics`` block, e.g.
            ``dict(psnr=dict(type='calculate_psnr', crop_border=0, test_y_channel=False))``. The plugin's metrics
            (RealBlur's aligned PSNR/SSIM, MATLAB-style Y and 3-D SSIM, float PSNR/SSIM) are registered there too.
            Each metric sees what ``mprnet_plugin.metrics.scoring`` gives it: unrounded float32 images for the
            float metrics (``calculate_*_sidd_float``), 8-bit rounded ones for the rest. An ``input`` key
            (``'float32'`` or ``'uint8'``), if given, must agree with that. (Not named ``metrics``: MMEngine takes an
            evaluator config with that key for a list of metrics.)
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
            input_type = opt.pop('input', None)
            if input_type is not None and input_type not in INPUT_TYPES:
                raise ValueError(f'BasicSRMetric: metric {name!r} has input={input_type!r}; '
                                 f'expected one of {sorted(INPUT_TYPES)}')
            unrounded = takes_unrounded(opt['type'])
            if input_type is not None and INPUT_TYPES[input_type] != unrounded:
                raise ValueError(f'BasicSRMetric: metric {name!r} ({opt["type"]}) scores '
                                 f'{"unrounded float32" if unrounded else "8-bit"} images, but input={input_type!r} '
                                 'was given; remove input')
            self.metrics[name] = opt
        self.output_dir = output_dir

    def process(self, data_batch: Any, data_samples: Sequence[Dict[str, Any]]) -> None:
        """Score each sample of a batch; keep one ``{name: value}`` row per image."""
        for sample in data_samples:
            if not isinstance(sample.get('gt'), Tensor):
                raise ValueError(f'BasicSRMetric: sample {sample.get("img_name", "?")!r} has no "gt" image to score')
            row: Dict[str, Any] = dict(img_name=sample.get('img_name', ''))
            try:
                row.update(score_images(sample['pred'], sample['gt'], self.metrics))
            except ScoringError as exc:
                raise type(exc)(f'BasicSRMetric: sample {row["img_name"] or "?"!r}: {exc}') from None
            self.results.append(row)
            if self.output_dir and row['img_name']:
                path = os.path.join(self.output_dir, f'{row["img_name"]}.png')
                write_image(path, metric_image(sample['pred'], unrounded=False))

    def compute_metrics(self, results: List[Dict[str, Any]]) -> Dict[str, float]:
        """The mean of each metric over all images."""
        return {name: float(np.mean([row[name] for row in results])) for name in self.metrics}
