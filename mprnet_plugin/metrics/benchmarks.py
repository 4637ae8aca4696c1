"""Each benchmark's metrics and the paper's published figures, as data.

``BENCHMARK_METRICS`` holds BasicSR metric options (``basicsr.metrics.calculate_metric``) by benchmark; the test
option files list the same metrics under ``val.metrics``. ``psnr`` and ``ssim`` are the protocol's own pair;
GoPro/HIDE also list BasicSR's per-channel SSIM, the figure most Python re-implementations report.
"""
from __future__ import annotations

from typing import Any, Dict, Optional, Tuple

_GOPRO_HIDE = {
    'psnr': {'type': 'calculate_psnr', 'crop_border': 0, 'test_y_channel': False},
    'ssim': {'type': 'calculate_ssim_gopro_hide_3d'},
    'ssim_per_channel': {'type': 'calculate_ssim', 'crop_border': 0, 'test_y_channel': False},
}

BENCHMARK_METRICS: Dict[str, Dict[str, Dict[str, Any]]] = {
    'gopro': _GOPRO_HIDE,
    'hide': _GOPRO_HIDE,
    'realblur': {
        'psnr': {'type': 'calculate_psnr_realblur'},
        'ssim': {'type': 'calculate_ssim_realblur'},
    },
    'deraining': {
        'psnr': {'type': 'calculate_psnr_deraining_y'},
        'ssim': {'type': 'calculate_ssim_deraining_y'},
    },
    'sidd': {
        'psnr': {'type': 'calculate_psnr_sidd_float'},
        'ssim': {'type': 'calculate_ssim_sidd_float'},
    },
}

# The paper's tables (PSNR, SSIM). RealBlur has two rows per set: models trained on GoPro and on RealBlur.
# The MPRNet-Local rows are TLC's published figures (Chu et al., ECCV 2022: the authors' MPRNet weights with TLC's
# local pooling, base_size 384); TLC published PSNR only.
PAPER_RESULTS: Dict[str, Tuple[float, Optional[float]]] = {
    'GoPro': (32.66, 0.959),
    'HIDE': (30.96, 0.939),
    'GoPro (MPRNet-Local, published by TLC)': (33.31, None),
    'HIDE (MPRNet-Local, published by TLC)': (31.19, None),
    'RealBlur-R': (35.99, 0.952),
    'RealBlur-J': (28.70, 0.873),
    'RealBlur-R (trained on RealBlur)': (39.31, 0.972),
    'RealBlur-J (trained on RealBlur)': (31.76, 0.922),
    'Test100': (30.27, 0.897),
    'Rain100H': (30.41, 0.890),
    'Rain100L': (36.40, 0.965),
    'Test2800': (33.64, 0.938),
    'Test1200': (32.91, 0.916),
    'Deraining average': (32.73, 0.921),
    'SIDD': (39.71, 0.958),
    'DND': (39.80, 0.954),
}

