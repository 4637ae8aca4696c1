"""The comparison file (``compare.yml``): reading, defaults, and checks that name the offending option."""
from __future__ import annotations

import copy
import difflib
import os
import re
from pathlib import Path
from typing import Any, Dict, Iterable, Mapping, NoReturn, Optional, Union

import torch
from basicsr.utils.registry import ARCH_REGISTRY, LOSS_REGISTRY, METRIC_REGISTRY

from mprnet_plugin.archs.descriptor import size_multiple_from_options
from mprnet_plugin.data.demo_data import build_demo_dataset
from mprnet_plugin.tools.compare.train_options import (LEGACY_ARCH_KEYS, LEGACY_LOADER_KEYS, CompareOptionError,
                                                       merge_train, option_float, rename_legacy_keys)
from mprnet_plugin.tools.compare.training import model_options
from mprnet_plugin.config.basicsr_schema import validate_basicsr_options
from mprnet_plugin.errors import OptionError
from mprnet_plugin.config.loader import load_option_file
from mprnet_plugin.config.custom_imports import CustomImportError, import_custom_modules
from mprnet_plugin.runtime.precision import PRECISIONS

PathLike = Union[str, os.PathLike]

# Defaults, as data. Sections the file leaves out, or keys a section leaves out, take these values.
DEFAULTS: Dict[str, Any] = {
    'device': 'auto',
    'seed': 0,
    'num_threads': None,
    'train': {  # BasicSR's train section, as MPRNetModel reads it; any other recipe key passes through
        'total_iter': 0,
        'pixel_opt': {'type': 'MPRNetLoss'},
        'optim_g': {'type': 'Adam', 'lr': 2e-4, 'betas': [0.9, 0.999], 'weight_decay': 0.0},
        'scheduler': {'type': 'LinearWarmupCosineLR', 'warmup_iter': 0, 'eta_min': 1e-6},
        'log_every': 50,
    },
    'metrics': {
        'psnr': {'type': 'calculate_psnr', 'crop_border': 0, 'test_y_channel': False},
        'ssim': {'type': 'calculate_ssim', 'crop_border': 0, 'test_y_channel': False},
    },
    'evaluation': {'tile': None, 'tile_overlap': 32, 'max_images': None, 'precision': 'fp32'},
    'profile': {'input_size': [256, 256], 'batch': 1, 'repeats': 5, 'warmup': 1},
    'grid': {'images': 3, 'crop_size': 96},
}
TRAIN_LOADER_DEFAULTS = {'batch_size_per_gpu': 4, 'num_worker_per_gpu': 0, 'use_hflip': True, 'use_rot': True}
# Every key the file may hold, by section; anything else is a typo, refused with the closest known key.
TOP_LEVEL_KEYS = (*DEFAULTS, 'name', 'output_dir', 'datasets', 'architectures', 'custom_imports', 'demo_data')
DATASET_PHASES = ('train', 'val')
ARCH_KEYS = ('name', 'network', 'train', 'total_iter', 'path', 'size_multiple', *LEGACY_ARCH_KEYS)


def slugify(name: str) -> str:
    """A file-system-safe folder name for an architecture entry."""
    slug = re.sub(r'[^A-Za-z0-9._-]+', '_', name).strip('_.')
    return slug or 'arch'


def _merge(defaults: Dict[str, Any], given: Optional[Dict[str, Any]], where: str) -> Dict[str, Any]:
    if given is None:
        return copy.deepcopy(defaults)
    if not isinstance(given, dict):
        raise CompareOptionError(f'{where}: expected a mapping, found {type(given).__name__} ({given!r})')
    merged = copy.deepcopy(defaults)
    merged.update(copy.deepcopy(given))
    return merged


def _refuse(where: str, value: Any, expected: str) -> NoReturn:
    """Raise the one-line error of the package's convention: ``<where>: <found>; expected <what>``."""
    raise CompareOptionError(f'{where}: {value!r}; expected {expected}')


def _positive_int(value: Any, where: str, allow_zero: bool = False) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < (0 if allow_zero else 1):
        _refuse(where, value, 'an integer >= 0' if allow_zero else 'an integer >= 1')
    return value


def _optional_positive_int(value: Any, where: str) -> Optional[int]:
    """``value`` when it is an integer >= 1, None for null; anything else is refused."""
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        _refuse(where, value, 'null or an integer >= 1')
    return value


