"""Rules of a BasicSR option file beyond single values: keys a run needs, registered types, and rules between keys.

Each rule raises ``OptionError`` (``<path>: <found>; expected <what>``) or returns warning lines. They read the raw
option dict (what the user wrote, ``--force_yml`` applied) and need no files, networks or processes.
"""
from __future__ import annotations

import inspect
from typing import Any, Dict, List, Mapping, Optional

import torch

from mprnet_plugin.archs.descriptor import DEFAULT_SIZE_MULTIPLE, descriptor_for, size_multiple_from_options
from mprnet_plugin.config.basicsr_sections import STRAY_TOP_LEVEL_KEYS
from mprnet_plugin.errors import OptionError
from mprnet_plugin.config.option_types import describe, did_you_mean
from mprnet_plugin.config import registered_types as types
from mprnet_plugin.runtime.precision import AMP_OFF, CPU_AMP_PRECISIONS, EMULATED_BF16_WARNING, cpu_has_native_bf16

LOSS_SECTION_SUFFIX = '_opt'
# BasicSR's train pipeline accepts these phases (the part before '_'); test_pipeline runs every section.
TRAIN_PHASES = ('train', 'val')
# Schedulers whose eta_min is the learning rate they anneal to.
ANNEALING_SCHEDULERS = ('CosineAnnealingRestartLR', 'LinearWarmupCosineLR')


def section(opt: Mapping[str, Any], *keys: str) -> Mapping[str, Any]:
    """The mapping at ``keys`` (empty when absent or not a mapping)."""
    current: Any = opt
    for key in keys:
        current = current.get(key) if isinstance(current, Mapping) else None
    return current if isinstance(current, Mapping) else {}


def require(opt: Mapping[str, Any], path: str, expected: str) -> Any:
    """The value at dotted ``path``; ``OptionError`` when it is absent."""
    *parents, key = path.split('.')
    holder = section(opt, *parents)
    if key not in holder:
        raise OptionError(f'{path}: missing; expected {expected}')
    return holder[key]


def check_required(opt: Mapping[str, Any], testing: bool, package_model: bool) -> None:
    """The keys BasicSR (and MPRNetModel) index directly for this kind of run."""
    require(opt, 'name', 'the run name (text)')
    require(opt, 'model_type', 'a registered model, e.g. MPRNetModel')
    require(opt, 'num_gpu', "the number of GPUs (0 for the CPU, or 'auto')")
    require(opt, 'network_g', 'a network section {type: ..., its arguments}')
    require(opt, 'network_g.type', 'a registered network, e.g. MPRNet')
    require(opt, 'path', 'a path section (pretrain_network_g, ...)')
    datasets = section(opt, 'datasets')
    if not datasets:
        raise OptionError(f'datasets: {describe(opt.get("datasets"))}; expected a mapping of dataset sections '
                          '(train, val, test_1, ...)')
    for phase in datasets:
        require(opt, f'datasets.{phase}.name', 'the name of the set (text)')
        require(opt, f'datasets.{phase}.type', 'a registered dataset, e.g. PairedImageDataset')
    if testing:
        require(opt, 'val', 'a val section (save_img, metrics, ...) for the test run')
        require(opt, 'val.save_img', 'true or false')
        return
    for phase in datasets:
        if str(phase).split('_')[0] not in TRAIN_PHASES:
            raise OptionError(f'datasets.{phase}: a {str(phase).split("_")[0]!r} phase in a training file; expected '
                              'train, val or val_<N> (BasicSR\'s train pipeline refuses other phases)')
    require(opt, 'datasets.train', 'a train dataset section to train on')
    require(opt, 'datasets.train.batch_size_per_gpu', 'an integer >= 1')
    require(opt, 'datasets.train.num_worker_per_gpu', 'an integer >= 0')
    require(opt, 'train', 'a train section')
    require(opt, 'train.total_iter', 'the number of training iterations')
    require(opt, 'train.optim_g', 'an optimizer section {type: Adam, lr: 2.0e-4}')
    require(opt, 'train.optim_g.type', 'an optimizer name, e.g. Adam')
    require(opt, 'train.optim_g.lr', 'the learning rate (a number >= 0)')
    if not package_model:
        require(opt, 'train.scheduler', "a scheduler section (BasicSR's models always build one)")
    # scheduler: null is a constant rate to MPRNetModel, as an absent scheduler is.
    if section(opt, 'train').get('scheduler') is not None:
        require(opt, 'train.scheduler.type', 'a scheduler name')
    require(opt, 'logger', 'a logger section')
    for key, expected in (('print_freq', 'a whole number > 0'), ('save_checkpoint_freq', 'a whole number > 0'),
                          ('use_tb_logger', 'true or false')):
        require(opt, f'logger.{key}', expected)
    if opt.get('val') is not None:
        require(opt, 'val.val_freq', 'a whole number > 0 (validate every this many iterations)')
        require(opt, 'val.save_img', 'true or false')


