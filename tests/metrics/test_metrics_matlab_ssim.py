"""MATLAB-style SSIM on an RGB image as one 3-D volume (GoPro/HIDE), and the float SIDD metrics."""
import numpy as np
import pytest
from scipy.ndimage import convolve

import mprnet_plugin  # noqa: F401  isort: skip  (host fixes before basicsr loads; registers the metrics)
from basicsr.metrics import calculate_metric

from mprnet_plugin.metrics.matlab_ssim import ssim_matlab


def ssim_with_3d_kernel(a, b, data_range):
    """Independent 3-D SSIM: one explicit 11 x 11 x 11 Gaussian kernel, replicate ('nearest') padding."""
    x = np.arange(-5, 6)
    g = np.exp(-(x[:, None, None] ** 2 + x[None, :, None] ** 2 + x[None, None, :] ** 2) / (2 * 1.5 ** 2))
    g /= g.sum()
    a, b = a.astype(np.float64), b.astype(np.float64)
    f = lambda v: convolve(v, g, mode='nearest')  # noqa: E731
    ma, mb = f(a), f(b)
    va, vb, cov = f(a * a) - ma ** 2, f(b * b) - mb ** 2, f(a * b) - ma * mb
    c1, c2 = (0.01 * data_range) ** 2, (0.03 * data_range) ** 2
    return float((((2 * ma * mb + c1) * (2 * cov + c2)) / ((ma ** 2 + mb ** 2 + c1) * (va + vb + c2))).mean())


def pair(seed=0, shape=(24, 30, 3)):
    rng = np.random.default_rng(seed)
    target = rng.integers(0, 256, shape, dtype=np.uint8)
    restored = np.clip(target.astype(int) + rng.integers(-30, 31, shape), 0, 255).astype(np.uint8)
    return restored, target


def test_identical_volumes_give_one():
    _, target = pair()
    assert calculate_metric(dict(img=target, img2=target.copy()), dict(type='calculate_ssim_gopro_hide_3d')) == 1.0
    f = target / 255.0
    assert calculate_metric(dict(img=f, img2=f), dict(type='calculate_ssim_sidd_float')) == pytest.approx(1.0)


def test_equals_an_explicit_3d_gaussian():
    restored, target = pair(1)
    value = calculate_metric(dict(img=restored, img2=target), dict(type='calculate_ssim_gopro_hide_3d'))
    assert value == pytest.approx(ssim_with_3d_kernel(restored, target, 255), abs=1e-10)


def test_differs_from_per_channel_mean_on_a_colour_shift():
    # Shift one channel only: a 3-D window mixes the channels, so it does not see the same statistics as per-channel.
    _, target = pair(2)
    restored = target.copy()
    restored[..., 0] = np.clip(restored[..., 0].astype(int) + 40, 0, 255)
    volume = calculate_metric(dict(img=restored, img2=target), dict(type='calculate_ssim_gopro_hide_3d'))
    per_channel = np.mean([ssim_matlab(restored[..., c], target[..., c], 255) for c in range(3)])
    basicsr_per_channel = calculate_metric(dict(img=restored, img2=target), dict(type='calculate_ssim', crop_border=0))
    assert abs(volume - per_channel) > 1e-3, (volume, per_channel)
    assert abs(volume - basicsr_per_channel) > 1e-3, (volume, basicsr_per_channel)
    # BGR or RGB order: the Gaussian is symmetric along the channel axis.
    assert ssim_matlab(restored[..., ::-1], target[..., ::-1], 255) == pytest.approx(volume, abs=1e-12)


def test_float_sidd_metrics_score_unrounded_values():
    rng = np.random.default_rng(3)
    target = rng.random((32, 32, 3))
    restored = target + 0.01  # mean squared error 1e-4: PSNR exactly 40 dB at peak 1
    assert calculate_metric(dict(img=restored, img2=target), dict(type='calculate_psnr_sidd_float')) == pytest.approx(
        40.0, abs=1e-9)
    ssim = calculate_metric(dict(img=restored, img2=target), dict(type='calculate_ssim_sidd_float'))
    assert ssim == pytest.approx(ssim_with_3d_kernel(restored, target, 1.0), abs=1e-10)
    # uint8 inputs are scaled by 1/255, so they score the same as their float copies.
    a, b = pair(4)
    assert calculate_metric(dict(img=a, img2=b), dict(type='calculate_psnr_sidd_float')) == pytest.approx(
        calculate_metric(dict(img=a, img2=b), dict(type='calculate_psnr', crop_border=0)), abs=1e-9)


def test_mismatched_shapes_name_the_metric():
    a, b = pair()
    with pytest.raises(ValueError, match='calculate_ssim_gopro_hide_3d.*shape'):
        calculate_metric(dict(img=a[:-2], img2=b), dict(type='calculate_ssim_gopro_hide_3d'))
