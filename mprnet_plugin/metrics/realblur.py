"""RealBlur-J/R's own evaluation: intensity gain, ECC homography alignment, masked PSNR, masked and cropped SSIM.

RealBlur's ground truth and blurred images are not perfectly registered, so the benchmark aligns each restored image
to its ground truth before scoring. Both metrics here share one alignment per image pair (a small cache keyed on the
pair's bytes), so scoring PSNR and SSIM aligns each image once.
"""
from __future__ import annotations

import hashlib
import logging
from collections import OrderedDict
from typing import NamedTuple

import cv2
import numpy as np
from basicsr.utils.registry import METRIC_REGISTRY
from skimage.metrics import structural_similarity

from mprnet_plugin.metrics.metric_inputs import bgr_to_rgb, paired_hwc, require_uint8

logger = logging.getLogger('basicsr')

ECC_ITERATIONS = 100
ECC_EPS = 0.0
ECC_GAUSS_FILTER_SIZE = 5
SSIM_BORDER_CROP = 5
_CACHE_SIZE = 4


class AlignmentError(RuntimeError):
    """ECC could not align the restored image to the ground truth."""


class AlignedPair(NamedTuple):
    """A restored image aligned to its ground truth, both masked by the valid area of the warp (float32 RGB)."""

    restored: np.ndarray  # aligned, gain-corrected restored image times the mask
    target: np.ndarray  # ground truth times the mask
    mask: np.ndarray  # 1 where the warped restored image has data, 0 outside (H x W x 3)
    homography: np.ndarray  # 3 x 3 warp from the target frame to the restored image's frame
    aligned: bool  # False when ECC failed and the identity was used


def align_realblur(restored_rgb: np.ndarray, target_rgb: np.ndarray, on_failure: str = 'identity') -> AlignedPair:
    """Align a restored image to its ground truth as RealBlur's evaluation does (float32 RGB arrays in [0, 1]).

    ``on_failure`` says what to do when ECC does not converge (an output uncorrelated with its target, such as that
    of an untrained model): 'identity' scores it unaligned with a warning, 'raise' raises ``AlignmentError``.
    """
    if on_failure not in ('identity', 'raise'):
        raise ValueError(f"on_failure must be 'identity' or 'raise', got {on_failure!r}")
    x = np.ascontiguousarray(target_rgb, dtype=np.float32)
    z = np.ascontiguousarray(restored_rgb, dtype=np.float32)
    # One global gain matches the restored intensity to the ground truth's (least squares).
    energy = float(np.sum(z * z))
    gain = float(np.sum(x * z)) / energy if energy > 0 else 1.0
    zs = (gain * z).astype(np.float32)

    warp = np.eye(3, dtype=np.float32)
    criteria = (cv2.TERM_CRITERIA_COUNT | cv2.TERM_CRITERIA_EPS, ECC_ITERATIONS, ECC_EPS)
    aligned = True
    try:
        _, warp = cv2.findTransformECC(cv2.cvtColor(x, cv2.COLOR_RGB2GRAY), cv2.cvtColor(zs, cv2.COLOR_RGB2GRAY), warp,
                                       cv2.MOTION_HOMOGRAPHY, criteria, None, ECC_GAUSS_FILTER_SIZE)
    except cv2.error as err:
        if on_failure == 'raise':
            raise AlignmentError(f'RealBlur ECC alignment failed: {err}') from err
        logger.warning('RealBlur ECC alignment failed (%s); scoring this image without alignment',
                       str(err).strip().splitlines()[-1])
        warp, aligned = np.eye(3, dtype=np.float32), False

    h, w = x.shape[:2]
    warped = cv2.warpPerspective(zs, warp, (w, h), flags=cv2.INTER_CUBIC + cv2.WARP_INVERSE_MAP,
                                 borderMode=cv2.BORDER_REFLECT)
    mask = cv2.warpPerspective(np.ones_like(zs), warp, (w, h), flags=cv2.INTER_NEAREST + cv2.WARP_INVERSE_MAP,
                               borderMode=cv2.BORDER_CONSTANT, borderValue=0)
    return AlignedPair(warped * mask, x * mask, mask, warp, aligned)


