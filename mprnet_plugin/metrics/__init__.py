"""Benchmark metrics, registered in BasicSR's METRIC_REGISTRY on import (each name says which benchmark it follows),
and the one scoring path every caller uses (``score_images``)."""
from mprnet_plugin.metrics import deraining_y, float_metrics, matlab_ssim, realblur  # noqa: F401  (registration)
from mprnet_plugin.metrics.deraining_y import calculate_psnr_deraining_y, calculate_ssim_deraining_y, rgb2ycbcr_y_matlab
from mprnet_plugin.metrics.float_metrics import calculate_psnr_sidd_float, calculate_ssim_sidd_float
from mprnet_plugin.metrics.matlab_ssim import calculate_ssim_gopro_hide_3d, ssim_matlab
from mprnet_plugin.metrics.realblur import (
    align_realblur,
    calculate_psnr_realblur,
    calculate_ssim_realblur,
    realblur_psnr,
    realblur_ssim,
)
from mprnet_plugin.metrics.scoring import score_images, takes_unrounded, unrounded_input

__all__ = [
    'calculate_psnr_deraining_y', 'calculate_ssim_deraining_y', 'rgb2ycbcr_y_matlab', 'calculate_psnr_sidd_float',
    'calculate_ssim_sidd_float', 'calculate_ssim_gopro_hide_3d', 'ssim_matlab', 'align_realblur',
    'calculate_psnr_realblur', 'calculate_ssim_realblur', 'realblur_psnr', 'realblur_ssim', 'score_images',
    'takes_unrounded', 'unrounded_input',
]
