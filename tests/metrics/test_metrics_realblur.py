"""RealBlur's aligned PSNR/SSIM: alignment recovers a known homography and intensity gain; one alignment per pair."""
import cv2
import numpy as np
import pytest

import mprnet_plugin  # noqa: F401  isort: skip  (host fixes before basicsr loads; registers the metrics)
from basicsr.metrics import calculate_metric, calculate_psnr

from mprnet_plugin.metrics import realblur
from mprnet_plugin.metrics.realblur import AlignmentError, align_realblur, aligned_pair_from_bgr

H, W = 168, 200
# A small projective warp: about a pixel of shift, a fraction of a degree of rotation and a little perspective.
TRUE_HOMOGRAPHY = np.array([[1.004, 0.006, 1.3], [-0.005, 0.997, -0.8], [2e-5, -1.5e-5, 1.0]], np.float32)
GAIN = 0.85


def textured_target(seed=0):
    """Smooth random texture (BGR uint8), so ECC has gradients everywhere."""
    rng = np.random.default_rng(seed)
    img = cv2.GaussianBlur(rng.random((H, W, 3)).astype(np.float32), (0, 0), 3)
    img = (img - img.min()) / (img.max() - img.min())
    return np.round(img * 235 + 10).astype(np.uint8)


def warped_prediction(target):
    """The target seen through TRUE_HOMOGRAPHY (so pred(Hx) = target(x)) with its intensity scaled by GAIN."""
    warped = cv2.warpPerspective(target.astype(np.float32) * GAIN, TRUE_HOMOGRAPHY, (W, H), flags=cv2.INTER_CUBIC,
                                 borderMode=cv2.BORDER_REFLECT)
    return np.round(warped.clip(0, 255)).astype(np.uint8)


def test_alignment_recovers_homography_and_beats_unaligned_psnr():
    target = textured_target()
    pred = warped_prediction(target)
    unaligned = calculate_psnr(pred, target, crop_border=0)
    aligned = calculate_metric(dict(img=pred, img2=target), dict(type='calculate_psnr_realblur'))
    ssim = calculate_metric(dict(img=pred, img2=target), dict(type='calculate_ssim_realblur'))
    assert unaligned < 25
    assert aligned > unaligned + 12, (aligned, unaligned)
    assert ssim > 0.98
    pair = aligned_pair_from_bgr(pred, target)
    assert pair.aligned
    # Compare the warps where it matters: where each sends the image corners (in pixels).
    corners = np.array([[[0, 0]], [[W - 1, 0]], [[0, H - 1]], [[W - 1, H - 1]]], np.float32)
    found = cv2.perspectiveTransform(corners, pair.homography.astype(np.float32))
    true = cv2.perspectiveTransform(corners, TRUE_HOMOGRAPHY)
    assert np.abs(found - true).max() < 0.1, (found, true)
    # The mask covers most of the frame but not the strip the warp brought in from outside.
    coverage = pair.mask[..., 0].mean()
    assert 0.9 < coverage < 1.0


def test_identical_images_score_ssim_one_and_infinite_psnr():
    target = textured_target(1)
    data = dict(img=target.copy(), img2=target)
    assert calculate_metric(data, dict(type='calculate_ssim_realblur')) == pytest.approx(1.0, abs=1e-6)
    assert calculate_metric(data, dict(type='calculate_psnr_realblur')) == float('inf')


def test_psnr_and_ssim_share_one_alignment(monkeypatch):
    calls = []
    original = realblur.align_realblur
    monkeypatch.setattr(realblur, 'align_realblur', lambda *a, **k: calls.append(1) or original(*a, **k))
    target = textured_target(2)
    pred = warped_prediction(target)
    data = dict(img=pred, img2=target)
    calculate_metric(data, dict(type='calculate_psnr_realblur'))
    calculate_metric(data, dict(type='calculate_ssim_realblur'))
    assert len(calls) == 1
    calculate_metric(dict(img=target, img2=pred), dict(type='calculate_psnr_realblur'))  # a different pair
    assert len(calls) == 2


def test_psnr_formula_on_masked_pair():
    """PSNR is 10 log10(mask area / summed squared error), worked out by hand for a known pair."""
    x = np.full((20, 30, 3), 0.5, np.float32)
    z = x + 0.1
    mask = np.ones_like(x)
    mask[:, :5] = 0
    pair = realblur.AlignedPair(z * mask, x * mask, mask, np.eye(3), True)
    # Every unmasked value is off by 0.1: the mean squared error over the mask is 0.01, so 20 dB; the masked-out
    # columns must not count in the area.
    assert realblur.realblur_psnr(pair) == pytest.approx(20.0, abs=1e-3)


def test_uncorrelated_images_fail_alignment_clearly():
    rng = np.random.default_rng(3)
    a, b = rng.random((48, 48, 3)).astype(np.float32), rng.random((48, 48, 3)).astype(np.float32)
    with pytest.raises(AlignmentError, match='ECC'):
        align_realblur(a, b, on_failure='raise')
    pair = align_realblur(a, b)  # default: score unaligned, with a warning
    assert not pair.aligned
    np.testing.assert_array_equal(pair.homography, np.eye(3))


def test_bad_inputs_name_the_problem():
    target = textured_target()
    with pytest.raises(ValueError, match='shape'):
        calculate_metric(dict(img=target[:-1], img2=target), dict(type='calculate_psnr_realblur'))
    with pytest.raises(TypeError, match='uint8'):
        calculate_metric(dict(img=target / 255.0, img2=target / 255.0), dict(type='calculate_ssim_realblur'))
