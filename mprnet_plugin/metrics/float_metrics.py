"""SIDD validation's PSNR and SSIM on float outputs that are not rounded to 8 bits.

The SIDD table scores each 256 x 256 block with MATLAB ``psnr`` (peak 1) and ``ssim`` (one 3-D volume, L = 1) on
float images, then averages over the 1280 blocks. Float inputs in [0, 1] are scored as they are; integer inputs are
divided by their type's maximum (which scores 8-bit-rounded outputs, close to but not the benchmark's procedure).
"""
from __future__ import annotations

import numpy as np
from basicsr.utils.registry import METRIC_REGISTRY

from mprnet_plugin.metrics.matlab_ssim import ssim_matlab
from mprnet_plugin.metrics.metric_inputs import paired_hwc, unit_range
from mprnet_plugin.metrics.scoring import unrounded_input


def psnr_unit(a: np.ndarray, b: np.ndarray) -> float:
    """PSNR with peak 1 of two float arrays in [0, 1] (MATLAB ``psnr`` on doubles)."""
    mse = float(np.mean((a.astype(np.float64) - b.astype(np.float64)) ** 2))
    return float('inf') if mse == 0 else 10.0 * np.log10(1.0 / mse)


@METRIC_REGISTRY.register()
@unrounded_input
def calculate_psnr_sidd_float(img: np.ndarray, img2: np.ndarray, input_order: str = 'HWC', **kwargs) -> float:
    """SIDD validation PSNR: peak 1 on unrounded float images in [0, 1] (integer inputs are scaled to [0, 1])."""
    img, img2 = paired_hwc(img, img2, 'calculate_psnr_sidd_float', input_order)
    return psnr_unit(unit_range(img), unit_range(img2))


@METRIC_REGISTRY.register()
@unrounded_input
def calculate_ssim_sidd_float(img: np.ndarray, img2: np.ndarray, input_order: str = 'HWC', **kwargs) -> float:
    """SIDD validation SSIM: MATLAB ``ssim`` on the float RGB block as one 3-D volume, L = 1."""
    img, img2 = paired_hwc(img, img2, 'calculate_ssim_sidd_float', input_order)
    return ssim_matlab(unit_range(img), unit_range(img2), data_range=1.0)
