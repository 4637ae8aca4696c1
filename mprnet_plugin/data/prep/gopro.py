"""GoPro (``GOPRO_Large``): 512/256 training crops and the full-size test set."""
from __future__ import annotations

from pathlib import Path
from typing import List

from mprnet_plugin.data.pairing import (
    DatasetLayoutError,
    Pair,
    index_by_key,
    list_images,
    name_to_key,
    pair_by_key,
    require_dir,
)
from mprnet_plugin.data.prep.common import PrepOptions, PrepResult, paired_stage

SPLITS = ('train', 'test')
PUBLISHED_PAIRS = {'train': 2103, 'test': 1111}
PUBLISHED_SCENES = {'train': 22, 'test': 11}
PUBLISHED_TRAIN_CROPS = 16824  # 8 crops of 512 (step 256) per 1280x720 image
TRAIN_CROP = (512, 256)
TARGET_FOLDER = 'sharp'


def scene_pairs(split_dir: Path, input_folder: str = 'blur') -> List[Pair]:
    """Pairs of every scene of a split, matched by scene and frame number; keys ``<scene>-<frame>``."""
    pairs: List[Pair] = []
    scenes = sorted(p for p in require_dir(split_dir, 'GoPro split').iterdir() if p.is_dir())
    if not scenes:
        raise DatasetLayoutError(f'GoPro split {str(split_dir)!r} holds no scene folders')
    for scene in scenes:
        def key_of(path: Path, scene_name: str = scene.name) -> str:
            return f'{scene_name}-{name_to_key(path.name)}'
        inputs = index_by_key(list_images(require_dir(scene / input_folder, f'GoPro {input_folder} images')), key_of)
        targets = index_by_key(list_images(require_dir(scene / TARGET_FOLDER, 'GoPro sharp images')), key_of)
        pairs += pair_by_key(inputs, targets)
    return pairs


def prepare(opts: PrepOptions) -> PrepResult:
    """Write ``train/{input,target}_crops.lmdb`` and ``test/{input,target}.lmdb`` (``blur`` or ``blur_gamma`` input)."""
    root = opts.src / 'GOPRO_Large' if (opts.src / 'GOPRO_Large').is_dir() else opts.src
    input_folder = 'blur_gamma' if opts.blur_gamma else 'blur'
    result = PrepResult()
    for split in SPLITS:
        if not opts.wants(split):
            continue
        pairs = scene_pairs(root / split, input_folder)
        what = f'GoPro {split} ({input_folder})'
        crop = opts.crop(TRAIN_CROP) if split == 'train' else None
        paired_stage(opts, result, what, pairs, opts.out(split), PUBLISHED_PAIRS[split], crop,
                     PUBLISHED_TRAIN_CROPS if crop == TRAIN_CROP else None)
    return result
