"""Checking and converting the arrays metrics receive, shared by every metric of the package.

Metrics take what BasicSR's own metrics take: ``img`` (the restored image) and ``img2`` (the target) as H x W x C
arrays in OpenCV's BGR order (``input_order='CHW'`` for C x H x W), uint8, uint16 or float in [0, 1].
"""
from __future__ import annotations

import numpy as np
from basicsr.metrics.metric_util import reorder_image


def paired_hwc(img: np.ndarray, img2: np.ndarray, metric: str, input_order: str = 'HWC') -> tuple:
    """Both images as H x W x C arrays, after checking that their shapes match; errors name ``metric``."""
    img, img2 = np.asarray(img), np.asarray(img2)
    if img.shape != img2.shape:
        raise ValueError(f'{metric}: the restored image has shape {img.shape} but the target has shape {img2.shape}; '
                         'they must be equal')
    img, img2 = reorder_image(img, input_order), reorder_image(img2, input_order)
    if img.shape[2] not in (1, 3):
        raise ValueError(f'{metric}: expected 1 or 3 channels, found an image of shape {img.shape}')
    return img, img2


def unit_range(img: np.ndarray, dtype=np.float64) -> np.ndarray:
    """Scale an integer image to [0, 1] by its type's maximum; float images are taken as already in [0, 1]."""
    if np.issubdtype(img.dtype, np.integer):
        return img.astype(dtype) / float(np.iinfo(img.dtype).max)
    return img.astype(dtype)


def require_uint8(img: np.ndarray, metric: str) -> np.ndarray:
    """Return ``img`` if it is uint8; the benchmarks that score 8-bit files are defined on uint8 only."""
    if img.dtype != np.uint8:
        raise TypeError(f'{metric}: expected a uint8 image (the benchmark scores 8-bit files), found {img.dtype}')
    return img


def bgr_to_rgb(img: np.ndarray) -> np.ndarray:
    """Reverse the channel axis of a 3-channel H x W x C array (BGR <-> RGB); 1-channel arrays are returned as is."""
    return img[..., ::-1] if img.shape[2] == 3 else img
