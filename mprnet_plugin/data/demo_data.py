"""The built-in deblurring set of ``mprnet-demo``: scikit-image's sample photographs, shaken and noised.

Every image ships inside scikit-image, so the demo needs no download. Each sharp image is blurred with random
camera-shake kernels (a smooth random-walk trajectory drawn into a small kernel) plus mild Gaussian noise, then written
as BasicSR LMDBs through the plugin's LMDB writer: ``train/{input,target}.lmdb`` and held-out
``test/{input,target}.lmdb``, the held-out photographs never seen in training.
"""
from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Dict, List, Optional, Sequence, Tuple, Union

import cv2
import numpy as np

from mprnet_plugin.data.lmdb_writer import lmdb_keys, make_paired_lmdb

PathLike = Union[str, os.PathLike]

# Colour photographs that ship with scikit-image (no download): name -> loader returning RGB uint8.
SAMPLE_IMAGES: Dict[str, Callable[[], np.ndarray]] = {
    'astronaut': lambda: _skimage('astronaut'),
    'chelsea': lambda: _skimage('chelsea'),
    'coffee': lambda: _skimage('coffee'),
    'hubble': lambda: _skimage('hubble_deep_field'),
    'ihc': lambda: _skimage('immunohistochemistry'),
    'motorcycle': lambda: _skimage('stereo_motorcycle')[0],  # the left view only: the right one is near-identical
    'retina': lambda: _skimage('retina'),
    'rocket': lambda: _skimage('rocket'),
}
DEMO_TRAIN_IMAGES = ('astronaut', 'coffee', 'hubble', 'ihc', 'motorcycle', 'retina')
DEMO_TEST_IMAGES = ('chelsea', 'rocket')


def _skimage(name: str):
    import skimage.data
    return getattr(skimage.data, name)()


@dataclass(frozen=True)
class DemoDataset:
    """Where ``build_demo_dataset`` put the LMDBs, and the keys in them."""

    root: Path
    train_input: Path
    train_target: Path
    test_input: Path
    test_target: Path
    train_keys: Tuple[str, ...]  # LMDB keys: ``<image>_k<j>``, with ``_s<n>`` per crop when training pairs are cut
    test_keys: Tuple[str, ...]


def load_sample_image(name: str, max_side: Optional[int] = None) -> np.ndarray:
    """A scikit-image sample photograph as BGR uint8, shrunk (area resampling) so its longer side <= ``max_side``."""
    if name not in SAMPLE_IMAGES:
        raise ValueError(f'unknown demo image {name!r}; expected one of {sorted(SAMPLE_IMAGES)}')
    rgb = SAMPLE_IMAGES[name]()
    bgr = cv2.cvtColor(np.ascontiguousarray(rgb[..., :3]), cv2.COLOR_RGB2BGR)
    if max_side is not None and max(bgr.shape[:2]) > max_side:
        scale = max_side / max(bgr.shape[:2])
        size = (round(bgr.shape[1] * scale), round(bgr.shape[0] * scale))
        bgr = cv2.resize(bgr, size, interpolation=cv2.INTER_AREA)
    return bgr


def camera_shake_kernel(rng: np.random.Generator, length: float, size: int = 17, steps: int = 200) -> np.ndarray:
    """A normalised blur kernel of a hand-shake path: a random walk with momentum, scaled to ``length`` pixels.

    The path is drawn with bilinear splatting into a ``size`` x ``size`` float32 kernel centred on its mean.
    """
    if not 0 < length <= size - 2:
        raise ValueError(f'camera shake length {length} must be in (0, {size - 2}] for a {size}x{size} kernel')
    velocity = rng.normal(size=2)
    points = [np.zeros(2)]
    for _ in range(steps - 1):
        velocity = 0.9 * velocity + rng.normal(scale=0.6, size=2)  # momentum keeps the path smooth
        points.append(points[-1] + velocity)
    path = np.array(points)
    extent = np.linalg.norm(path.max(0) - path.min(0))
    path = (path - path.mean(0)) * (length / max(extent, 1e-6)) + (size - 1) / 2
    kernel = np.zeros((size, size), np.float64)
    for x, y in path:
        x0, y0 = int(np.floor(x)), int(np.floor(y))
        fx, fy = x - x0, y - y0
        for dy, wy in ((0, 1 - fy), (1, fy)):
            for dx, wx in ((0, 1 - fx), (1, fx)):
                if 0 <= y0 + dy < size and 0 <= x0 + dx < size:
                    kernel[y0 + dy, x0 + dx] += wy * wx
    return (kernel / kernel.sum()).astype(np.float32)


