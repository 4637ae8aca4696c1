"""The DND submission: restored sRGB crops bundled into one ``%04d.mat`` per image, as the benchmark server expects."""
from __future__ import annotations

import os
import warnings
from pathlib import Path
from typing import Dict, List, Mapping, Union

import numpy as np

from mprnet_plugin.data.dnd_dataset import DND_CROPS_PER_IMAGE, DND_IMAGES, parse_dnd_key
from mprnet_plugin.data.pairing import CountMismatchError, CountMismatchWarning
from mprnet_plugin.io.atomic import atomic_output

PathLike = Union[str, os.PathLike]
EVAL_VERSION = '1.0'


def write_dnd_submission(crops: Mapping[str, np.ndarray], out_dir: PathLike, strict: bool = False) -> List[Path]:
    """Write ``out_dir/%04d.mat`` for each image: ``Idenoised`` (a cell of its 20 float32 RGB H x W x 3 crops, in crop
    order), ``israw=False``, ``eval_version="1.0"``; each file atomically. Keys are ``<image>_<crop>`` (``0001_03``).

    Every image present must have all 20 crops; fewer than 50 images is a warning (an error under ``strict``).
    """
    from scipy.io import savemat
    by_image: Dict[int, Dict[int, np.ndarray]] = {}
    for key, crop in crops.items():
        image, k = parse_dnd_key(key)
        if not 1 <= k <= DND_CROPS_PER_IMAGE:
            raise ValueError(f'DND key {key!r}: crop {k} is outside 1..{DND_CROPS_PER_IMAGE}')
        crop = np.asarray(crop)
        if crop.ndim != 3 or crop.shape[2] != 3:
            raise ValueError(f'DND crop {key!r} has shape {crop.shape}, expected H x W x 3 (RGB)')
        by_image.setdefault(image, {})[k] = crop.astype(np.float32, copy=False)
    for image, image_crops in sorted(by_image.items()):
        missing = sorted(set(range(1, DND_CROPS_PER_IMAGE + 1)) - set(image_crops))
        if missing:
            raise ValueError(f'DND image {image}: crops {missing} are missing; a submission needs all '
                             f'{DND_CROPS_PER_IMAGE} crops of every image')
    if len(by_image) != DND_IMAGES:
        msg = f'DND submission: expected {DND_IMAGES} images, found {len(by_image)}'
        if strict:
            raise CountMismatchError(msg)
        warnings.warn(msg, CountMismatchWarning, stacklevel=2)
    out_dir = Path(out_dir)
    written = []
    for image, image_crops in sorted(by_image.items()):
        cell = np.empty((DND_CROPS_PER_IMAGE,), dtype=object)  # an object array is saved as a MATLAB cell
        for k in range(1, DND_CROPS_PER_IMAGE + 1):
            cell[k - 1] = image_crops[k]
        path = out_dir / f'{image:04d}.mat'
        with atomic_output(path) as tmp, open(tmp, 'wb') as fh:
            savemat(fh, {'Idenoised': cell, 'israw': False, 'eval_version': EVAL_VERSION})
        written.append(path)
    return written