def _check_keys(section: Mapping[str, Any], known: Iterable[str], source: str, path: str = '') -> None:
    """Refuse a key of the section at ``path`` ('' for the top level) that is not in ``known``, naming the closest."""
    known = list(known)
    for key in section:
        if key not in known:
            # A cutoff below difflib's 0.6, so that shortened names ('archs') find theirs too.
            close = difflib.get_close_matches(str(key), known, n=1, cutoff=0.5)
            hint = f' (did you mean {close[0]}?)' if close else ''
            raise CompareOptionError(f'{source}: {path + "." if path else ""}{key}: unknown option{hint}; '
                                     f'expected one of {", ".join(known)}')


def _check_registered(registry: Any, type_name: Any, where: str, what: str) -> None:
    if not isinstance(type_name, str) or not type_name:
        raise CompareOptionError(f'{where}.type: expected the registered name of a {what}, found {type_name!r}')
    if type_name not in registry and f'{type_name}_basicsr' not in registry:
        known = ', '.join(sorted(name for name, _ in registry))
        raise CompareOptionError(f'{where}.type: {type_name!r} is not in BasicSR\'s {registry._name} registry; '
                                 f'registered: {known}')


def _dataset_defaults(datasets: Any, phase: str, source: str) -> Optional[Dict[str, Any]]:
    """The dataset section of ``phase`` with BasicSR's names and the defaults; no file is looked at."""
    section = datasets.get(phase) if isinstance(datasets, dict) else None
    if section is None:
        return None
    where = f'{source}: datasets.{phase}'
    if not isinstance(section, dict):
        raise CompareOptionError(f'{where}: expected a mapping, found {section!r}')
    section = rename_legacy_keys(section, LEGACY_LOADER_KEYS, where)
    section.setdefault('name', f'compare_{phase}')
    section.setdefault('type', 'PairedImageDataset')
    section.setdefault('io_backend', {'type': 'disk'})
    section.setdefault('scale', 1)
    section['phase'] = phase
    if phase == 'train':
        for key, value in TRAIN_LOADER_DEFAULTS.items():
            section.setdefault(key, value)
    return section


def _dataset_section(datasets: Dict[str, Any], phase: str, source: str) -> Optional[Dict[str, Any]]:
    section = _dataset_defaults(datasets, phase, source)
    if section is None:
        return None
    where = f'{source}: datasets.{phase}'
    for key in ('dataroot_gt', 'dataroot_lq'):
        if key not in section:
            raise CompareOptionError(f'{where}.{key} is missing: the folder (or LMDB) of the '
                                     f'{"ground-truth" if key.endswith("gt") else "degraded"} images')
        path = Path(str(section[key])).expanduser()
        if not path.exists():
            raise CompareOptionError(f'{where}.{key}: {str(path)!r} does not exist')
        section[key] = str(path)
    if phase == 'train':
        if 'gt_size' not in section:
            raise CompareOptionError(f'{where}.gt_size is missing: the size of the training crops (e.g. 64)')
        _positive_int(section['gt_size'], f'{where}.gt_size')
        _positive_int(section['batch_size_per_gpu'], f'{where}.batch_size_per_gpu')
        _positive_int(section['num_worker_per_gpu'], f'{where}.num_worker_per_gpu', allow_zero=True)
    return section


