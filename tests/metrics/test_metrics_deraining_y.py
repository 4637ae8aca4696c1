"""Deraining Y-channel metrics: MATLAB rgb2ycbcr with rounding, PSNR peak 255, Wang's SSIM with 'valid' filtering."""
import math
from fractions import Fraction

import numpy as np
import pytest

import mprnet_plugin  # noqa: F401  isort: skip  (host fixes before basicsr loads; registers the metrics)
from basicsr.metrics import calculate_metric

from mprnet_plugin.metrics import rgb2ycbcr_y_matlab

# (R, G, B) pixels: black, white, primaries, and pixels whose exact Y lies on a half (65*... chosen by search).
PIXELS = [(0, 0, 0), (255, 255, 255), (255, 0, 0), (0, 255, 0), (0, 0, 255), (5, 65, 25), (80, 20, 60),
          (90, 150, 110), (17, 200, 3), (123, 45, 67)]


def matlab_y(r, g, b):
    """Y = 16 + (65.481 R + 128.553 G + 24.966 B) / 255 in exact arithmetic, rounded half away from zero."""
    y = 16 + (Fraction('65.481') * r + Fraction('128.553') * g + Fraction('24.966') * b) / 255
    return math.floor(y + Fraction(1, 2))


def test_rgb2ycbcr_matches_formula_with_matlab_rounding():
    rgb = np.array([PIXELS], dtype=np.uint8)
    assert rgb2ycbcr_y_matlab(rgb)[0].tolist() == [matlab_y(*p) for p in PIXELS]
    # (5, 65, 25) lies exactly on 52.5: MATLAB rounds it up, round-half-even would give 52.
    assert rgb2ycbcr_y_matlab(np.array([[[5, 65, 25]]], np.uint8))[0, 0] == 53
    assert matlab_y(0, 0, 0) == 16 and matlab_y(255, 255, 255) == 235


def test_psnr_on_known_gray_images():
    # Gray level v has Y = 16 + 219 v / 255: 100 -> 101.88 -> 102 and 110 -> 110.47 -> 110, so every Y differs by 8.
    target = np.full((16, 20, 3), 100, np.uint8)
    restored = np.full((16, 20, 3), 110, np.uint8)
    restored[:8] = 100  # half the pixels exact: mean squared error 64 / 2 = 32
    expected = 10 * math.log10(255 ** 2 / 32)
    psnr = calculate_metric(dict(img=restored, img2=target), dict(type='calculate_psnr_deraining_y'))
    assert psnr == pytest.approx(expected, abs=1e-9)


def wang_ssim_by_windows(a, b):
    """Independent SSIM: every fully-inside 11 x 11 window, weighted by the normalised Gaussian, one at a time."""
    x = np.arange(-5, 6)
    g = np.exp(-(x[:, None] ** 2 + x[None, :] ** 2) / (2 * 1.5 ** 2))
    g /= g.sum()
    c1, c2 = (0.01 * 255) ** 2, (0.03 * 255) ** 2
    values = []
    for i in range(a.shape[0] - 10):
        for j in range(a.shape[1] - 10):
            pa, pb = a[i:i + 11, j:j + 11].astype(np.float64), b[i:i + 11, j:j + 11].astype(np.float64)
            ma, mb = (g * pa).sum(), (g * pb).sum()
            va, vb = (g * (pa - ma) ** 2).sum(), (g * (pb - mb) ** 2).sum()
            cov = (g * (pa - ma) * (pb - mb)).sum()
            values.append(((2 * ma * mb + c1) * (2 * cov + c2)) / ((ma ** 2 + mb ** 2 + c1) * (va + vb + c2)))
    return float(np.mean(values))


def test_ssim_equals_windowed_computation_on_y():
    rng = np.random.default_rng(0)
    target = rng.integers(0, 256, (22, 27, 3), dtype=np.uint8)
    restored = np.clip(target.astype(int) + rng.integers(-40, 41, target.shape), 0, 255).astype(np.uint8)
    # BGR inputs: the metric reverses them to RGB before rgb2ycbcr.
    y_t = rgb2ycbcr_y_matlab(target[..., ::-1])
    y_r = rgb2ycbcr_y_matlab(restored[..., ::-1])
    expected = wang_ssim_by_windows(y_r, y_t)
    ssim = calculate_metric(dict(img=restored, img2=target), dict(type='calculate_ssim_deraining_y'))
    assert ssim == pytest.approx(expected, abs=1e-10)
    assert 0.2 < ssim < 0.99
    assert calculate_metric(dict(img=target, img2=target), dict(type='calculate_ssim_deraining_y')) == 1.0


def test_channel_order_is_bgr_like_basicsr():
    img = np.zeros((12, 12, 3), np.uint8)
    img[..., 2] = 200  # red in BGR
    y = rgb2ycbcr_y_matlab(img[..., ::-1])
    assert y[0, 0] == matlab_y(200, 0, 0)
    other = np.zeros_like(img)
    expected = 10 * math.log10(255 ** 2 / (matlab_y(200, 0, 0) - 16) ** 2)
    assert calculate_metric(dict(img=img, img2=other), dict(type='calculate_psnr_deraining_y')) == pytest.approx(
        expected)


def test_bad_inputs_are_refused_with_the_reason():
    img = np.zeros((12, 12, 3), np.uint8)
    with pytest.raises(TypeError, match='uint8'):
        calculate_metric(dict(img=img.astype(np.float32), img2=img), dict(type='calculate_psnr_deraining_y'))
    with pytest.raises(ValueError, match='at least 11'):
        calculate_metric(dict(img=img[:8], img2=img[:8]), dict(type='calculate_ssim_deraining_y'))
    with pytest.raises(ValueError, match='3-channel'):
        calculate_metric(dict(img=img[..., :1], img2=img[..., :1]), dict(type='calculate_psnr_deraining_y'))