def loss_sections(opt: Mapping[str, Any]) -> Dict[str, Mapping[str, Any]]:
    """``{train.<name>_opt: section}`` for every loss section the train section has (null ones left out)."""
    return {f'train.{key}': value for key, value in section(opt, 'train').items()
            if str(key).endswith(LOSS_SECTION_SUFFIX) and isinstance(value, Mapping)}


def _arguments(options: Mapping[str, Any], *skip: str) -> Dict[str, Any]:
    return {k: v for k, v in options.items() if k not in ('type', *skip)}


def check_types_and_arguments(opt: Mapping[str, Any], testing: bool, package_model: bool) -> List[str]:
    """Every ``type`` is registered (or accepted by the model), and every constructor gets arguments it takes."""
    warnings: List[str] = []
    types.registered('model', opt['model_type'], 'model_type')
    for name in ('network_g', 'network_d'):
        network_opt = section(opt, name)
        if not network_opt:
            continue
        network = types.registered('network', require(opt, f'{name}.type', 'a registered network'), f'{name}.type')
        arguments = _arguments(network_opt)
        warnings += types.check_arguments(network, arguments, name, 'network')
        types.check_network_values(network, arguments, name)
    for phase, dataset in section(opt, 'datasets').items():
        types.registered('dataset', dataset['type'], f'datasets.{phase}.type')
    for path, loss_opt in loss_sections(opt).items():
        loss = types.registered('loss', require(opt, f'{path}.type', 'a registered loss'), f'{path}.type')
        warnings += types.check_arguments(loss, _arguments(loss_opt), path, 'loss')
    for name, metric_opt in section(opt, 'val', 'metrics').items():
        path = f'val.metrics.{name}'
        if not isinstance(metric_opt, Mapping):
            continue
        metric = types.registered('metric', require(opt, f'{path}.type', 'a registered metric'), f'{path}.type')
        # BasicSR reads 'better' itself; the images are the data, not options.
        warnings += types.check_arguments(metric, _arguments(metric_opt, 'better'), path, 'metric',
                                          provided=('img', 'img2'))
    if not testing:
        warnings += _check_optimizers(opt, package_model)
        warnings += _check_scheduler(opt, package_model)
    return warnings


def _check_optimizers(opt: Mapping[str, Any], package_model: bool) -> List[str]:
    warnings: List[str] = []
    optimizers = types.accepted_optimizers(package_model)
    what = 'optimizer of ' + ('MPRNetModel' if package_model else "BasicSR's models")
    for name in ('optim_g', 'optim_d'):
        optim_opt = section(opt, 'train', name)
        if not optim_opt:
            continue
        optimizer = types.accepted(f'train.{name}.type', optim_opt.get('type'), optimizers, what)
        warnings += types.check_arguments(optimizer, _arguments(optim_opt), f'train.{name}', 'optimizer')
    return warnings


def _check_scheduler(opt: Mapping[str, Any], package_model: bool) -> List[str]:
    scheduler_opt = section(opt, 'train', 'scheduler')
    if not scheduler_opt:
        return []
    what = 'scheduler of ' + ('MPRNetModel' if package_model else "BasicSR's models")
    scheduler = types.accepted('train.scheduler.type', scheduler_opt.get('type'),
                               types.accepted_schedulers(package_model), what)
    # MPRNetModel's builder fills LinearWarmupCosineLR's total_iter from train.total_iter.
    provided = ('total_iter',) if package_model else ()
    return types.check_arguments(scheduler, _arguments(scheduler_opt), 'train.scheduler', 'scheduler', provided)


def _number(value: Any) -> Optional[float]:
    return value if isinstance(value, (int, float)) and not isinstance(value, bool) else None