def _architecture(entry: Any, index: int, train: Dict[str, Any], source: str) -> Dict[str, Any]:
    where = f'{source}: architectures[{index}]'
    if not isinstance(entry, dict):
        raise CompareOptionError(f'{where}: expected a mapping with name and network, found {entry!r}')
    if 'network' not in entry or not isinstance(entry['network'], dict):
        raise CompareOptionError(f'{where}.network is missing: a mapping with the registry type and its arguments, '
                                 'e.g. {type: MPRNet, preset: deraining}')
    _check_keys(entry, ARCH_KEYS, source, f'architectures[{index}]')
    if 'name' in entry and (isinstance(entry['name'], bool) or not isinstance(entry['name'], (str, int))):
        _refuse(f'{where}.name', entry['name'], 'a string')
    arch = rename_legacy_keys(entry, LEGACY_ARCH_KEYS, where)
    _check_registered(ARCH_REGISTRY, arch['network'].get('type'), f'{where}.network', 'network')
    arch.setdefault('name', arch['network']['type'])
    arch['slug'] = slugify(str(arch['name']))
    arch.setdefault('size_multiple', None)
    arch['train'] = merge_train(train, arch.get('train'), f'{where}.train')
    arch['total_iter'] = _positive_int(arch.get('total_iter', arch['train']['total_iter']), f'{where}.total_iter',
                                       allow_zero=True)
    arch['train']['total_iter'] = arch['total_iter']
    pixel_opt = arch['train'].get('pixel_opt')
    if not isinstance(pixel_opt, dict):
        raise CompareOptionError(f'{where}.train.pixel_opt: expected a mapping with a loss type, found {pixel_opt!r}')
    _check_registered(LOSS_REGISTRY, pixel_opt.get('type'), f'{where}.train.pixel_opt', 'loss')
    path = arch.get('path') or {}
    if not isinstance(path, dict):
        raise CompareOptionError(f'{where}.path: expected a mapping (pretrain_network_g, ...), found {path!r}')
    unknown = sorted(set(path) - {'pretrain_network_g', 'param_key_g', 'strict_load_g'})
    if unknown:
        raise CompareOptionError(f'{where}.path: unknown key(s) {unknown}; expected pretrain_network_g, param_key_g, '
                                 'strict_load_g')
    path = {'pretrain_network_g': path.get('pretrain_network_g'), 'param_key_g': path.get('param_key_g'),
            'strict_load_g': path.get('strict_load_g', True)}
    if path['pretrain_network_g'] is not None:
        weights = Path(str(path['pretrain_network_g'])).expanduser()
        if not weights.is_file():
            raise CompareOptionError(f'{where}.path.pretrain_network_g: {str(weights)!r} does not exist')
        path['pretrain_network_g'] = str(weights)
    arch['path'] = path
    if arch['size_multiple'] is not None:
        _positive_int(arch['size_multiple'], f'{where}.size_multiple')
    return arch


def _check_evaluation(evaluation: Dict[str, Any], source: str) -> None:
    """``evaluation``: tile null (or 0, whole images) or a size above tile_overlap >= 0; max_images null or >= 1."""
    where = f'{source}: evaluation'
    tile = evaluation['tile']
    if tile == 0 and not isinstance(tile, bool):
        tile = evaluation['tile'] = None  # 0 has always meant whole images, as null does
    tile = _optional_positive_int(tile, f'{where}.tile')
    overlap = _positive_int(evaluation['tile_overlap'], f'{where}.tile_overlap', allow_zero=True)
    if tile is not None and overlap >= tile:
        _refuse(f'{where}.tile_overlap', overlap, f'below evaluation.tile ({tile})')
    _optional_positive_int(evaluation['max_images'], f'{where}.max_images')


def _check_sizes_fit(out: Dict[str, Any], arch: Dict[str, Any], index: int, source: str) -> None:
    """evaluation.tile and profile.input_size must be multiples of the architecture's input size multiple."""
    multiple = arch['size_multiple']
    if multiple is None:
        try:
            multiple = size_multiple_from_options(arch['network'])
        except (TypeError, ValueError, KeyError):
            return  # arguments its descriptor cannot read: building the network names the problem
    whose = f'the size multiple of architectures[{index}] {arch["name"]!r}'
    tile = out['evaluation']['tile']
    if tile is not None and tile % multiple:
        _refuse(f'{source}: evaluation.tile', tile, f'a multiple of {multiple} ({whose})')
    size = out['profile']['input_size']
    if any(side % multiple for side in size):
        _refuse(f'{source}: profile.input_size', size, f'[height, width], multiples of {multiple} ({whose})')


def _check_recipe(arch: Dict[str, Any], index: int, train_set: Optional[Dict[str, Any]], source: str) -> None:
    """An entry that trains: the BasicSR options ``MPRNetModel`` will get pass the declared schema (network arguments,
    loss, optimizer and scheduler types and ranges, the rules between them), before any entry trains."""
    if arch['total_iter'] == 0 or train_set is None:
        return  # evaluation only (pretrained weights), or no training set: reported below
    recipe = model_options(arch, torch.device('cpu'), '.')
    for key in ('is_train', 'dist', 'rank', 'world_size'):  # set by the launcher, not by option files
        recipe.pop(key)
    recipe['path'] = dict(arch['path'])
    recipe['datasets'] = {'train': copy.deepcopy(train_set)}
    # The comparison logs and saves on its own: these only stand in for what a BasicSR option file must hold.
    recipe['logger'] = {'print_freq': 1, 'save_checkpoint_freq': arch['total_iter'], 'use_tb_logger': False}
    try:
        validate_basicsr_options(recipe, testing=False, source=source)
    except OptionError as exc:
        raise CompareOptionError(f'{source}: architectures[{index}] {arch["name"]!r}: {exc}') from None


