"""HIDE (``HIDE_dataset``): the test set, and which of its keys are close-ups and which long-shots."""
from __future__ import annotations

import json
from pathlib import Path
from typing import Dict, List

from mprnet_plugin.data.pairing import Pair, PairingError, index_by_key, list_images, require_dir
from mprnet_plugin.data.prep.common import PrepOptions, PrepResult, paired_stage
from mprnet_plugin.io.atomic import atomic_write_text

SPLITS = ('test',)
PUBLISHED_TEST_PAIRS = 2025
# Subset name -> folder under test/ holding its blurred images; the sharp ones are GT/<same name>.
TEST_SUBSETS = {'close-up': 'test-close-ups', 'long-shot': 'test-long-shot'}
SUBSETS_FILE = 'subsets.json'


def test_pairs(root: Path) -> Dict[str, List[Pair]]:
    """Subset name -> pairs (key, blurred, GT/<same file name>); a blurred image without its GT is an error."""
    gt_dir = require_dir(root / 'GT', 'HIDE sharp images')
    out: Dict[str, List[Pair]] = {}
    for subset, folder in TEST_SUBSETS.items():
        inputs = index_by_key(list_images(require_dir(root / 'test' / folder, f'HIDE {subset} test images')))
        pairs = []
        for key, blurred in sorted(inputs.items()):
            sharp = gt_dir / blurred.name
            if not sharp.is_file():
                raise PairingError(f'input {str(blurred)!r} has no target partner: expected {str(sharp)!r}')
            pairs.append((key, blurred, sharp))
        out[subset] = pairs
    return out


def prepare(opts: PrepOptions) -> PrepResult:
    """Write ``test/{input,target}.lmdb`` and ``test/subsets.json`` (``{"close-up": [...], "long-shot": [...]}``)."""
    root = opts.src / 'HIDE_dataset' if (opts.src / 'HIDE_dataset').is_dir() else opts.src
    result = PrepResult()
    if not opts.wants('test'):
        return result
    subsets = test_pairs(root)
    keys = {subset: [k for k, _, _ in pairs] for subset, pairs in subsets.items()}
    shared = set(keys['close-up']) & set(keys['long-shot'])
    if shared:
        raise PairingError(f'HIDE: {sorted(shared)[:3]} appear both in close-ups and long-shots; keys must be unique')
    pairs = [p for subset in TEST_SUBSETS for p in subsets[subset]]
    paired_stage(opts, result, 'HIDE test', pairs, opts.out('test'), PUBLISHED_TEST_PAIRS)
    subsets_path = opts.out('test', SUBSETS_FILE)
    atomic_write_text(subsets_path, json.dumps(keys, indent=1) + '\n')
    result.files = [str(subsets_path)]
    return result
