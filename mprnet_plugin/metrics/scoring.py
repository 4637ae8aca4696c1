"""The one scoring path: every caller that scores a restored image against its target calls ``score_images``.

Used by ``MPRNetModel`` validation, the MMEngine metric, ``mprnet-eval`` and ``mprnet-compare``. One rule decides
what each metric sees: a metric registered with ``@unrounded_input`` (the SIDD float metrics) takes the restored
image as unrounded float32 in [0, 1]; every other metric takes it rounded to 8 bits, as the saved PNG holds it and as
BasicSR's ``tensor2img`` rounds (clamp to [0, 1], times 255, half to even).

One scale: an integer image means [0, its type's peak] (uint8 255, uint16 65535), a float image [0, 1]. A pair of
different types (a 16-bit output against an 8-bit target, a float ``.npy`` against a 16-bit target) is compared as
floats in [0, 1], each integer image divided by its peak; a float array far outside [0, 1] (0-255 floats) is refused
rather than clipped to white.
"""
from __future__ import annotations

from typing import Any, Callable, Dict, Mapping, Tuple, TypeVar, Union

import numpy as np
from basicsr.metrics import calculate_metric
from basicsr.utils import tensor2img
from basicsr.utils.registry import METRIC_REGISTRY
from torch import Tensor

from mprnet_plugin.errors import OptionError
from mprnet_plugin.io.images import dtype_peak

# A restored image or target: a (1 x) C x H x W RGB tensor in [0, 1], as networks return it, or an H x W x C BGR
# array as image files hold it (uint8, uint16) or as float in [0, 1] (``.npy`` outputs after BGR reordering).
Image = Union[Tensor, np.ndarray]
MetricFn = TypeVar('MetricFn', bound=Callable[..., float])


class ScoringError(ValueError):
    """A restored image and a target that cannot be scored against each other."""


class CropBorderError(ScoringError, OptionError):
    """A metric's ``crop_border`` that leaves nothing of an image: an option error (exit 2), found while scoring."""


def unrounded_input(metric: MetricFn) -> MetricFn:
    """Mark a metric function as defined on unrounded float outputs (apply below ``METRIC_REGISTRY.register``)."""
    metric.unrounded_input = True  # type: ignore[attr-defined]
    return metric


def takes_unrounded(metric_type: str) -> bool:
    """Whether the registered metric ``metric_type`` scores unrounded float images (else 8-bit rounded ones)."""
    if metric_type not in METRIC_REGISTRY:
        raise KeyError(f'metric type {metric_type!r} is not in BasicSR\'s METRIC_REGISTRY; '
                       f'registered: {sorted(name for name, _ in METRIC_REGISTRY)}')
    return bool(getattr(METRIC_REGISTRY.get(metric_type), 'unrounded_input', False))


def metric_image(img: Image, unrounded: bool) -> np.ndarray:
    """``img`` as metrics take it: H x W x C BGR, float32 in [0, 1] if ``unrounded``, else 8-bit rounded.

    Integer arrays are passed on as they are (they are already what a file holds).
    """
    if isinstance(img, Tensor):
        out_type = np.float32 if unrounded else np.uint8
        return tensor2img(img.detach().float().cpu(), rgb2bgr=True, out_type=out_type, min_max=(0, 1))
    img = np.asarray(img)
    if img.dtype.kind == 'f' and not unrounded:
        return np.round(np.clip(img, 0, 1) * 255.0).astype(np.uint8)
    return img


# How far a float image may stray from [0, 1] before it is taken for another scale: network outputs overshoot a
# little (they are clamped when scored), a 0-255 float image is far outside.
FLOAT_RANGE_SLACK = 0.5


def float_range_problem(img: np.ndarray) -> str:
    """Why a float array is not an image in [0, 1] (its values reach beyond the slack), or '' when it is one."""
    if img.dtype.kind != 'f' or img.size == 0:
        return ''
    low, high = float(np.min(img)), float(np.max(img))
    if low >= -FLOAT_RANGE_SLACK and high <= 1 + FLOAT_RANGE_SLACK:
        return ''
    hint = '; divide 0-255 values by 255' if high <= 255 + FLOAT_RANGE_SLACK and low >= -FLOAT_RANGE_SLACK else ''
    return f'its float values span [{low:g}, {high:g}], not in [0, 1]{hint}'


