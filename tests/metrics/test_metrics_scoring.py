"""The one scoring path: one rule for unrounded inputs, the same figures from tensors and arrays, clear errors."""
import numpy as np
import pytest
import torch

import mprnet_plugin  # noqa: F401  isort: skip  (host fixes before basicsr loads; registers the metrics)
from basicsr.metrics import calculate_metric
from basicsr.utils import tensor2img

from mprnet_plugin.metrics.benchmarks import BENCHMARK_METRICS
from mprnet_plugin.metrics.scoring import ScoringError, metric_image, score_images, takes_unrounded

SIDD = BENCHMARK_METRICS['sidd']
GOPRO = BENCHMARK_METRICS['gopro']


def test_one_rule_decides_which_metrics_see_unrounded_outputs():
    assert takes_unrounded('calculate_psnr_sidd_float') and takes_unrounded('calculate_ssim_sidd_float')
    for metric_type in ('calculate_psnr', 'calculate_ssim', 'calculate_ssim_gopro_hide_3d',
                        'calculate_psnr_deraining_y', 'calculate_psnr_realblur'):
        assert not takes_unrounded(metric_type)
    with pytest.raises(KeyError, match="'no_such_metric' is not in BasicSR's METRIC_REGISTRY"):
        takes_unrounded('no_such_metric')


def test_tensors_and_arrays_score_the_same_and_rounding_follows_the_rule():
    torch.manual_seed(0)
    target = torch.rand(1, 3, 24, 20)
    restored = (target + 0.02 * torch.randn_like(target)).clamp(0, 1)
    from_tensor = score_images(restored, target, {**GOPRO, 'float_psnr': SIDD['psnr']})
    # The same pair as arrays: BGR H x W x C, float in [0, 1] for the restored image, uint8 for the target.
    restored_bgr = restored[0].permute(1, 2, 0).numpy()[..., ::-1]
    target_u8 = tensor2img(target)
    target_float = tensor2img(target, out_type=np.float32)
    from_array = score_images(restored_bgr, target_u8, GOPRO)
    for name in GOPRO:
        assert from_array[name] == pytest.approx(from_tensor[name], abs=1e-12)
        expected = calculate_metric(dict(img=tensor2img(restored), img2=target_u8), GOPRO[name])
        assert from_tensor[name] == pytest.approx(expected, abs=1e-12)  # 8-bit metrics: rounded as tensor2img does
    unrounded = calculate_metric(dict(img=tensor2img(restored, out_type=np.float32), img2=target_float), SIDD['psnr'])
    assert from_tensor['float_psnr'] == pytest.approx(unrounded, abs=1e-12)
    rounded = calculate_metric(dict(img=tensor2img(restored), img2=target_u8), SIDD['psnr'])
    assert from_tensor['float_psnr'] != pytest.approx(rounded, abs=1e-6)
    np.testing.assert_array_equal(metric_image(restored_bgr, unrounded=False), tensor2img(restored))


def test_size_mismatch_and_non_finite_values_are_named():
    target = torch.rand(1, 3, 16, 16)
    with pytest.raises(ScoringError, match='restored image is 16 x 12 x 3 but its target is 16 x 16 x 3'):
        score_images(torch.rand(1, 3, 16, 12), target, GOPRO)
    restored = target.clone()
    restored[0, 1, 3, 4] = float('nan')
    with pytest.raises(ScoringError, match='restored image has 1 non-finite'):
        score_images(restored, target, SIDD)
