"""Checks of a BasicSR option file and its ``--force_yml`` before the pipeline runs, each naming the option or file.

``check_raw_options`` runs before BasicSR's ``parse_options`` (which fails on these with bare tracebacks);
``check_parsed_options`` runs on its result, where ``--force_yml`` is applied and ``num_gpu: auto`` resolved.
"""
from __future__ import annotations

import numbers
import os
from pathlib import Path
from typing import Any, Iterator, List, Mapping, Optional, Sequence, Tuple

from mprnet_plugin.config.errors import OptionError
from mprnet_plugin.config.loader import load_option_file
from mprnet_plugin.config.model_options import parse_tile_option

# (dotted option path, kind) checked when present: 'int' and 'number' refuse text such as ``lr: fast``.
NUMERIC_OPTIONS = (
    ('num_gpu', 'int'), ('manual_seed', 'int'), ('train.total_iter', 'int'), ('train.ema_decay', 'number'),
    ('train.grad_clip', 'number'), ('train.optim_g.lr', 'number'), ('train.optim_g.weight_decay', 'number'),
    ('train.scheduler.warmup_iter', 'int'), ('train.scheduler.eta_min', 'number'),
    ('train.scheduler.total_iter', 'int'), ('val.val_freq', 'int'), ('logger.print_freq', 'int'),
    ('logger.save_checkpoint_freq', 'int'),
)
DATASET_NUMERIC_OPTIONS = (('batch_size_per_gpu', 'int'), ('num_worker_per_gpu', 'int'), ('gt_size', 'int'),
                           ('dataset_enlarge_ratio', 'int'))
# Options that name a registered component: (dotted path, registry name in basicsr.utils.registry).
REGISTERED_OPTIONS = (('network_g.type', 'ARCH_REGISTRY'), ('model_type', 'MODEL_REGISTRY'))
LOSS_SECTION_SUFFIX = '_opt'


def _lookup(opt: Any, keys: Sequence[str]) -> Tuple[bool, Any]:
    for key in keys:
        if not isinstance(opt, Mapping) or key not in opt:
            return False, None
        opt = opt[key]
    return True, opt


def check_force_yml(entries: Optional[Sequence[str]], opt: Mapping[str, Any], path: str) -> None:
    """Every ``--force_yml key:subkey=value`` is well formed and sets a key the option file has."""
    for entry in entries or ():
        if entry.count('=') != 1 or not entry.split('=')[0].strip():
            raise OptionError(f'--force_yml {entry!r}: expected key:subkey=value (one "=", keys joined by ":")')
        keys = [k.strip() for k in entry.split('=')[0].split(':')]
        found, _ = _lookup(opt, keys)
        if not found:
            raise OptionError(f'--force_yml {entry!r}: option file {path!r} has no key {":".join(keys)}; only '
                             'existing keys can be set')


def check_raw_options(argv: Sequence[str]) -> None:
    """Check ``-opt`` and ``--force_yml`` in ``argv`` (BasicSR's launcher arguments) before BasicSR parses them."""
    import argparse
    parser = argparse.ArgumentParser(add_help=False)
    parser.add_argument('-opt')
    parser.add_argument('--force_yml', nargs='+')
    args, _ = parser.parse_known_args(list(argv))
    if args.opt is None:
        return  # BasicSR's own parser reports the missing -opt
    check_force_yml(args.force_yml, load_option_file(args.opt), args.opt)


def _is_kind(value: Any, kind: str) -> bool:
    if isinstance(value, bool):
        return False
    if kind == 'int':
        return isinstance(value, numbers.Integral)
    return isinstance(value, numbers.Real)


def _check_number(name: str, value: Any, kind: str) -> None:
    if value is None or _is_kind(value, kind):
        return
    expected = 'an integer' if kind == 'int' else 'a number'
    hint = ''
    if isinstance(value, str):
        try:
            float(value)
            hint = ' (YAML reads 1e-4 as text: write 1.0e-4 or !!float 1e-4)'
        except ValueError:
            pass
    raise OptionError(f'option {name}: {value!r} is {type(value).__name__}; expected {expected}{hint}')


def _registry_names(registry_name: str) -> List[str]:
    import basicsr.utils.registry as registries
    return sorted(getattr(registries, registry_name)._obj_map)


def _check_registered(name: str, value: Any, registry_name: str, what: str) -> None:
    names = _registry_names(registry_name)
    if value not in names:
        raise OptionError(f'option {name}: {value!r} is not a registered {what}; expected one of {names}')