def build_demo_data(spec: Any, source: str) -> None:
    """Build the built-in demo deblurring set that ``demo_data: {root: ..., ...}`` asks for (kept if complete)."""
    if not isinstance(spec, dict) or 'root' not in spec:
        raise CompareOptionError(f'{source}: demo_data: expected a mapping with root (and optionally the arguments '
                                 f'of build_demo_dataset), found {spec!r}')
    try:
        build_demo_dataset(**spec)
    except (TypeError, OptionError) as exc:  # an unknown argument, or one out of its range (the LMDB writer's)
        raise CompareOptionError(f'{source}: demo_data: {exc}') from exc


def parse_compare_options(opt: Dict[str, Any], source: str = '<options>') -> Dict[str, Any]:
    """Fill in defaults and check a comparison config given as a dict; errors name ``source`` and the option."""
    if not isinstance(opt, dict):
        raise CompareOptionError(f'{source}: expected a mapping at the top level, found {type(opt).__name__}')
    _check_keys(opt, TOP_LEVEL_KEYS, source)
    for section in ('evaluation', 'profile', 'grid'):
        if isinstance(opt.get(section), dict):
            _check_keys(opt[section], DEFAULTS[section], source, section)
    if isinstance(opt.get('datasets'), dict):
        _check_keys(opt['datasets'], DATASET_PHASES, source, 'datasets')
    out: Dict[str, Any] = {k: copy.deepcopy(opt.get(k, v)) for k, v in DEFAULTS.items()
                           if not isinstance(v, dict)}
    try:  # before anything is looked up in a registry: these modules register networks, losses, metrics
        out['custom_imports'] = import_custom_modules(opt.get('custom_imports'), f'{source}: custom_imports')
    except CustomImportError as exc:
        raise CompareOptionError(str(exc)) from None
    out['train'] = merge_train(DEFAULTS['train'], opt.get('train'), f'{source}: train')
    for section in ('evaluation', 'profile', 'grid'):
        out[section] = _merge(DEFAULTS[section], opt.get(section), f'{source}: {section}')
    out['metrics'] = copy.deepcopy(opt['metrics']) if opt.get('metrics') else copy.deepcopy(DEFAULTS['metrics'])
    out['name'] = str(opt.get('name') or Path(source).stem)
    out['output_dir'] = str(opt.get('output_dir') or Path('results') / 'compare' / slugify(out['name']))
    out['source'] = source

    if not isinstance(out['metrics'], dict):
        _refuse(f'{source}: metrics', out['metrics'], 'a mapping of metric names to {type, ...}')
    for key, metric in out['metrics'].items():
        if not isinstance(metric, dict):
            raise CompareOptionError(f'{source}: metrics.{key}: expected a mapping with a type, found {metric!r}')
        _check_registered(METRIC_REGISTRY, metric.get('type'), f'{source}: metrics.{key}', 'metric')
        if 'crop_border' in metric:
            _positive_int(metric['crop_border'], f'{source}: metrics.{key}.crop_border', allow_zero=True)

    if not isinstance(out['device'], str) or (out['device'] not in ('auto', 'cpu', 'cuda')
                                              and not re.fullmatch(r'cuda:\d+', out['device'])):
        _refuse(f'{source}: device', out['device'], 'auto, cpu, cuda or cuda:N')
    _positive_int(out['seed'], f'{source}: seed', allow_zero=True)
    _optional_positive_int(out['num_threads'], f'{source}: num_threads')
    for key in ('name', 'output_dir'):
        if opt.get(key) is not None and (isinstance(opt[key], bool) or not isinstance(opt[key], (str, int))):
            _refuse(f'{source}: {key}', opt[key], 'a string')
    _positive_int(out['train']['total_iter'], f'{source}: train.total_iter', allow_zero=True)
    _positive_int(out['train']['log_every'], f'{source}: train.log_every')
    optim_g = out['train'].get('optim_g')
    if not isinstance(optim_g, dict) or 'type' not in optim_g or 'lr' not in optim_g:
        raise CompareOptionError(f'{source}: train.optim_g: expected a mapping with type and lr, found {optim_g!r}')
    optim_g['lr'] = option_float(optim_g['lr'], f'{source}: train.optim_g.lr')
    if out['evaluation']['precision'] not in PRECISIONS:
        raise CompareOptionError(f"{source}: evaluation.precision: expected one of {list(PRECISIONS)} (bf16: CUDA or "
                                 f"the CPU; fp16: CUDA only), found {out['evaluation']['precision']!r}")
    size = out['profile']['input_size']
    if isinstance(size, int):
        size = [size, size]
    if not (isinstance(size, (list, tuple)) and len(size) == 2):
        raise CompareOptionError(f'{source}: profile.input_size: expected [height, width], found {size!r}')
    out['profile']['input_size'] = [_positive_int(s, f'{source}: profile.input_size') for s in size]
    _positive_int(out['profile']['batch'], f'{source}: profile.batch')
    _positive_int(out['profile']['repeats'], f'{source}: profile.repeats')
    _positive_int(out['profile']['warmup'], f'{source}: profile.warmup', allow_zero=True)
    _positive_int(out['grid']['crop_size'], f'{source}: grid.crop_size')
    _positive_int(out['grid']['images'], f'{source}: grid.images', allow_zero=True)
    _check_evaluation(out['evaluation'], source)

    archs = opt.get('architectures')
    if not isinstance(archs, list) or not archs:
        raise CompareOptionError(f'{source}: architectures: expected a non-empty list of '
                                 '{name, network: {type, ...}} entries')
    out['architectures'] = [_architecture(a, i, out['train'], source) for i, a in enumerate(archs)]
    slugs = [a['slug'] for a in out['architectures']]
    duplicates = sorted({s for s in slugs if slugs.count(s) > 1})
    if duplicates:
        raise CompareOptionError(f'{source}: architectures: names must be distinct; repeated: {duplicates}')

    train_set = _dataset_defaults(opt.get('datasets'), 'train', source)
    for index, arch in enumerate(out['architectures']):
        _check_sizes_fit(out, arch, index, source)
        _check_recipe(arch, index, train_set, source)

    # Only now, with every other value checked, is anything built or any folder looked at.
    out['demo_data'] = copy.deepcopy(opt.get('demo_data'))
    if out['demo_data'] is not None:
        build_demo_data(out['demo_data'], source)
    datasets = opt.get('datasets')
    if not isinstance(datasets, dict) or 'val' not in datasets:
        raise CompareOptionError(f'{source}: datasets.val is missing: the paired images every architecture is '
                                 'evaluated on (dataroot_gt, dataroot_lq)')
    out['datasets'] = {'val': _dataset_section(datasets, 'val', source)}
    needs_training = any(a['total_iter'] > 0 for a in out['architectures'])
    out['datasets']['train'] = _dataset_section(datasets, 'train', source)
    if needs_training and out['datasets']['train'] is None:
        raise CompareOptionError(f'{source}: datasets.train is missing, but the iteration budget is above 0 '
                                 '(set train.total_iter: 0 and give pretrain_network to only evaluate)')
    return out


