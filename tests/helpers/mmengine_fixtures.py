"""Miniature paired data and configs for the MMEngine tests."""
from __future__ import annotations

from pathlib import Path
from typing import Dict

import cv2
import numpy as np

from mprnet_plugin.data.lmdb_writer import make_paired_lmdb

REPO = Path(__file__).resolve().parents[2]
GOPRO_CONFIG = REPO / 'options' / 'mmengine' / 'mprnet_gopro.py'


def blurred_pairs(count: int, height: int, width: int, seed: int) -> list:
    """(key, blurred BGR uint8, sharp BGR uint8) triples of smooth random images."""
    rng = np.random.default_rng(seed)
    pairs = []
    for i in range(count):
        sharp = cv2.resize(rng.integers(0, 256, (height // 4 + 1, width // 4 + 1, 3), dtype=np.uint8),
                           (width, height), interpolation=cv2.INTER_CUBIC)
        blurred = cv2.GaussianBlur(sharp, (5, 5), 1.5)
        pairs.append((f'img{i:03d}', blurred, sharp))
    return pairs


def make_lmdb_data(root: Path) -> Dict[str, str]:
    """Train LMDBs (6 pairs of 40x40) and validation LMDBs (2 pairs of 36x44, not multiples of 8) under ``root``."""
    paths = {name: str(root / f'{name}.lmdb') for name in ('train_input', 'train_target', 'val_input', 'val_target')}
    make_paired_lmdb(blurred_pairs(6, 40, 40, seed=1), paths['train_input'], paths['train_target'])
    make_paired_lmdb(blurred_pairs(2, 36, 44, seed=2), paths['val_input'], paths['val_target'])
    return paths


def write_tiny_config(path: Path, data: Dict[str, str], work_dir: Path, max_iters: int = 4,
                      interval: int = 2) -> Path:
    """A config that inherits the GoPro recipe and shrinks the model, the data and the schedule for a CPU test."""
    path.write_text(f'''
_base_ = {str(GOPRO_CONFIG)!r}
work_dir = {str(work_dir)!r}
model = dict(generator=dict(n_feat=8, scale_unetfeats=4, scale_orsnetfeats=4, num_cab=1))
train_dataloader = dict(batch_size=2, num_workers=0, persistent_workers=False,
                        dataset=dict(dataroot_lq={data['train_input']!r}, dataroot_gt={data['train_target']!r},
                                     gt_size=32))
val_dataloader = dict(num_workers=0, dataset=dict(dataroot_lq={data['val_input']!r},
                                                  dataroot_gt={data['val_target']!r}))
test_dataloader = val_dataloader
train_cfg = dict(max_iters={max_iters}, val_interval={interval})
param_scheduler = [
    dict(type='LinearLR', start_factor=0.1, by_epoch=False, begin=0, end=1),
    dict(type='CosineAnnealingLR', T_max={max_iters} - 1, eta_min=1e-6, by_epoch=False, begin=1, end={max_iters}),
]
default_hooks = dict(logger=dict(interval=1), checkpoint=dict(interval={interval}, max_keep_ckpts=3))
env_cfg = dict(cudnn_benchmark=False, mp_cfg=dict(opencv_num_threads=1))
log_processor = dict(window_size=1)
''')
    return path