def on_one_scale(restored: Image, target: Image) -> Tuple[Image, Image]:
    """The pair on one scale: when their types differ, each integer image becomes float64 in [0, 1] (divided by its
    type's peak), which the 8-bit metrics then round as they round float outputs."""
    if isinstance(restored, Tensor) or isinstance(target, Tensor):
        return restored, target
    restored, target = np.asarray(restored), np.asarray(target)
    if restored.dtype == target.dtype:
        return restored, target
    try:
        return tuple(img.astype(np.float64) / dtype_peak(img.dtype) if img.dtype.kind in 'ui' else img
                     for img in (restored, target))  # type: ignore[return-value]
    except ValueError as exc:  # an integer type that is no image type (int32, ...)
        raise ScoringError(f'the restored image is {restored.dtype} and its target {target.dtype}: {exc}') from None


def check_crop_border(name: str, opt: Mapping[str, Any], img: np.ndarray) -> None:
    """Refuse a ``crop_border`` that leaves nothing of the image (BasicSR would score the empty rest as NaN)."""
    crop = opt.get('crop_border', 0) or 0
    if not isinstance(crop, (int, np.integer)) or isinstance(crop, bool) or crop < 0:
        raise CropBorderError(f'metric {name!r}: crop_border: {crop!r}; expected an integer >= 0')
    side = min(img.shape[:2])
    if 2 * crop >= side:
        size = f'{img.shape[0]} x {img.shape[1]}'
        raise CropBorderError(f'metric {name!r}: crop_border: {crop} crops the whole {size} image; '
                           f'expected below {(side + 1) // 2} (half its smaller side)')


def score_images(restored: Image, target: Image, metric_opts: Mapping[str, Mapping[str, Any]]) -> Dict[str, float]:
    """``{name: value}`` of every metric in ``metric_opts`` (BasicSR ``val.metrics`` options) for one image pair."""
    for what, img in (('restored image', restored), ('target', target)):
        bad = non_finite_count(img)
        if bad:
            raise ScoringError(f'the {what} has {bad} non-finite (NaN or infinite) values')
        if not isinstance(img, Tensor):
            problem = float_range_problem(np.asarray(img))
            if problem:
                raise ScoringError(f'the {what}: {problem}')
    restored, target = on_one_scale(restored, target)
    pairs: Dict[bool, Tuple[np.ndarray, np.ndarray]] = {}
    values: Dict[str, float] = {}
    for name, opt in metric_opts.items():
        unrounded = takes_unrounded(opt['type'])
        if unrounded not in pairs:
            img, img2 = metric_image(restored, unrounded), metric_image(target, unrounded)
            if img.shape != img2.shape:
                raise ScoringError(f'the restored image is {shape_text(img)} but its target is {shape_text(img2)}; '
                                   'they must be the same size')
            pairs[unrounded] = img, img2
        img, img2 = pairs[unrounded]
        check_crop_border(name, opt, img)
        values[name] = float(calculate_metric(dict(img=img, img2=img2), dict(opt)))
    return values


def non_finite_count(img: Image) -> int:
    """How many values of a float image are NaN or infinite (0 for integer images)."""
    if isinstance(img, Tensor):
        return int((~img.isfinite()).sum()) if img.is_floating_point() else 0
    img = np.asarray(img)
    return int(np.count_nonzero(~np.isfinite(img))) if img.dtype.kind == 'f' else 0


def shape_text(img: np.ndarray) -> str:
    """``H x W`` (and ``x C``) of an image array, for messages."""
    return ' x '.join(str(s) for s in img.shape)


def mean_metrics(per_image: Mapping[str, Mapping[str, float]], names: Any) -> Dict[str, float]:
    """The mean of each metric over the images (NaN for an empty set)."""
    return {n: float(np.mean([v[n] for v in per_image.values()])) if per_image else float('nan') for n in names}
