"""``mprnet-memory``: the peak memory of one real training step of an option file, and what fits a GPU.

    mprnet-memory -opt options/train/MPRNet_GoPro_1GPU.yml
    mprnet-memory -opt options/train/MPRNet_GoPro.yml --gpu-memory 24 --batch 1

It runs one step (one micro-batch's forward, loss on every stage output and backward, then the optimizer step) of
the file's network_g, train.pixel_opt and train.optim_g at its gt_size and batch, prints the measured peak, and with
``--gpu-memory`` measures batch-1 steps at each grad_checkpointing level (and bf16 on CUDA) to derive which settings
train the total batch in that memory. It writes nothing to disk.
"""
from __future__ import annotations

import argparse
import math
import sys
from pathlib import Path
from typing import Dict, List, Optional, Sequence, Tuple

import torch

from mprnet_plugin.cli.common import UsageError, add_version, run_tool
from mprnet_plugin.archs.grad_checkpointing import parse_grad_checkpointing
from mprnet_plugin.config.basicsr_checks import LauncherArguments, options_as_basicsr_reads
from mprnet_plugin.config.basicsr_schema import validate_basicsr_options
from mprnet_plugin.runtime.devices import resolve_device
from mprnet_plugin.tools.train_memory import (GIB, LEVELS, PAPER_TOTAL_BATCH, USABLE_FRACTION, Plan, StepMeasurement,
                                        TrainSettings, build_network, build_pixel_loss, measure_training_step,
                                        plan_fits, read_train_settings)


def parse_args(argv: Optional[Sequence[str]] = None) -> argparse.Namespace:
    """The command line of ``mprnet-memory``."""
    parser = argparse.ArgumentParser(prog='mprnet-memory', description=(
        'Measure the peak memory of one training step of a BasicSR training option file, and with --gpu-memory '
        'which grad_checkpointing / grad_accumulation / amp settings fit a GPU. Writes nothing to disk.'))
    parser.add_argument('-opt', required=True, help='BasicSR training option file (.yml)')
    parser.add_argument('--device', choices=('auto', 'cpu', 'cuda'), default='auto',
                        help='where to run the step (auto: CUDA when available)')
    parser.add_argument('--gpu-memory', type=float, default=None, metavar='GIB',
                        help='memory of the target GPU in GiB (a "24 GB" card has 24 GiB): print what fits')
    parser.add_argument('--batch', type=int, default=None, metavar='N',
                        help='batch per GPU instead of the file\'s datasets.train.batch_size_per_gpu')
    parser.add_argument('--total-batch', type=int, default=PAPER_TOTAL_BATCH, metavar='N',
                        help=f'total batch the --gpu-memory plans train (default {PAPER_TOTAL_BATCH}, the paper\'s)')
    add_version(parser)
    args = parser.parse_args(argv)
    if args.gpu_memory is not None and (not math.isfinite(args.gpu_memory) or args.gpu_memory <= 0):
        parser.error(f'--gpu-memory must be a finite positive number of GiB; got {args.gpu_memory:g}')
    if args.batch is not None and args.batch < 1:
        parser.error(f'--batch must be a positive integer; got {args.batch}')
    if args.total_batch < 1:
        parser.error(f'--total-batch must be a positive integer; got {args.total_batch}')
    return args


def _gib(nbytes: float) -> str:
    return f'{nbytes / GIB:.2f} GiB' if nbytes >= GIB else f'{nbytes / 2 ** 20:.1f} MiB'


def _level_name(level: Optional[str]) -> str:
    return 'false' if level is None else level


def _measure(settings: TrainSettings, level: Optional[str], micro_batch: int, device: torch.device,
             amp: Optional[str]) -> StepMeasurement:
    torch.manual_seed(0)
    net = build_network(settings.network_g, grad_checkpointing=level or False)
    loss = build_pixel_loss(settings.pixel_opt)
    return measure_training_step(net, loss, settings.optim_g, micro_batch, settings.gt_size, device, amp)


def _report_step(m: StepMeasurement, device: torch.device) -> None:
    how = 'torch.cuda.max_memory_allocated' if device.type == 'cuda' else 'live tensors from allocation events'
    print(f'  peak tensor memory of a step: {_gib(m.step_peak_bytes)} (measured: {how})')
    print(f'    forward + loss + backward: {_gib(m.peak_bytes)}, including weights {_gib(m.parameter_bytes)} and '
          f'optimizer state {_gib(m.optimizer_state_bytes)}; optimizer step: {_gib(m.optimizer_peak_bytes)}')
    print(f'  step time: {m.seconds:.2f} s (one run, with its warm-up: indicative only)')


