"""The parts of an MMEngine config this package defines, checked before MMEngine's Runner is built.

The Runner builds the model, the datasets and the optimizer one by one and answers a mistake with a traceback from
deep inside MMEngine, after work has started. These checks run on the merged config (after ``--cfg-options``) and
raise ``OptionError`` naming the key: ``model`` (``MPRNetRestorer``'s arguments), each dataloader (``batch_size``,
``num_workers``, ``BasicSRPairedDataset``'s arguments and folders), ``optim_wrapper.accumulative_counts``,
``train_cfg`` (``max_iters``, ``val_interval``) and the checkpoint hook's ``interval``. Keys MMEngine owns and this
package does not use are left to MMEngine.
"""
from __future__ import annotations

import inspect
import os
from typing import Any, Iterable, Mapping, Optional

from basicsr.utils.registry import ARCH_REGISTRY, DATASET_REGISTRY, LOSS_REGISTRY
from mmengine.registry import DATASETS, MODELS

from mprnet_plugin.archs.mprnet_arch import SIZE_MULTIPLE
from mprnet_plugin.errors import OptionError

# Which loops need which dataloaders (MMEngine's Runner builds only these for the loop it runs).
LOOP_DATALOADERS = {'train': ('train_dataloader', 'val_dataloader'), 'test': ('test_dataloader',)}


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _describe(value: Any) -> str:
    kind = 'text' if isinstance(value, str) else type(value).__name__
    return f'{value!r} ({kind})'


def check_int(value: Any, key: str, minimum: int) -> None:
    """Refuse ``value`` unless it is an integer of at least ``minimum`` (never a boolean or text)."""
    if not _is_int(value) or value < minimum:
        raise OptionError(f'{key}: {_describe(value)}; expected an integer >= {minimum}')


def check_bool(value: Any, key: str) -> None:
    """Refuse ``value`` unless it is ``True`` or ``False`` (text such as ``'no'`` would read as true)."""
    if not isinstance(value, bool):
        raise OptionError(f'{key}: {_describe(value)}; expected True or False')


def check_arguments(section: Mapping[str, Any], cls: Any, key: str, skip: Iterable[str] = ('type',)) -> None:
    """Refuse keys of ``section`` that ``cls.__init__`` does not take (unless it takes ``**kwargs``)."""
    if cls is None:  # not registered in this process: MMEngine's own error will name it
        return
    params = inspect.signature(cls.__init__).parameters
    if any(p.kind is inspect.Parameter.VAR_KEYWORD for p in params.values()):
        return
    known = [name for name in params if name != 'self']
    for name in section:
        if name not in known and name not in skip:
            raise OptionError(f'{key}.{name}: not an argument of {cls.__name__}; expected one of {", ".join(known)}')


def _check_registered(section: Any, registry: Any, key: str, what: str) -> None:
    if not isinstance(section, Mapping) or 'type' not in section:
        raise OptionError(f'{key}: {_describe(section)}; expected a dict with a "type" ({what})')
    if section['type'] not in registry:
        names = ', '.join(sorted(registry._obj_map))
        raise OptionError(f'{key}.type: {section["type"]!r} is not a registered {what}; expected one of {names}')
    check_arguments({k: v for k, v in section.items() if k != 'type'}, registry.get(section['type']), key)


def check_model(model: Any, check_paths: bool = True) -> None:
    """``model``: ``MPRNetRestorer``'s arguments, its generator and loss registered in BasicSR."""
    if not isinstance(model, Mapping):
        raise OptionError(f'model: {_describe(model)}; expected a dict')
    if model.get('type') != 'MPRNetRestorer':
        return  # another package's model: its own checks apply
    # Looked up in MMEngine's registry (filled when mprnet_plugin.mmengine is imported): config stays below it.
    check_arguments(model, MODELS.get('MPRNetRestorer'), 'model')
    if 'generator' not in model:
        raise OptionError('model.generator: missing; expected the network, e.g. dict(type="MPRNet")')
    _check_registered(model['generator'], ARCH_REGISTRY, 'model.generator', 'network')
    if model.get('loss') is not None:
        _check_registered(model['loss'], LOSS_REGISTRY, 'model.loss', 'loss')
    for name in ('identity_init', 'pretrained_strict'):
        if name in model:
            check_bool(model[name], f'model.{name}')
    if model.get('tile') is not None:
        check_int(model['tile'], 'model.tile', SIZE_MULTIPLE)
        if model['tile'] % SIZE_MULTIPLE:
            raise OptionError(f'model.tile: {model["tile"]}; expected a multiple of {SIZE_MULTIPLE} (or None)')
    if 'tile_overlap' in model:
        check_int(model['tile_overlap'], 'model.tile_overlap', 0)
    if 'tile_batch' in model:
        check_int(model['tile_batch'], 'model.tile_batch', 1)
    pretrained = model.get('pretrained')
    if check_paths and pretrained is not None and not os.path.isfile(str(pretrained)):
        raise OptionError(f'model.pretrained: {pretrained!r} is not a file')


