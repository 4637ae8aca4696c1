"""The deraining benchmarks' Y-channel PSNR and SSIM (Rain100H, Rain100L, Test100, Test1200, Test2800).

The published numbers come from MATLAB: ``rgb2ycbcr`` on the uint8 image (its Y rounded to uint8), PSNR with peak
255, and Wang's SSIM (11 x 11 Gaussian, sigma 1.5, K = [0.01, 0.03], L = 255, 'valid' filtering). BasicSR's
``test_y_channel`` option does not round Y, so it differs slightly.
"""
from __future__ import annotations

import cv2
import numpy as np
from basicsr.utils.registry import METRIC_REGISTRY

from mprnet_plugin.metrics.matlab_ssim import SSIM_K1, SSIM_K2, gaussian_taps
from mprnet_plugin.metrics.metric_inputs import bgr_to_rgb, paired_hwc, require_uint8

# MATLAB rgb2ycbcr's luma row for R, G, B in [0, 255] (65.481, 128.553, 24.966), in thousandths, and its offset.
Y_COEFFS_MILLI = (65481, 128553, 24966)
Y_OFFSET = 16


def rgb2ycbcr_y_matlab(rgb: np.ndarray) -> np.ndarray:
    """Y of MATLAB ``rgb2ycbcr`` for a uint8 RGB (H x W x 3) image, as uint8 rounded half away from zero."""
    require_uint8(rgb, 'rgb2ycbcr_y_matlab')
    rgb = rgb.astype(np.int64)
    # Exact integer arithmetic: Y - 16 = n / 255000, and some pixels land exactly on a half, which float rounding
    # could push either way. Adding half the divisor before the floor division rounds halves up (away from zero).
    n = Y_COEFFS_MILLI[0] * rgb[..., 0] + Y_COEFFS_MILLI[1] * rgb[..., 1] + Y_COEFFS_MILLI[2] * rgb[..., 2]
    return (Y_OFFSET + (n + 127500) // 255000).astype(np.uint8)  # at most 16 + 219 = 235: no clipping needed


def psnr_255(a: np.ndarray, b: np.ndarray) -> float:
    """PSNR with peak 255 of two arrays of the same shape (MATLAB ``psnr`` on uint8)."""
    mse = float(np.mean((a.astype(np.float64) - b.astype(np.float64)) ** 2))
    return float('inf') if mse == 0 else 10.0 * np.log10(255.0 ** 2 / mse)


def ssim_wang(a: np.ndarray, b: np.ndarray, data_range: float = 255.0) -> float:
    """Wang et al.'s ``ssim_index`` of two 2-D images: Gaussian window, 'valid' filtering, mean of the map."""
    a, b = a.astype(np.float64), b.astype(np.float64)
    taps = gaussian_taps()
    pad = len(taps) // 2
    if min(a.shape) < len(taps):
        raise ValueError(f'Wang SSIM needs images of at least {len(taps)} x {len(taps)} pixels, got {a.shape}')
    window = np.outer(taps, taps)

    def valid(x):  # filter2(window, x, 'valid'): the border where the window overhangs is dropped
        return cv2.filter2D(x, -1, window, borderType=cv2.BORDER_REFLECT)[pad:-pad, pad:-pad]

    c1, c2 = (SSIM_K1 * data_range) ** 2, (SSIM_K2 * data_range) ** 2
    mu_a, mu_b = valid(a), valid(b)
    var_a = valid(a * a) - mu_a ** 2
    var_b = valid(b * b) - mu_b ** 2
    cov = valid(a * b) - mu_a * mu_b
    ssim_map = ((2 * mu_a * mu_b + c1) * (2 * cov + c2)) / ((mu_a ** 2 + mu_b ** 2 + c1) * (var_a + var_b + c2))
    return float(ssim_map.mean())


def _y_pair(img: np.ndarray, img2: np.ndarray, metric: str, input_order: str) -> tuple:
    img, img2 = paired_hwc(img, img2, metric, input_order)
    if img.shape[2] != 3:
        raise ValueError(f'{metric}: expected a 3-channel BGR image, found shape {img.shape}')
    require_uint8(img, metric)
    require_uint8(img2, metric)
    return rgb2ycbcr_y_matlab(bgr_to_rgb(img)), rgb2ycbcr_y_matlab(bgr_to_rgb(img2))


@METRIC_REGISTRY.register()
def calculate_psnr_deraining_y(img: np.ndarray, img2: np.ndarray, input_order: str = 'HWC', **kwargs) -> float:
    """Deraining benchmark PSNR: MATLAB ``rgb2ycbcr`` Y rounded to uint8, peak 255 (uint8 BGR inputs)."""
    return psnr_255(*_y_pair(img, img2, 'calculate_psnr_deraining_y', input_order))


@METRIC_REGISTRY.register()
def calculate_ssim_deraining_y(img: np.ndarray, img2: np.ndarray, input_order: str = 'HWC', **kwargs) -> float:
    """Deraining benchmark SSIM: Wang's SSIM ('valid' filtering) on MATLAB's rounded uint8 Y (uint8 BGR inputs)."""
    return ssim_wang(*_y_pair(img, img2, 'calculate_ssim_deraining_y', input_order))