def _print_plans(measured: Dict[Tuple[Optional[str], Optional[str]], StepMeasurement], total_batch: int,
                 gpu_memory: float, device: torch.device) -> None:
    print(f'\nper sample at batch 1 (measured, {device.type}):')
    print('  grad_checkpointing  amp   per sample   step peak    step time')
    for (level, amp), m in measured.items():
        print(f'  {_level_name(level):<18}  {amp or "none":<4}  {_gib(m.per_sample_bytes):>10}  '
              f'{_gib(m.step_peak_bytes):>10}  {m.seconds:8.2f} s')
    plans: List[Plan] = plan_fits(measured, total_batch, int(gpu_memory * GIB), rank_by_time=device.type == 'cuda')
    print(f'\nwhat trains a total batch of {total_batch} in {gpu_memory:g} GiB (derived: weights + optimizer state + '
          f'micro-batch x per sample, within {USABLE_FRACTION:.0%} of the memory):')
    if not plans:
        print('  nothing fits: use a smaller gt_size or total batch, or a GPU with more memory')
        return
    print('  grad_checkpointing  amp   grad_accumulation  batch_size_per_gpu  need')
    for p in plans:
        print(f'  {_level_name(p.level):<18}  {p.amp or "none":<4}  {p.accumulation:>17}  {total_batch:>18}  '
              f'{_gib(p.need_bytes)}')
    best = plans[0]
    print(f'\nrecommended: network_g.grad_checkpointing: {_level_name(best.level)}, datasets.train.batch_size_per_gpu: '
          f'{total_batch}, train.grad_accumulation: {best.accumulation}, train.amp: {best.amp or "none"}')
    if device.type != 'cuda':
        print('  (train.amp is CUDA-only and was not measured here: bf16 activations take about half the fp32 memory, '
              'so a plan that fits in fp32 is expected to fit with train.amp: bf16 too; run on a GPU to measure it)')


class StepTooLarge(Exception):
    """The step does not fit in the device's memory: the tool's answer (exit status 1), not a crash."""


def read_settings(args: argparse.Namespace) -> Tuple[TrainSettings, Optional[str]]:
    """The option file through the declared schema, then what a step needs; ``UsageError`` names the option."""
    opt = options_as_basicsr_reads(LauncherArguments(args.opt, [], False))
    try:
        warnings = validate_basicsr_options(opt, testing=False, source=args.opt)
    except UsageError as exc:
        text = str(exc)
        raise UsageError(text if args.opt in text else f'{args.opt}: {text}') from None
    for line in warnings:
        print(f'mprnet-memory: warning: {line}', file=sys.stderr, flush=True)
    try:
        settings = read_train_settings(Path(args.opt), args.batch)
        level = parse_grad_checkpointing(settings.network_g.get('grad_checkpointing', False),
                                         f'{args.opt}: network_g.grad_checkpointing')
        build_network(settings.network_g)
        build_pixel_loss(settings.pixel_opt)
    except (ValueError, TypeError, KeyError) as exc:
        raise UsageError(str(exc).splitlines()[0] if str(exc) else type(exc).__name__) from None
    return settings, level


def _measure_or_refuse(settings: TrainSettings, level: Optional[str], micro_batch: int, device: torch.device,
                       amp: Optional[str]) -> StepMeasurement:
    try:
        return _measure(settings, level, micro_batch, device, amp)
    except RuntimeError as exc:  # torch.cuda.OutOfMemoryError is one; the CPU allocator raises a plain one
        if not isinstance(exc, torch.cuda.OutOfMemoryError) and "can't allocate memory" not in str(exc):
            raise
        if device.type == 'cuda':
            torch.cuda.empty_cache()
        raise StepTooLarge(f'one training step does not fit in the memory of {device}: {micro_batch}x3x'
                           f'{settings.gt_size}x{settings.gt_size} micro-batch, grad_checkpointing '
                           f'{_level_name(level)}, {amp or "fp32"} ran out of memory; try a smaller --batch, '
                           'gt_size or a grad_checkpointing level') from None


def measure(args: argparse.Namespace) -> Optional[int]:
    """Check the option file, measure one step (and with ``--gpu-memory`` the batch-1 steps), print the plans."""
    settings, level = read_settings(args)  # before the device: a bad file is refused first
    try:
        device = resolve_device(args.device)
    except (ValueError, RuntimeError) as exc:
        raise UsageError(f'--device {args.device}: {exc}') from None
    amp = settings.amp if device.type == 'cuda' else None
    micro = settings.batch // settings.accumulation
    print(f'{args.opt}: {settings.network_g["type"]} (grad_checkpointing {_level_name(level)}), '
          f'{micro}x{settings.gt_size}x{settings.gt_size} micro-batch (batch_size_per_gpu {settings.batch} / '
          f'grad_accumulation {settings.accumulation}), {amp or "fp32"}, on {device}')
    if settings.amp and amp is None:
        print(f'  train.amp {settings.amp} is CUDA-only: measured in fp32 here (bf16/fp16 take less)')
    step = _measure_or_refuse(settings, level, micro, device, amp)
    extra = f', 1 of {settings.accumulation} micro-batches (each holds the same)' if settings.accumulation > 1 else ''
    print(f'one training step: forward, {settings.pixel_opt["type"]} on every stage output, backward, '
          f'{settings.optim_g["type"]} step{extra}')
    _report_step(step, device)
    if args.gpu_memory is None:
        return None
    measured: Dict[Tuple[Optional[str], Optional[str]], StepMeasurement] = {}
    precisions = [None, 'bf16'] if device.type == 'cuda' else [None]
    for precision in precisions:
        for each in LEVELS:
            if device.type == 'cuda':
                # warm-up, so the timed step is representative
                _measure_or_refuse(settings, each, 1, device, precision)
            measured[(each, precision)] = _measure_or_refuse(settings, each, 1, device, precision)
    _print_plans(measured, args.total_batch, args.gpu_memory, device)
    return None


def main(argv: Optional[Sequence[str]] = None) -> int:
    """Entry point of ``mprnet-memory``: 2 for bad options, 1 when the step does not fit (one line saying so)."""
    args = parse_args(argv)
    return run_tool('mprnet-memory', lambda: measure(args))


if __name__ == '__main__':
    sys.exit(main())