def check_schedule(opt: Mapping[str, Any]) -> List[str]:
    """eta_min at most the lr, warm-ups shorter than the run, restart lists that match and cover the run."""
    train = section(opt, 'train')
    total_iter = _number(train.get('total_iter'))
    warmup = _number(train.get('warmup_iter'))
    if warmup is not None and warmup > 0 and total_iter is not None and warmup >= total_iter:
        raise OptionError(f'train.warmup_iter: {warmup} is not below train.total_iter {total_iter}; expected -1 '
                          '(off) or fewer iterations than the run')
    scheduler = section(opt, 'train', 'scheduler')
    kind = scheduler.get('type')
    lr = _number(section(opt, 'train', 'optim_g').get('lr'))
    eta_min = _number(scheduler.get('eta_min'))
    if kind in ANNEALING_SCHEDULERS and eta_min is not None and lr is not None and eta_min > lr:
        raise OptionError(f'train.scheduler.eta_min: {eta_min} is above train.optim_g.lr {lr}; expected at most the '
                          'learning rate')
    warnings: List[str] = []
    if kind == 'CosineAnnealingRestartLR' and isinstance(scheduler.get('periods'), list):
        warnings += _check_cosine_periods(scheduler, total_iter)
    if kind in ('MultiStepLR', 'MultiStepRestartLR'):
        restarts, weights = scheduler.get('restarts', [0]), scheduler.get('restart_weights', [1])
        if isinstance(restarts, list) and isinstance(weights, list) and len(restarts) != len(weights):
            raise OptionError(f'train.scheduler.restart_weights: {len(weights)} weight(s) for {len(restarts)} '
                              'restart(s); expected one weight per restart')
    if kind == 'LinearWarmupCosineLR':
        schedule_total = _number(scheduler.get('total_iter', total_iter))
        schedule_warmup = _number(scheduler.get('warmup_iter', 0))
        if schedule_total is not None and schedule_warmup is not None and schedule_warmup >= schedule_total:
            raise OptionError(f'train.scheduler.warmup_iter: {schedule_warmup} is not below the schedule\'s total '
                              f'{schedule_total}; expected fewer warm-up iterations than the schedule')
        if warmup is not None and warmup > 0:
            raise OptionError(f'train.warmup_iter: {warmup} with LinearWarmupCosineLR, which warms up itself; '
                              'expected -1 (set train.scheduler.warmup_iter instead)')
    return warnings


def _check_cosine_periods(scheduler: Mapping[str, Any], total_iter: Optional[float]) -> List[str]:
    periods = scheduler['periods']
    weights = scheduler.get('restart_weights', [1])
    if isinstance(weights, list) and len(weights) != len(periods):
        raise OptionError(f'train.scheduler.restart_weights: {len(weights)} weight(s) for {len(periods)} period(s); '
                          'expected as many as train.scheduler.periods')
    covered = sum(periods)
    if total_iter is None or covered == total_iter:
        return []
    if covered < total_iter:
        # BasicSR's CosineAnnealingRestartLR raises once the iteration passes the last period.
        raise OptionError(f'train.scheduler.periods: sum {covered} is below train.total_iter {total_iter}; expected '
                          'periods summing to train.total_iter (the schedule fails past its last period)')
    return [f'train.scheduler.periods: sum {covered} is above train.total_iter {total_iter}: the run stops before '
            'the schedule ends']


def check_training_recipe(opt: Mapping[str, Any], package_model: bool) -> List[str]:
    """Batch splitting, crop sizes, prefetching, mixed precision, compilation and logging rules of a training run."""
    train, train_set = section(opt, 'train'), section(opt, 'datasets', 'train')
    batch = train_set.get('batch_size_per_gpu')
    accumulation = train.get('grad_accumulation')
    if isinstance(accumulation, int) and isinstance(batch, int) and accumulation >= 1 and batch % accumulation:
        raise OptionError(f'train.grad_accumulation: {accumulation} does not divide datasets.train.'
                          f'batch_size_per_gpu {batch}; expected a divisor of the batch size')
    if train_set.get('prefetch_mode') == 'cuda' and train_set.get('pin_memory') is not True:
        raise OptionError(f'datasets.train.pin_memory: {describe(train_set.get("pin_memory"))} with prefetch_mode: '
                          'cuda; expected true (BasicSR refuses CUDA prefetching without pinned memory)')
    wandb = section(opt, 'logger', 'wandb')
    if wandb.get('project') is not None and section(opt, 'logger').get('use_tb_logger') is not True \
            and 'debug' not in str(opt.get('name')):
        raise OptionError('logger.use_tb_logger: not true with logger.wandb.project set; expected true (BasicSR '
                          'syncs W&B from the TensorBoard logs)')
    if not package_model:
        return []
    _check_crop_size(opt, train_set)
    warnings = _check_amp(opt, train)
    if train.get('perceptual_opt'):
        raise OptionError('train.perceptual_opt: set for MPRNetModel; expected none (MPRNetModel trains with '
                          'train.pixel_opt only)')
    compile_opt = train.get('compile')
    if isinstance(compile_opt, Mapping):
        known = [n for n in inspect.signature(torch.compile).parameters if n != 'model']
        for key in compile_opt:
            if key not in known:
                raise OptionError(f'train.compile.{key}: unknown argument of torch.compile{did_you_mean(key, known)}; '
                                  f'expected one of {", ".join(known)}')
    jitter_range = section(opt, 'train', 'saturation_jitter').get('range')
    if isinstance(jitter_range, list) and len(jitter_range) == 2 and jitter_range[0] > jitter_range[1]:
        raise OptionError(f'train.saturation_jitter.range: {jitter_range}; expected [low, high] with low <= high')
    return warnings