def load_compare_options(path: PathLike, overrides: Optional[Dict[str, Any]] = None,
                         total_iter: Optional[int] = None) -> Dict[str, Any]:
    """Read ``compare.yml`` at ``path``, apply ``overrides`` (top-level or ``section.key`` names), and check it.

    ``total_iter`` replaces the iteration budget everywhere, including entries that set their own.
    """
    path = Path(path)
    opt = load_option_file(path, 'comparison file')
    for dotted, value in (overrides or {}).items():
        apply_override(opt, dotted, value)
    if total_iter is not None:
        opt.setdefault('train', {})['total_iter'] = total_iter
        for entry in opt.get('architectures') or []:
            if isinstance(entry, dict):
                entry['total_iter'] = total_iter
    try:
        return parse_compare_options(opt, str(path))
    except CompareOptionError as exc:
        # A value that came from --set is checked like the file's own; say where it came from.
        for dotted, value in (overrides or {}).items():
            if f': {dotted}' in str(exc):
                raise CompareOptionError(f'{exc} (set by --set {dotted}={value!r})') from None
        raise


def apply_override(opt: Dict[str, Any], dotted: str, value: Any) -> None:
    """Set ``section.key`` (any depth of mappings) in ``opt`` to ``value``; a path through a non-mapping is refused."""
    *parents, last = dotted.split('.')
    if not all(parents) or not last:
        raise CompareOptionError(f'--set {dotted}: expected KEY or SECTION.KEY (dot-separated names)')
    target = opt
    for depth, key in enumerate(parents):
        if target.get(key) is None:
            target[key] = {}
        target = target[key]
        if not isinstance(target, dict):
            where = '.'.join(parents[:depth + 1])
            raise CompareOptionError(f'--set {dotted}: {where} is {type(target).__name__} {target!r}, not a mapping; '
                                     'expected a key of a section')
    target[last] = value

