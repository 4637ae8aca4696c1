"""DND sRGB test crops, read straight from the benchmark's ``info.mat`` and ``images_srgb/%04d.mat`` (MATLAB v7.3).

DND has no ground truth and is scored on the benchmark's server, so it is not turned into an LMDB: this dataset
yields the 1000 noisy crops (50 images x 20 boxes of 512x512) keyed ``<image>_<crop>`` (``0001_03``: image 1,
crop 3, both 1-based), and ``dnd_submission.write_dnd_submission`` bundles the restored crops for upload.
"""
from __future__ import annotations

import os
import re
from pathlib import Path
from typing import List, Tuple, Union

import numpy as np
import torch
from basicsr.utils.registry import DATASET_REGISTRY
from torch.utils import data

from mprnet_plugin.data.pairing import DatasetLayoutError, check_count, require_file

PathLike = Union[str, os.PathLike]
DND_IMAGES = 50
DND_CROPS_PER_IMAGE = 20
INFO_FILE = 'info.mat'
IMAGES_DIR = 'images_srgb'
IMAGE_VARIABLE = 'InoisySRGB'
_KEY = re.compile(r'^(\d{4})_(\d{2})$')


def dnd_key(image: int, crop: int) -> str:
    """Key of crop ``crop`` of image ``image`` (both 1-based): ``0001_03``."""
    return f'{image:04d}_{crop:02d}'


def parse_dnd_key(key: str) -> Tuple[int, int]:
    """(image, crop), both 1-based, of a key such as ``0001_03``; raises ValueError for anything else."""
    m = _KEY.match(key)
    if m is None:
        raise ValueError(f'{key!r} is not a DND crop key of the form <image:04d>_<crop:02d> (e.g. 0001_03)')
    return int(m[1]), int(m[2])


def resolve_dnd_root(path: PathLike) -> Path:
    """The folder holding ``info.mat``: ``path`` itself, or the archive's ``dnd_2017`` folder inside it."""
    path = Path(path)
    nested = path / 'dnd_2017'
    return nested if not (path / INFO_FILE).exists() and (nested / INFO_FILE).exists() else path


def image_file(root: PathLike, image: int) -> Path:
    """The noisy sRGB file of image ``image`` (1-based)."""
    return Path(root) / IMAGES_DIR / f'{image:04d}.mat'


def read_dnd_boxes(root: PathLike) -> List[np.ndarray]:
    """Per image, its (20, 4) int array of 1-based inclusive boxes ``[row0, col0, row1, col1]`` from ``info.mat``."""
    import h5py
    path = require_file(Path(root) / INFO_FILE, 'DND info.mat')
    try:
        with h5py.File(path, 'r') as f:
            refs = np.asarray(f['info']['boundingboxes']).reshape(-1)  # a MATLAB cell: one reference per image
            boxes = [np.asarray(f[ref]).T.astype(np.int64) for ref in refs]  # HDF5 holds MATLAB arrays transposed
    except (OSError, KeyError) as err:
        raise DatasetLayoutError(f'{str(path)!r}: cannot read info.boundingboxes as written by MATLAB -v7.3 ({err})') \
            from None
    for i, b in enumerate(boxes, 1):
        if b.shape != (DND_CROPS_PER_IMAGE, 4):
            raise DatasetLayoutError(f'{str(path)!r}: boxes of image {i} have shape {b.shape}, expected '
                                     f'({DND_CROPS_PER_IMAGE}, 4)')
    return boxes


def read_dnd_crop(root: PathLike, image: int, box: np.ndarray) -> np.ndarray:
    """Crop ``box`` (1-based inclusive rows/cols) of image ``image`` as float32 RGB H x W x 3, reading only the box."""
    import h5py
    path = require_file(image_file(root, image), f'DND image {image}')
    r0, c0, r1, c1 = (int(v) for v in box)
    with h5py.File(path, 'r') as f:
        if IMAGE_VARIABLE not in f:
            raise DatasetLayoutError(f'{str(path)!r} has no variable {IMAGE_VARIABLE!r} (found {list(f.keys())})')
        dset = f[IMAGE_VARIABLE]  # MATLAB H x W x 3 is stored as 3 x W x H
        _, width, height = dset.shape
        if not (1 <= r0 <= r1 <= height and 1 <= c0 <= c1 <= width):
            raise DatasetLayoutError(f'{str(path)!r}: box {list(map(int, box))} lies outside the {height}x{width} '
                                     f'image')
        crop = np.asarray(dset[:, c0 - 1:c1, r0 - 1:r1])
    return np.ascontiguousarray(crop.transpose(2, 1, 0), dtype=np.float32)


def check_dnd_boxes(root: PathLike, image: int, boxes: np.ndarray) -> None:
    """Raise ``DatasetLayoutError`` unless image ``image`` holds ``IMAGE_VARIABLE`` and every box lies inside it."""
    import h5py
    path = require_file(image_file(root, image), f'DND image {image} (listed in info.mat)')
    with h5py.File(path, 'r') as f:
        if IMAGE_VARIABLE not in f:
            raise DatasetLayoutError(f'{str(path)!r} has no variable {IMAGE_VARIABLE!r} (found {list(f.keys())})')
        _, width, height = f[IMAGE_VARIABLE].shape
    for r0, c0, r1, c1 in boxes:
        if not (1 <= r0 <= r1 <= height and 1 <= c0 <= c1 <= width):
            raise DatasetLayoutError(f'{str(path)!r}: box {[int(r0), int(c0), int(r1), int(c1)]} lies outside the '
                                     f'{height}x{width} image')


def dnd_crop_index(root: PathLike, strict: bool = False) -> List[Tuple[str, int, np.ndarray]]:
    """(key, image, box) for every crop of the benchmark, checking the image files exist and the published count."""
    boxes = read_dnd_boxes(root)
    check_count('DND images in info.mat', len(boxes), DND_IMAGES, strict)
    for image in range(1, len(boxes) + 1):
        require_file(image_file(root, image), f'DND image {image} (listed in info.mat)')
    return [(dnd_key(i, k), i, box) for i, image_boxes in enumerate(boxes, 1)
            for k, box in enumerate(image_boxes, 1)]


@DATASET_REGISTRY.register()
class DNDDataset(data.Dataset):
    """The DND sRGB test crops. Options: ``dataroot_lq`` (the folder holding ``info.mat`` and ``images_srgb/``, or
    the ``dnd_2017`` folder holding them),
    ``strict`` (a count other than 50 images is an error, not a warning). Items: ``lq`` (3 x H x W float32 RGB in
    [0, 1]) and ``lq_path`` (the crop key)."""

    def __init__(self, opt: dict):
        super().__init__()
        self.opt = opt
        self.root = resolve_dnd_root(opt['dataroot_lq'])
        self.index = dnd_crop_index(self.root, strict=bool(opt.get('strict', False)))

    def __len__(self) -> int:
        return len(self.index)

    def __getitem__(self, idx: int) -> dict:
        key, image, box = self.index[idx]
        crop = read_dnd_crop(self.root, image, box)
        return {'lq': torch.from_numpy(crop.transpose(2, 0, 1).copy()), 'lq_path': key}