def shake_and_noise(sharp: np.ndarray, kernel: np.ndarray, noise_sigma: float, rng: np.random.Generator) -> np.ndarray:
    """Blur uint8 ``sharp`` with ``kernel`` (reflected borders), add Gaussian noise of ``noise_sigma`` (0-1 scale)."""
    blurred = cv2.filter2D(sharp.astype(np.float32) / 255.0, -1, kernel, borderType=cv2.BORDER_REFLECT)
    noisy = blurred + rng.normal(scale=noise_sigma, size=blurred.shape).astype(np.float32)
    return np.clip(np.round(noisy * 255.0), 0, 255).astype(np.uint8)


def degraded_pairs(names: Sequence[str], copies: int, rng: np.random.Generator, max_side: int,
                   blur_length: Tuple[float, float], noise_sigma: float) -> List[Tuple[str, np.ndarray, np.ndarray]]:
    """``(key, blurred, sharp)`` for ``copies`` random shakes of each named image; keys are ``<name>_k<j>``."""
    pairs = []
    for name in names:
        sharp = load_sample_image(name, max_side)
        for j in range(copies):
            kernel = camera_shake_kernel(rng, rng.uniform(*blur_length))
            pairs.append((f'{name}_k{j + 1:02d}', shake_and_noise(sharp, kernel, noise_sigma, rng), sharp))
    return pairs


def build_demo_dataset(root: PathLike, train_images: Sequence[str] = DEMO_TRAIN_IMAGES,
                       test_images: Sequence[str] = DEMO_TEST_IMAGES, train_copies: int = 8, test_copies: int = 2,
                       max_side: int = 512, blur_length: Tuple[float, float] = (5.0, 11.0),
                       noise_sigma: float = 0.01, train_crop: Optional[Tuple[int, int]] = (128, 64), seed: int = 0,
                       overwrite: bool = False) -> DemoDataset:
    """Build the demo deblurring set under ``root`` and return where it is.

    Args:
        root: output folder; gets ``train/{input,target}.lmdb`` and ``test/{input,target}.lmdb``.
        train_images / test_images: names from ``SAMPLE_IMAGES``; the two lists must not overlap.
        train_copies / test_copies: differently shaken copies of each training / held-out image.
        max_side: photographs are shrunk so their longer side is at most this many pixels.
        blur_length: range of the shake path's extent in pixels (uniform); 5-11 is a mild shake.
        noise_sigma: Gaussian noise standard deviation on the 0-1 scale, added after blurring.
        train_crop: ``(size, step)`` of the grid the training pairs are cut into (keys ``<key>_s001``...), so
            that loading a random training patch decodes a small PNG; None stores whole images.
        seed: the whole set is a function of the arguments and this seed.
        overwrite: rewrite LMDBs even when complete ones from the same pixels exist (otherwise they are kept).
    """
    overlap = set(train_images) & set(test_images)
    if overlap:
        raise ValueError(f'demo images {sorted(overlap)} are both in training and held out')
    root = Path(root)
    rng = np.random.default_rng(seed)
    train = degraded_pairs(train_images, train_copies, rng, max_side, blur_length, noise_sigma)
    test = degraded_pairs(test_images, test_copies, rng, max_side, blur_length, noise_sigma)
    paths = dict(train_input=root / 'train' / 'input.lmdb', train_target=root / 'train' / 'target.lmdb',
                 test_input=root / 'test' / 'input.lmdb', test_target=root / 'test' / 'target.lmdb')
    crop_size, step = train_crop if train_crop is not None else (None, None)
    make_paired_lmdb(train, paths['train_input'], paths['train_target'], overwrite=overwrite, crop_size=crop_size,
                     step=step, desc='demo train set')
    make_paired_lmdb(test, paths['test_input'], paths['test_target'], overwrite=overwrite, desc='demo held-out set')
    return DemoDataset(root=root, train_keys=tuple(sorted(lmdb_keys(paths['train_input']))),
                       test_keys=tuple(sorted(lmdb_keys(paths['test_input']))), **paths)