def _check_amp(opt: Mapping[str, Any], train: Mapping[str, Any]) -> List[str]:
    # On the CPU (num_gpu: 0) bf16 autocast trains; fp16 is CUDA-only (it needs a grad scaler and is slow on a CPU).
    amp = train.get('amp')
    if amp in AMP_OFF or opt.get('num_gpu') != 0:
        return []
    if amp not in CPU_AMP_PRECISIONS:
        raise OptionError(f'train.amp: {describe(amp)} with num_gpu: 0; expected bf16 or none on the CPU (fp16 '
                          'mixed precision needs CUDA)')
    return [] if cpu_has_native_bf16() else [f'train.amp: {EMULATED_BF16_WARNING}']


def _network_multiple(opt: Mapping[str, Any]) -> Optional[int]:
    """The size multiple of the network ``network_g`` builds: its descriptor's, else its class attribute, else None."""
    network_opt = section(opt, 'network_g')
    if descriptor_for(str(network_opt.get('type'))) is not None:
        return size_multiple_from_options(network_opt)
    return types.network_size_multiple(types.registered('network', network_opt.get('type'), 'network_g.type'))


def _check_crop_size(opt: Mapping[str, Any], train_set: Mapping[str, Any]) -> None:
    # MPRNetModel feeds the training crops to the network unpadded, so they must fit its down-sampling.
    gt_size, multiple = train_set.get('gt_size'), _network_multiple(opt)
    if isinstance(gt_size, int) and multiple and gt_size % multiple:
        raise OptionError(f'datasets.train.gt_size: {gt_size} is not a multiple of {multiple}; expected a multiple '
                          f'of network_g ({section(opt, "network_g").get("type")}) size multiple {multiple}')


def check_validation(opt: Mapping[str, Any], testing: bool, package_model: bool) -> List[str]:
    """Tiles that fit the network, the suffix BasicSR's models index, the weights a test run needs."""
    val = section(opt, 'val')
    tile = val.get('tile')
    if package_model and tile not in (None, False):
        size = tile if isinstance(tile, int) else section(val, 'tile').get('size')
        overlap = section(val, 'tile').get('overlap', 32)
        # Tiles reach the network unpadded: they must fit the down-sampling of the network that will run.
        multiple = _network_multiple(opt) or DEFAULT_SIZE_MULTIPLE
        if isinstance(size, int) and size % multiple:
            where = 'val.tile' if isinstance(tile, int) else 'val.tile.size'
            raise OptionError(f'{where}: {size}; expected a positive multiple of {multiple} (the size multiple of '
                              f'network_g {section(opt, "network_g").get("type")})')
        if isinstance(size, int) and isinstance(overlap, int) and overlap >= size:
            raise OptionError(f'val.tile.overlap: {overlap} is not below val.tile.size {size}; expected an overlap '
                              'in [0, size)')
    if not testing:
        return []
    if not package_model and val.get('save_img') is True and 'suffix' not in val:
        raise OptionError('val.suffix: missing with save_img: true; expected a suffix or null (BasicSR\'s models '
                          'read val.suffix when saving test images)')
    path = section(opt, 'path')
    if path.get('pretrain_network_g') is None and path.get('allow_random_weights') is not True:
        raise OptionError('path.pretrain_network_g: null; expected the checkpoint to test (or set '
                          'path.allow_random_weights: true if random weights are meant)')
    return []


def stray_key_warnings(opt: Mapping[str, Any]) -> List[str]:
    """Warnings for top-level keys old BasicSR files carry where nothing reads them."""
    return [f'{key}: not read at the top level; BasicSR reads {where}' for key, where in STRAY_TOP_LEVEL_KEYS.items()
            if key in opt]


def run_rules(opt: Mapping[str, Any], testing: bool, package_model: bool) -> List[str]:
    """Every rule of this module in order; the first problem raises, the warnings are returned."""
    check_required(opt, testing, package_model)
    warnings: List[str] = stray_key_warnings(opt)
    warnings += check_types_and_arguments(opt, testing, package_model)
    if not testing:
        warnings += check_schedule(opt)
        warnings += check_training_recipe(opt, package_model)
    warnings += check_validation(opt, testing, package_model)
    return warnings

