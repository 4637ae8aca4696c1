"""RealBlur-J and RealBlur-R: train and test pairs from the official list files (gt first), keys ``scene183_7``."""
from __future__ import annotations

import re
from pathlib import Path, PurePosixPath
from typing import List

from mprnet_plugin.data.pairing import Pair, PairingError, require_dir, require_file
from mprnet_plugin.data.prep.common import PrepOptions, PrepResult, paired_stage

SPLITS = ('train', 'test')
PUBLISHED_PAIRS = {'train': 3758, 'test': 980}
# Variant -> the folder the list files point into, and the tag in the list file names.
VARIANTS = {
    'realblur-j': dict(folder='RealBlur-J_ECC_IMCORR_centroid_itensity_ref', tag='J'),
    'realblur-r': dict(folder='RealBlur-R_BM3D_ECC_IMCORR_centroid_itensity_ref', tag='R'),
}
_NAME = re.compile(r'^(?P<kind>gt|blur)_(?P<index>\d+)\.png$', re.IGNORECASE)


def list_file(root: Path, variant: str, split: str) -> Path:
    """The official list file of a variant and split, e.g. ``RealBlur_J_test_list.txt``."""
    return root / f'RealBlur_{VARIANTS[variant]["tag"]}_{split}_list.txt'


def _scene_and_index(rel: str, kind: str, where: str) -> tuple:
    parts = PurePosixPath(rel).parts
    match = _NAME.match(parts[-1])
    if len(parts) < 3 or match is None or match['kind'].lower() != kind or parts[-2] != kind:
        raise PairingError(f'{where}: {rel!r} is not a {kind} path of the form <scene>/{kind}/{kind}_<i>.png')
    return parts[-3], int(match['index'])


def read_pair_list(root: Path, path: Path) -> List[Pair]:
    """Pairs (key ``<scene>_<i>``, blur, gt) of a list file; each line is ``<gt> <blur>`` (trailing space allowed).

    The gt and blur of a line must name the same scene and index; both files must exist.
    """
    pairs = []
    for lineno, line in enumerate(require_file(path, 'RealBlur list file').read_text().splitlines(), 1):
        fields = line.split()
        if not fields:
            continue
        where = f'{path}:{lineno}'
        if len(fields) != 2:
            raise PairingError(f'{where}: expected "<gt path> <blur path>", found {line!r}')
        gt_rel, blur_rel = fields
        gt_id, blur_id = _scene_and_index(gt_rel, 'gt', where), _scene_and_index(blur_rel, 'blur', where)
        if gt_id != blur_id:
            raise PairingError(f'{where}: target {gt_rel!r} and input {blur_rel!r} are not the same scene and index')
        blur, gt = root / blur_rel, root / gt_rel
        missing = [str(p) for p in (blur, gt) if not p.is_file()]
        if missing:
            raise PairingError(f'{where}: pair input {str(blur)!r}, target {str(gt)!r}: {missing} does not exist')
        pairs.append((f'{blur_id[0]}_{blur_id[1]}', blur, gt))
    return pairs


def prepare_variant(opts: PrepOptions, variant: str) -> PrepResult:
    """Write ``train/{input,target}.lmdb`` and ``test/{input,target}.lmdb`` for RealBlur-J or RealBlur-R."""
    root = opts.src / 'RealBlur' if (opts.src / 'RealBlur').is_dir() else opts.src
    require_dir(root / VARIANTS[variant]['folder'], f'{variant} images')
    result = PrepResult()
    for split in SPLITS:
        if opts.wants(split):
            pairs = read_pair_list(root, list_file(root, variant, split))
            paired_stage(opts, result, f'{variant} {split}', pairs, opts.out(split), PUBLISHED_PAIRS[split])
    return result


def prepare_j(opts: PrepOptions) -> PrepResult:
    """RealBlur-J."""
    return prepare_variant(opts, 'realblur-j')


def prepare_r(opts: PrepOptions) -> PrepResult:
    """RealBlur-R."""
    return prepare_variant(opts, 'realblur-r')
