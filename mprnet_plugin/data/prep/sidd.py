"""SIDD sRGB: 512/384 training crops from SIDD-Medium and the 1280 validation blocks from the two ``.mat`` files."""
from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Dict, List, Tuple

import numpy as np

from mprnet_plugin.data.pairing import DatasetLayoutError, Pair, PairingError, list_images, require_dir, require_file
from mprnet_plugin.data.prep.common import PrepOptions, PrepResult, paired_stage

SPLITS = ('train', 'val')
MEDIUM_DIR = 'SIDD_Medium_Srgb'
PUBLISHED_TRAIN_PAIRS = 320  # 160 scenes x 2 shots
TRAIN_CROP = (512, 384)
# Validation files (the variable inside each is named like the file) and the published block count.
VAL_NOISY, VAL_GT = 'ValidationNoisyBlocksSrgb', 'ValidationGtBlocksSrgb'
VAL_KEY_PREFIX = 'ValidationBlocksSrgb'
PUBLISHED_VAL_BLOCKS = 1280  # 40 images x 32 blocks of 256x256
_NAME = re.compile(r'^(?P<id>\d+)_(?P<kind>GT|NOISY)_SRGB_(?P<shot>\d+)\.png$', re.IGNORECASE)


def medium_pairs(data_dir: Path) -> List[Pair]:
    """(``<id>_SRGB_<shot>``, NOISY, GT) for every scene folder, matched by scene, id and shot."""
    pairs: List[Pair] = []
    scenes = sorted(p for p in require_dir(data_dir, 'SIDD-Medium sRGB scenes').iterdir() if p.is_dir())
    if not scenes:
        raise DatasetLayoutError(f'SIDD-Medium folder {str(data_dir)!r} holds no scene folders')
    seen: Dict[str, Path] = {}
    for scene in scenes:
        found: Dict[Tuple[str, str], Dict[str, Path]] = {}
        for path in list_images(scene):
            m = _NAME.match(path.name)
            if m:
                found.setdefault((m['id'], m['shot']), {})[m['kind'].upper()] = path
        for (sid, shot), files in sorted(found.items()):
            if set(files) != {'GT', 'NOISY'}:
                kind, path = next(iter(files.items()))
                other = 'GT' if kind == 'NOISY' else 'NOISY'
                raise PairingError(f'{str(path)!r} has no partner: expected {sid}_{other}_SRGB_{shot}.PNG in '
                                   f'{str(scene)!r}')
            key = f'{sid}_SRGB_{shot}'
            if key in seen:
                raise PairingError(f'{str(seen[key])!r} and {str(files["NOISY"])!r} both map to the key {key!r}')
            seen[key] = files['NOISY']
            pairs.append((key, files['NOISY'], files['GT']))
    return pairs


def load_blocks(path: Path) -> np.ndarray:
    """The uint8 (images, blocks, H, W, 3) RGB array of a validation ``.mat`` (variable named like the file)."""
    from scipy.io import loadmat
    name = path.stem
    data = loadmat(os.fspath(require_file(path, 'SIDD validation blocks')))
    if name not in data:
        found = [k for k in data if not k.startswith('__')]
        raise DatasetLayoutError(f'{str(path)!r} has no variable {name!r} (found {found})')
    blocks = data[name]
    if blocks.ndim != 5 or blocks.shape[-1] != 3:
        raise DatasetLayoutError(f'{str(path)!r}: {name} has shape {blocks.shape}, expected (images, blocks, H, W, 3)')
    return blocks


def validation_pairs(root: Path) -> List[Tuple[str, np.ndarray, np.ndarray]]:
    """(``ValidationBlocksSrgb_<image*32+block>``, noisy BGR, clean BGR) for every validation block."""
    noisy, gt = load_blocks(root / f'{VAL_NOISY}.mat'), load_blocks(root / f'{VAL_GT}.mat')
    if noisy.shape != gt.shape:
        raise PairingError(f'{str(root / VAL_NOISY)}.mat has shape {noisy.shape} but {str(root / VAL_GT)}.mat has '
                           f'shape {gt.shape}; they must match')
    n_img, n_blk = noisy.shape[:2]
    to_bgr = np.s_[..., ::-1]  # .mat blocks are RGB; LMDBs hold BGR like every image BasicSR reads
    return [(f'{VAL_KEY_PREFIX}_{i * n_blk + b}', np.ascontiguousarray(noisy[i, b][to_bgr]),
             np.ascontiguousarray(gt[i, b][to_bgr])) for i in range(n_img) for b in range(n_blk)]


def prepare(opts: PrepOptions) -> PrepResult:
    """Write ``train/{input,target}_crops.lmdb`` (SIDD-Medium) and ``val/{input,target}.lmdb`` (validation blocks)."""
    result = PrepResult()
    if opts.wants('train'):
        medium = opts.src if (opts.src / 'Data').is_dir() else opts.src / MEDIUM_DIR
        pairs = medium_pairs(medium / 'Data')
        paired_stage(opts, result, 'SIDD-Medium train', pairs, opts.out('train'), PUBLISHED_TRAIN_PAIRS,
                     opts.crop(TRAIN_CROP))
    if opts.wants('val'):
        pairs = validation_pairs(opts.src)
        paired_stage(opts, result, 'SIDD validation blocks', pairs, opts.out('val'), PUBLISHED_VAL_BLOCKS)
    return result