def check_paired_dataset(dataset: Mapping[str, Any], key: str, check_paths: bool = True) -> None:
    """``BasicSRPairedDataset``'s arguments: phase, gt_size, switches and both data folders."""
    phase = dataset.get('phase', 'train')
    if phase not in ('train', 'val', 'test'):
        raise OptionError(f'{key}.phase: {_describe(phase)}; expected train, val or test')
    gt_size = dataset.get('gt_size')
    if phase == 'train' and gt_size is None:
        raise OptionError(f'{key}.gt_size: missing; phase "train" needs the training crop size (e.g. 256)')
    if gt_size is not None:
        check_int(gt_size, f'{key}.gt_size', SIZE_MULTIPLE)
        if gt_size % SIZE_MULTIPLE:
            raise OptionError(f'{key}.gt_size: {gt_size}; expected a multiple of {SIZE_MULTIPLE}')
    for name in ('use_hflip', 'use_rot'):
        if name in dataset:
            check_bool(dataset[name], f'{key}.{name}')
    basicsr_type = dataset.get('basicsr_type', 'PairedImageDataset')
    if basicsr_type not in DATASET_REGISTRY:
        raise OptionError(f'{key}.basicsr_type: {basicsr_type!r} is not a dataset registered in BasicSR')
    for name in ('dataroot_lq', 'dataroot_gt'):
        root = dataset.get(name)
        if not isinstance(root, (str, os.PathLike)):
            raise OptionError(f'{key}.{name}: {_describe(root)}; expected the path of a folder or an LMDB')
        if check_paths and not os.path.isdir(root):
            raise OptionError(f'{key}.{name}: {os.fspath(root)!r} is not a folder or an LMDB')


def check_dataloader(loader: Any, key: str, check_paths: bool = True) -> None:
    """A dataloader: ``batch_size`` >= 1, ``num_workers`` >= 0, and its dataset when it is ours."""
    if not isinstance(loader, Mapping):
        raise OptionError(f'{key}: {_describe(loader)}; expected a dict')
    if 'batch_size' not in loader:
        raise OptionError(f'{key}.batch_size: missing; expected an integer >= 1')
    check_int(loader['batch_size'], f'{key}.batch_size', 1)
    if 'num_workers' in loader:
        check_int(loader['num_workers'], f'{key}.num_workers', 0)
    if 'persistent_workers' in loader:
        check_bool(loader['persistent_workers'], f'{key}.persistent_workers')
    dataset = loader.get('dataset')
    if not isinstance(dataset, Mapping):
        raise OptionError(f'{key}.dataset: {_describe(dataset)}; expected a dict')
    if dataset.get('type') == 'BasicSRPairedDataset':
        check_arguments(dataset, DATASETS.get('BasicSRPairedDataset'), f'{key}.dataset')
        check_paired_dataset(dataset, f'{key}.dataset', check_paths)


def check_training_parts(cfg: Mapping[str, Any]) -> None:
    """``optim_wrapper.accumulative_counts``, ``train_cfg`` and the checkpoint hook's interval."""
    optim = cfg.get('optim_wrapper')
    if isinstance(optim, Mapping) and 'accumulative_counts' in optim:
        check_int(optim['accumulative_counts'], 'optim_wrapper.accumulative_counts', 1)
    train_cfg = cfg.get('train_cfg')
    if not isinstance(train_cfg, Mapping):
        raise OptionError(f'train_cfg: {_describe(train_cfg)}; expected a dict with max_iters (or max_epochs)')
    for name in ('max_iters', 'max_epochs', 'val_interval', 'val_begin'):
        if name in train_cfg:
            check_int(train_cfg[name], f'train_cfg.{name}', 0 if name == 'val_begin' else 1)
    checkpoint = (cfg.get('default_hooks') or {}).get('checkpoint')
    if isinstance(checkpoint, Mapping):
        if 'interval' in checkpoint:
            check_int(checkpoint['interval'], 'default_hooks.checkpoint.interval', 1)
        if checkpoint.get('max_keep_ckpts') is not None:
            check_int(checkpoint['max_keep_ckpts'], 'default_hooks.checkpoint.max_keep_ckpts', -1)


def check_mmengine_config(cfg: Mapping[str, Any], loop: str, source: Optional[str] = None,
                          check_paths: bool = True) -> None:
    """Check what ``loop`` (``'train'`` or ``'test'``) will build from ``cfg``; raise ``OptionError`` naming the key.

    ``check_paths=False`` leaves out the data folders and weights files (a config checked away from its data).
    """
    if loop not in LOOP_DATALOADERS:
        raise ValueError(f'loop must be train or test; got {loop!r}')
    where = f' (in {source})' if source else ''
    try:
        check_model(cfg.get('model'), check_paths)
        for key in LOOP_DATALOADERS[loop]:
            loader = cfg.get(key)
            if loader is None:
                if key == 'val_dataloader':
                    continue  # training without validation is allowed
                raise OptionError(f'{key}: missing; the {loop} loop needs it')
            check_dataloader(loader, key, check_paths)
        if loop == 'train':
            check_training_parts(cfg)
    except OptionError as exc:
        raise OptionError(f'{exc}{where}') from None


__all__ = ['check_arguments', 'check_bool', 'check_dataloader', 'check_int', 'check_mmengine_config', 'check_model',
           'check_paired_dataset', 'check_training_parts']