def _loss_sections(train: Mapping[str, Any]) -> Iterator[Tuple[str, Mapping[str, Any]]]:
    for key, section in train.items():
        if key.endswith(LOSS_SECTION_SUFFIX) and key != 'optim_g' and isinstance(section, Mapping) \
                and 'type' in section:
            yield f'train.{key}', section


def _check_dataset(phase: str, dataset: Mapping[str, Any]) -> None:
    for key, kind in DATASET_NUMERIC_OPTIONS:
        _check_number(f'datasets.{phase}.{key}', dataset.get(key), kind)
    for key in ('dataroot_lq', 'dataroot_gt'):
        root = dataset.get(key)
        if root is not None and not os.path.exists(root):
            raise OptionError(f'option datasets.{phase}.{key}: {root!r} does not exist')
    backend = (dataset.get('io_backend') or {}).get('type', 'disk')
    lq, gt = dataset.get('dataroot_lq'), dataset.get('dataroot_gt')
    if backend == 'disk' and lq and gt and os.path.isdir(lq) and os.path.isdir(gt) \
            and dataset.get('filename_tmpl', '{}') == '{}' and not dataset.get('meta_info_file'):
        _check_same_names(phase, lq, gt)


def _check_same_names(phase: str, lq: str, gt: str) -> None:
    """Paired folders must hold the same file names (BasicSR pairs the files directly inside them by name)."""
    def names(root: str) -> set:
        return {entry.name for entry in os.scandir(root) if entry.is_file()}
    lq_names, gt_names = names(lq), names(gt)
    only_gt, only_lq = sorted(gt_names - lq_names), sorted(lq_names - gt_names)
    if only_gt or only_lq:
        example = (f'{only_gt[0]!r} is in dataroot_gt only' if only_gt else f'{only_lq[0]!r} is in dataroot_lq only')
        raise OptionError(f'datasets.{phase}: dataroot_lq {lq!r} and dataroot_gt {gt!r} must hold the same file '
                         f'names; {example} ({len(only_gt)} name(s) only in gt, {len(only_lq)} only in lq)')


def check_parsed_options(opt: Mapping[str, Any], testing: bool) -> None:
    """Check the options BasicSR parsed (``--force_yml`` applied); raises ``OptionError`` naming the option."""
    import torch


    for name, kind in NUMERIC_OPTIONS:
        found, value = _lookup(opt, name.split('.'))
        if found:
            _check_number(name, value, kind)
    for name, registry in REGISTERED_OPTIONS:
        found, value = _lookup(opt, name.split('.'))
        if not found:
            raise OptionError(f'option {name} is missing')
        _check_registered(name, value, registry, 'architecture' if registry == 'ARCH_REGISTRY' else 'model')
    for name, section in _loss_sections(opt.get('train') or {}):
        _check_registered(f'{name}.type', section['type'], 'LOSS_REGISTRY', 'loss')
    num_gpu = opt.get('num_gpu', 0)
    if num_gpu and num_gpu > torch.cuda.device_count():
        raise OptionError(f'option num_gpu: {num_gpu}, but torch sees {torch.cuda.device_count()} CUDA device(s); '
                         'use num_gpu: 0 for the CPU (or --force_yml num_gpu=0)')
    datasets = opt.get('datasets')
    if not isinstance(datasets, Mapping) or not datasets:
        raise OptionError('option datasets: expected a mapping of dataset sections (train, val, test_1, ...)')
    for phase, dataset in datasets.items():
        if not isinstance(dataset, Mapping):
            raise OptionError(f'option datasets.{phase}: expected a mapping; got {dataset!r}')
        _check_dataset(phase, dataset)
    try:
        parse_tile_option((opt.get('val') or {}).get('tile'))
    except ValueError as exc:
        raise OptionError(f'option {exc}') from None
    path_opt = opt.get('path') or {}
    if testing and path_opt.get('pretrain_network_g') is None and not path_opt.get('allow_random_weights'):
        raise OptionError('option path.pretrain_network_g is empty: testing would score random weights; name the '
                         'checkpoint, or set path.allow_random_weights: true if random weights are meant')
    pretrained = path_opt.get('pretrain_network_g')
    resuming = opt.get('auto_resume') or path_opt.get('resume_state')  # the resumed state names the weights then
    if pretrained is not None and not resuming and not Path(pretrained).is_file():
        kind = 'a folder' if Path(pretrained).is_dir() else 'missing'
        raise OptionError(f'option path.pretrain_network_g: {pretrained!r} is {kind}; expected a checkpoint file')
