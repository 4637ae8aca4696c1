"""``mprnet-memory``: the peak memory of one real training step of an option file, and what fits a GPU.

    mprnet-memory -opt options/train/MPRNet_GoPro_1GPU.yml
    mprnet-memory -opt options/train/MPRNet_GoPro.yml --gpu-memory 24 --batch 1
    mprnet-memory -opt options/train/MPRNet_GoPro_12GB.yml --device cpu --gpu-memory   # 12, 16, 24, 40, 80 GiB

It runs one step (one micro-batch's forward, loss on every stage output and backward, then the optimizer step) of
the file's network_g, train.pixel_opt and train.optim_g at its gt_size and batch, in its train.amp (bf16 autocast
on the CPU too), prints the measured peak, and with ``--gpu-memory`` measures batch-1 steps at each
grad_checkpointing level in fp32 and under bf16 autocast to derive which settings train the total batch in each
memory size. It writes nothing to disk.
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
from mprnet_plugin.tools.train_memory import (DEFAULT_GPU_MEMORY, GIB, LEVELS, PAPER_TOTAL_BATCH, PLAN_PRECISIONS,
                                              USABLE_FRACTION, Plan, StepMeasurement, TrainSettings, build_network,
                                              build_pixel_loss, measure_training_step, measured_precision, plan_fits,
                                              read_train_settings)

Measured = Dict[Tuple[Optional[str], Optional[str]], StepMeasurement]


def parse_args(argv: Optional[Sequence[str]] = None) -> argparse.Namespace:
    """The command line of ``mprnet-memory``."""
    parser = argparse.ArgumentParser(prog='mprnet-memory', description=(
        'Measure the peak memory of one training step of a BasicSR training option file, and with --gpu-memory '
        'which grad_checkpointing / grad_accumulation / amp settings fit a GPU. Writes nothing to disk.'))
    parser.add_argument('-opt', required=True, help='BasicSR training option file (.yml)')
    parser.add_argument('--device', choices=('auto', 'cpu', 'cuda'), default='auto',
                        help='where to run the step (auto: CUDA when available)')
    parser.add_argument('--gpu-memory', type=float, nargs='*', default=None, metavar='GIB',
                        help='memory of the target GPU(s) in GiB (a "24 GB" card has 24 GiB): print what fits, from '
                        'batch-1 steps measured in fp32 and bf16 at each grad_checkpointing level; without a value: '
                        f'{", ".join(f"{m:g}" for m in DEFAULT_GPU_MEMORY)}')
    parser.add_argument('--batch', type=int, default=None, metavar='N',
                        help='batch per GPU instead of the file\'s datasets.train.batch_size_per_gpu')
    parser.add_argument('--total-batch', type=int, default=PAPER_TOTAL_BATCH, metavar='N',
                        help=f'total batch the --gpu-memory plans train (default {PAPER_TOTAL_BATCH}, the paper\'s)')
    add_version(parser)
    args = parser.parse_args(argv)
    if args.gpu_memory is not None:
        args.gpu_memory = list(args.gpu_memory or DEFAULT_GPU_MEMORY)
        for memory in args.gpu_memory:
            if not math.isfinite(memory) or memory <= 0:
                parser.error(f'--gpu-memory must be finite positive numbers of GiB; got {memory:g}')
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


def _precision_name(amp: Optional[str], device: torch.device) -> str:
    """How a step was measured: ``fp32``, or e.g. ``bf16 (autocast on cpu)``."""
    return 'fp32' if amp is None else f'{amp} (autocast on {device.type})'


def _report_step(m: StepMeasurement, device: torch.device) -> None:
    how = 'torch.cuda.max_memory_allocated' if device.type == 'cuda' else 'live tensors from allocation events'
    print(f'  peak tensor memory of a step: {_gib(m.step_peak_bytes)} (measured: {how})')
    print(f'    forward + loss + backward: {_gib(m.peak_bytes)}, including weights {_gib(m.parameter_bytes)} and '
          f'optimizer state {_gib(m.optimizer_state_bytes)}; optimizer step: {_gib(m.optimizer_peak_bytes)}')
    print(f'  step time: {m.seconds:.2f} s (one run, with its warm-up: indicative only)')


def _print_measured(measured: Measured, device: torch.device) -> None:
    print(f'\nper sample at batch 1 (measured on {device.type}; bf16: under {device.type} bf16 autocast):')
    print('  grad_checkpointing  amp   per sample   step peak    step time')
    for (level, amp), m in measured.items():
        print(f'  {_level_name(level):<18}  {amp or "none":<4}  {_gib(m.per_sample_bytes):>10}  '
              f'{_gib(m.step_peak_bytes):>10}  {m.seconds:8.2f} s')


def _recommendation(best: Plan, total_batch: int) -> str:
    return (f'network_g.grad_checkpointing: {_level_name(best.level)}, datasets.train.batch_size_per_gpu: '
            f'{total_batch}, train.grad_accumulation: {best.accumulation}, train.amp: {best.amp or "none"}')


def _print_plans(measured: Measured, total_batch: int, gpu_memory: float, device: torch.device) -> Optional[Plan]:
    """What trains ``total_batch`` in ``gpu_memory`` GiB, best first; returns the recommended plan (None: nothing)."""
    plans: List[Plan] = plan_fits(measured, total_batch, int(gpu_memory * GIB), rank_by_time=device.type == 'cuda')
    print(f'\nwhat trains a total batch of {total_batch} in {gpu_memory:g} GiB (derived: weights + optimizer state + '
          f'micro-batch x per sample, within {USABLE_FRACTION:.0%} of the memory):')
    if not plans:
        print('  nothing fits: use a smaller gt_size or total batch, or a GPU with more memory')
        return None
    print('  grad_checkpointing  amp   grad_accumulation  batch_size_per_gpu  need')
    for p in plans:
        print(f'  {_level_name(p.level):<18}  {p.amp or "none":<4}  {p.accumulation:>17}  {total_batch:>18}  '
              f'{_gib(p.need_bytes)}')
    print(f'\nrecommended: {_recommendation(plans[0], total_batch)}')
    return plans[0]


def _measure_plans(settings: TrainSettings, device: torch.device) -> Measured:
    """Batch-1 steps at every grad_checkpointing level, in fp32 and under bf16 autocast (measured, not assumed)."""
    measured: Measured = {}
    for precision in PLAN_PRECISIONS:
        for each in LEVELS:
            if device.type == 'cuda':
                _measure_or_refuse(settings, each, 1, device, precision)  # warm-up, so the timed step is representative
            measured[(each, precision)] = _measure_or_refuse(settings, each, 1, device, precision)
    return measured


def _print_plan_summary(best: Dict[float, Optional[Plan]], total_batch: int) -> None:
    if len(best) < 2:
        return
    print(f'\nsummary: the recommended settings for a total batch of {total_batch} per GPU memory size')
    print('  GPU memory  grad_checkpointing  amp   grad_accumulation  need')
    for memory, plan in best.items():
        if plan is None:
            print(f'  {memory:>6g} GiB  nothing fits')
        else:
            print(f'  {memory:>6g} GiB  {_level_name(plan.level):<18}  {plan.amp or "none":<4}  '
                  f'{plan.accumulation:>17}  {_gib(plan.need_bytes)}')


def plan_gpu_memory(settings: TrainSettings, gpu_memory: Sequence[float], total_batch: int,
                    device: torch.device) -> None:
    """Measure batch-1 steps (fp32 and bf16, each grad_checkpointing level) and print what fits each memory size."""
    measured = _measure_plans(settings, device)
    _print_measured(measured, device)
    best = {memory: _print_plans(measured, total_batch, memory, device) for memory in gpu_memory}
    _print_plan_summary(best, total_batch)
    if device.type != 'cuda':
        print('  (measured on the CPU: CPU and CUDA autocast cast the same layers to bf16, so the tensor memory is '
              'the same up to CUDA\'s workspaces, which the 10% margin covers; the step times are the CPU\'s)')


def note_measured_amp(settings: TrainSettings, device: torch.device) -> None:
    """Say so when the file's train.amp is measured in another precision here (fp16 on the CPU)."""
    amp = measured_precision(settings.amp, device)
    if settings.amp != amp:
        print(f'  train.amp {settings.amp} is CUDA-only: measured under {amp} autocast on the CPU here (the same two '
              'bytes per activation)')


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
    amp = measured_precision(settings.amp, device)
    micro = settings.batch // settings.accumulation
    print(f'{args.opt}: {settings.network_g["type"]} (grad_checkpointing {_level_name(level)}), '
          f'{micro}x{settings.gt_size}x{settings.gt_size} micro-batch (batch_size_per_gpu {settings.batch} / '
          f'grad_accumulation {settings.accumulation}), {_precision_name(amp, device)}, on {device}')
    note_measured_amp(settings, device)
    step = _measure_or_refuse(settings, level, micro, device, amp)
    extra = f', 1 of {settings.accumulation} micro-batches (each holds the same)' if settings.accumulation > 1 else ''
    print(f'one training step: forward, {settings.pixel_opt["type"]} on every stage output, backward, '
          f'{settings.optim_g["type"]} step{extra}')
    _report_step(step, device)
    if args.gpu_memory is None:
        return None
    plan_gpu_memory(settings, args.gpu_memory, args.total_batch, device)
    return None


def main(argv: Optional[Sequence[str]] = None) -> int:
    """Entry point of ``mprnet-memory``: 2 for bad options, 1 when the step does not fit (one line saying so)."""
    args = parse_args(argv)
    return run_tool('mprnet-memory', lambda: measure(args))


if __name__ == '__main__':
    sys.exit(main())
