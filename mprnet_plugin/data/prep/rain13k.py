"""Rain13K training pairs and the five deraining test sets."""
from __future__ import annotations

import logging
from pathlib import Path

from mprnet_plugin.data.pairing import pair_folders
from mprnet_plugin.data.prep.common import PrepOptions, PrepResult, paired_stage

logger = logging.getLogger('mprnet_plugin.prep')

SPLITS = ('train', 'test')
PUBLISHED_TRAIN_PAIRS = 13711  # the paper says 13,712; the download has 13,711
PUBLISHED_TEST_PAIRS = {'Rain100H': 100, 'Rain100L': 100, 'Test100': 98, 'Test1200': 1200, 'Test2800': 2800}
# Files left out of a set: an old duplicate that some copies of Test2800 still carry.
DROPPED = {'Test2800': ('926_10(1)',)}


def train_dir(root: Path) -> Path:
    """``train/Rain13K`` (as distributed), or ``train`` itself when it holds ``input``/``target`` directly."""
    nested = root / 'train' / 'Rain13K'
    return nested if nested.is_dir() or not (root / 'train' / 'input').is_dir() else root / 'train'


def prepare(opts: PrepOptions) -> PrepResult:
    """Write ``train/{input,target}.lmdb`` and ``test/<Set>/{input,target}.lmdb`` for each test set."""
    root = opts.src
    result = PrepResult()
    if opts.wants('train'):
        folder = train_dir(root)
        pairs = pair_folders(folder / 'input', folder / 'target')
        paired_stage(opts, result, 'Rain13K train', pairs, opts.out('train'), PUBLISHED_TRAIN_PAIRS)
    if opts.wants('test'):
        for name, expected in PUBLISHED_TEST_PAIRS.items():
            folder = root / 'test' / name
            dropped = [p for p in (folder / 'input').glob('*') if p.stem in DROPPED.get(name, ())]
            if dropped:
                logger.info('%s: leaving out the known duplicate %s', name, ', '.join(p.name for p in dropped))
            pairs = pair_folders(folder / 'input', folder / 'target', drop=DROPPED.get(name, ()))
            paired_stage(opts, result, f'{name} test', pairs, opts.out('test', name), expected)
    return result