def realblur_psnr(pair: AlignedPair) -> float:
    """RealBlur's PSNR of an aligned pair: squared error summed inside the mask, divided by the mask's area."""
    sse = float(np.sum((pair.target.astype(np.float64) - pair.restored) ** 2))
    area = float(np.sum(pair.mask))
    if sse == 0:
        return float('inf')
    return 10.0 * np.log10(area / sse)


def realblur_ssim(pair: AlignedPair) -> float:
    """RealBlur's SSIM of an aligned pair: skimage's Gaussian SSIM map, masked, cropped 5 px, mean over channels."""
    _, ssim_map = structural_similarity(pair.target, pair.restored, channel_axis=-1, gaussian_weights=True,
                                        use_sample_covariance=False, data_range=1, full=True)
    c = SSIM_BORDER_CROP
    ssim_map = (ssim_map * pair.mask)[c:-c, c:-c]
    mask = pair.mask[c:-c, c:-c]
    per_channel = ssim_map.sum(axis=(0, 1)) / mask.sum(axis=(0, 1))
    return float(np.mean(per_channel))


_aligned_cache: 'OrderedDict[tuple, AlignedPair]' = OrderedDict()


def _pair_key(img: np.ndarray, img2: np.ndarray, on_failure: str) -> tuple:
    digest = hashlib.blake2b(digest_size=16)
    for arr in (img, img2):
        digest.update(np.ascontiguousarray(arr).data)
    return img.shape, img.dtype.str, on_failure, digest.hexdigest()


def aligned_pair_from_bgr(img: np.ndarray, img2: np.ndarray, input_order: str = 'HWC',
                          on_failure: str = 'identity') -> AlignedPair:
    """Align BasicSR-style inputs (restored ``img``, target ``img2``: uint8 BGR), reusing a recent identical pair."""
    img, img2 = paired_hwc(img, img2, 'RealBlur metric', input_order)
    require_uint8(img, 'RealBlur metric')
    require_uint8(img2, 'RealBlur metric')
    if img.shape[2] != 3:
        raise ValueError(f'RealBlur metric: expected a 3-channel image, found shape {img.shape}')
    key = _pair_key(img, img2, on_failure)
    if key in _aligned_cache:
        _aligned_cache.move_to_end(key)
        return _aligned_cache[key]
    # The benchmark reads both images as RGB and divides by 255 in float32.
    pair = align_realblur(bgr_to_rgb(img).astype(np.float32) / 255, bgr_to_rgb(img2).astype(np.float32) / 255,
                          on_failure)
    _aligned_cache[key] = pair
    while len(_aligned_cache) > _CACHE_SIZE:
        _aligned_cache.popitem(last=False)
    return pair


@METRIC_REGISTRY.register()
def calculate_psnr_realblur(img: np.ndarray, img2: np.ndarray, input_order: str = 'HWC',
                            on_failure: str = 'identity', **kwargs) -> float:
    """RealBlur-J/R benchmark PSNR: gain-matched, ECC-aligned, masked (``img`` restored, ``img2`` target; uint8 BGR)."""
    return realblur_psnr(aligned_pair_from_bgr(img, img2, input_order, on_failure))


@METRIC_REGISTRY.register()
def calculate_ssim_realblur(img: np.ndarray, img2: np.ndarray, input_order: str = 'HWC',
                            on_failure: str = 'identity', **kwargs) -> float:
    """RealBlur-J/R benchmark SSIM: same alignment as the PSNR, masked map cropped 5 px (uint8 BGR inputs)."""
    return realblur_ssim(aligned_pair_from_bgr(img, img2, input_order, on_failure))
