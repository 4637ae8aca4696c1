"""Paired training and validation data for MMEngine, read by BasicSR's own dataset classes.

The MMEngine side reads exactly what the BasicSR side reads (LMDBs written by ``mprnet_plugin.data.lmdb_writer`` or
folders of images), with the same random crop and the 8 flip/rotation variants, by delegating to a dataset registered
in BasicSR's ``DATASET_REGISTRY`` (``PairedImageDataset`` by default).
"""
from __future__ import annotations

import os
from typing import Any, Dict, Optional

from mmengine.registry import DATASETS
from torch.utils.data import Dataset

from basicsr.utils.registry import DATASET_REGISTRY
from mprnet_plugin.archs.mprnet_arch import SIZE_MULTIPLE


def default_io_backend(dataroot_lq: str, dataroot_gt: str) -> Dict[str, str]:
    """``{'type': 'lmdb'}`` when both roots are ``.lmdb`` folders, ``{'type': 'disk'}`` otherwise."""
    lmdb = [root.rstrip('/').endswith('.lmdb') for root in (dataroot_lq, dataroot_gt)]
    if any(lmdb) and not all(lmdb):
        raise ValueError(f'BasicSRPairedDataset: dataroot_lq {dataroot_lq!r} and dataroot_gt {dataroot_gt!r} must both '
                         'be LMDBs (ending in .lmdb) or both be folders')
    return dict(type='lmdb' if all(lmdb) else 'disk')


@DATASETS.register_module()
class BasicSRPairedDataset(Dataset):
    """Input/target pairs from a BasicSR dataset class, as MMEngine samples.

    Each sample is ``{'inputs': lq (C, H, W) float RGB in [0, 1], 'data_samples': {'gt': ..., 'img_name': key,
    'lq_path': ..., 'gt_path': ...}}``.

    Args:
        dataroot_lq / dataroot_gt: input and target LMDBs (``*.lmdb``) or folders with the same file names.
        phase: ``'train'`` (random ``gt_size`` crop, then flips/rotations) or ``'val'`` (whole images).
        gt_size: training crop size; a multiple of 8 for MPRNet.
        use_hflip / use_rot: horizontal flip, and vertical flip + transpose: together the 8 variants.
        io_backend: BasicSR's io_backend option; by default lmdb for ``.lmdb`` roots, disk otherwise.
        basicsr_type: the BasicSR dataset class that reads the pairs.
        name: the dataset's name in logs and metric files (default: the phase).
        **options: further options of the BasicSR dataset class (``filename_tmpl``, ``meta_info_file``, ...).
    """

    def __init__(self, dataroot_lq: str, dataroot_gt: str, phase: str = 'train', gt_size: Optional[int] = None,
                 use_hflip: bool = True, use_rot: bool = True, io_backend: Optional[Dict[str, Any]] = None,
                 basicsr_type: str = 'PairedImageDataset', name: Optional[str] = None, **options: Any) -> None:
        super().__init__()
        if phase not in ('train', 'val', 'test'):
            raise ValueError(f'BasicSRPairedDataset: phase must be train, val or test; got {phase!r}')
        if phase == 'train' and not gt_size:
            raise ValueError('BasicSRPairedDataset: phase="train" needs gt_size, the training crop size (e.g. 256)')
        if gt_size and gt_size % SIZE_MULTIPLE:
            raise ValueError(f'BasicSRPairedDataset: gt_size {gt_size} must be a multiple of {SIZE_MULTIPLE} '
                             'for MPRNet')
        io_backend = dict(io_backend or default_io_backend(dataroot_lq, dataroot_gt))
        for key, root in (('dataroot_lq', dataroot_lq), ('dataroot_gt', dataroot_gt)):
            if not os.path.isdir(root):
                raise FileNotFoundError(f'BasicSRPairedDataset: {key} {root!r} is not a folder or an LMDB')
        self.name = name or phase
        opt = dict(options, name=self.name, phase=phase, scale=1, dataroot_lq=dataroot_lq, dataroot_gt=dataroot_gt,
                   io_backend=io_backend,
                   gt_size=gt_size, use_hflip=use_hflip, use_rot=use_rot)
        self.dataset = DATASET_REGISTRY.get(basicsr_type)(opt)
        if len(self.dataset) == 0:
            raise ValueError(f'BasicSRPairedDataset: no pairs found in {dataroot_lq!r} / {dataroot_gt!r}')

    @property
    def metainfo(self) -> Dict[str, Any]:
        """What MMEngine hands to the evaluator as ``dataset_meta``."""
        return dict(dataset_name=self.name)

    def __len__(self) -> int:
        return len(self.dataset)

    def __getitem__(self, index: int) -> Dict[str, Any]:
        item = self.dataset[index]
        lq_path = item.get('lq_path', '')
        samples = dict(gt=item['gt'], img_name=os.path.splitext(os.path.basename(lq_path))[0],
                       lq_path=lq_path, gt_path=item.get('gt_path', ''))
        return dict(inputs=item['lq'], data_samples=samples)
