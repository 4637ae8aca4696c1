"""MATLAB's ``ssim`` on an RGB image: one 3-D volume, not the mean of three channels (GoPro and HIDE).

Without a data-format argument MATLAB filters an H x W x 3 array with a 3-D Gaussian (sigma 1.5, 11 taps, replicate
padding) and averages the whole SSIM map. That is why per-channel SSIM does not reproduce the GoPro/HIDE table.
BasicSR's ``calculate_ssim`` (per channel) stays available beside it.
"""
from __future__ import annotations

import numpy as np
from basicsr.utils.registry import METRIC_REGISTRY
from scipy.ndimage import correlate1d

from mprnet_plugin.metrics.metric_inputs import paired_hwc, require_uint8

SSIM_SIGMA = 1.5
SSIM_K1, SSIM_K2 = 0.01, 0.03


def gaussian_taps(sigma: float = SSIM_SIGMA) -> np.ndarray:
    """MATLAB's normalised 1-D Gaussian of ``2 * ceil(3 * sigma) + 1`` taps (11 for sigma 1.5)."""
    radius = int(np.ceil(3 * sigma))
    x = np.arange(-radius, radius + 1, dtype=np.float64)
    taps = np.exp(-x ** 2 / (2 * sigma ** 2))
    return taps / taps.sum()


def gaussian_filter_replicate(volume: np.ndarray, taps: np.ndarray) -> np.ndarray:
    """Separable Gaussian over every axis of ``volume`` with replicate padding (MATLAB's imgaussfilt/imgaussfilt3)."""
    out = volume
    for axis in range(volume.ndim):
        out = correlate1d(out, taps, axis=axis, mode='nearest')
    return out


def ssim_matlab(img: np.ndarray, img2: np.ndarray, data_range: float) -> float:
    """MATLAB ``ssim(img, img2)`` with its defaults on a 2-D or 3-D array (the whole map averaged; float64)."""
    a = np.asarray(img, dtype=np.float64)
    b = np.asarray(img2, dtype=np.float64)
    taps = gaussian_taps()
    c1, c2 = (SSIM_K1 * data_range) ** 2, (SSIM_K2 * data_range) ** 2
    mu_a, mu_b = gaussian_filter_replicate(a, taps), gaussian_filter_replicate(b, taps)
    var_a = gaussian_filter_replicate(a * a, taps) - mu_a ** 2
    var_b = gaussian_filter_replicate(b * b, taps) - mu_b ** 2
    cov = gaussian_filter_replicate(a * b, taps) - mu_a * mu_b
    ssim_map = ((2 * mu_a * mu_b + c1) * (2 * cov + c2)) / ((mu_a ** 2 + mu_b ** 2 + c1) * (var_a + var_b + c2))
    return float(ssim_map.mean())


@METRIC_REGISTRY.register()
def calculate_ssim_gopro_hide_3d(img: np.ndarray, img2: np.ndarray, input_order: str = 'HWC', **kwargs) -> float:
    """GoPro/HIDE benchmark SSIM: MATLAB ``ssim`` on the 8-bit RGB image as one 3-D volume (uint8 inputs, L = 255)."""
    img, img2 = paired_hwc(img, img2, 'calculate_ssim_gopro_hide_3d', input_order)
    require_uint8(img, 'calculate_ssim_gopro_hide_3d')
    require_uint8(img2, 'calculate_ssim_gopro_hide_3d')
    # The 3-D Gaussian is symmetric along the channel axis, so BGR and RGB order give the same value.
    return ssim_matlab(img, img2, data_range=255.0)
