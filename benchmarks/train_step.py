"""Seconds per training step in fp32 and under bf16 autocast, per preset and grad_checkpointing level, as ratios.

    .venv/bin/python benchmarks/train_step.py                                  # deblurring, 128x128, none
    .venv/bin/python benchmarks/train_step.py --presets deblurring deraining --grad-checkpointing none cab stage

A step is the product's own: ``mprnet_plugin.training.step.training_step`` (forward under autocast, MPRNetLoss on
the three stages in float32, backward), then Adam, at batch 1 on random ``--size`` patches, as MPRNetModel runs it
on the CPU (``keep_cpu_heap``, the network in ``channels_last`` as the recipes set it). Each variant (preset, level,
precision) lives in its own process and the variants are timed round-robin (``isolated.py``), so machine load hits
them alike; the table gives medians, and "fp32 / bf16" is the ratio of the medians of the same preset and level.
"""
from __future__ import annotations

import argparse
import datetime
import multiprocessing as mp
import os
import platform
import shlex
import statistics
import sys
import time
from pathlib import Path
from typing import Any, Callable, Dict, List, Optional, Tuple

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))

from isolated import round_robin_isolated  # noqa: E402

import mprnet_plugin  # noqa: E402,F401  (host fixes and registration before anything else)
from mprnet_plugin.runtime.cpu_heap import keep_cpu_heap  # noqa: E402
from mprnet_plugin.runtime.precision import autocast, cpu_flags, cpu_has_native_bf16  # noqa: E402
from mprnet_plugin.tools.train_memory import build_network, build_pixel_loss  # noqa: E402
from mprnet_plugin.training.step import training_step  # noqa: E402

PRESETS = ('deblurring', 'deraining', 'denoising')
LEVELS = ('none', 'cab', 'stage')
PRECISIONS = ('fp32', 'bf16')


def build_step(preset: str, level: str, precision: str, size: int, channels_last: bool,
               device: str = 'cpu') -> Tuple[Callable[[], object], Dict[str, Any]]:
    """One warmed-up training step (forward, loss, backward, Adam) of a variant, for ``isolated.py``."""
    dev = torch.device(device)
    if dev.type == 'cpu':
        keep_cpu_heap()  # as MPRNetModel does on the CPU by default
    torch.manual_seed(0)
    net = build_network({'type': 'MPRNet', 'preset': preset, 'channels_last': channels_last,
                         'grad_checkpointing': False if level == 'none' else level}).to(dev).train()
    loss = build_pixel_loss({'type': 'MPRNetLoss'}).to(dev)
    optimizer = torch.optim.Adam(net.parameters(), lr=2e-4)
    lq, gt = torch.rand(1, 3, size, size, device=dev), torch.rand(1, 3, size, size, device=dev)
    cast = None if precision == 'fp32' else (lambda: autocast(dev, precision))
    losses: List[float] = []

    def step() -> None:
        optimizer.zero_grad(set_to_none=True)
        losses.append(float(training_step(net, lq, gt, loss, autocast=cast)['l_total']))
        optimizer.step()
    start = time.perf_counter()
    step()
    return step, {'warmup_s': time.perf_counter() - start, 'first_loss': losses[0]}


def _md(rows: List[List[str]]) -> str:
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    lines = ['| ' + ' | '.join(cell.ljust(w) for cell, w in zip(row, widths)) + ' |' for row in rows]
    lines.insert(1, '|' + '|'.join('-' * (w + 2) for w in widths) + '|')
    return '\n'.join(lines)


def time_table(presets: List[str], levels: List[str], precisions: List[str], size: int, repeats: int,
               threads: Optional[int], channels_last: bool, device: str) -> str:
    """Median seconds per step of every variant, and fp32 over bf16 per preset and level, as markdown."""
    variants = {(p, lv, pr): (build_step, dict(preset=p, level=lv, precision=pr, size=size,
                                               channels_last=channels_last, device=device))
                for p in presets for lv in levels for pr in precisions}
    times, infos = round_robin_isolated({' '.join(k): v for k, v in variants.items()}, repeats, threads, device)
    rows = [['preset', 'grad_checkpointing', 'precision', 'median s/step', 'min s', 'first step s', 'fp32 / bf16']]
    for p, lv, pr in variants:
        name = f'{p} {lv} {pr}'
        med = statistics.median(times[name])
        ratio = ''
        if pr != 'fp32' and f'{p} {lv} fp32' in times:
            ratio = f'{statistics.median(times[f"{p} {lv} fp32"]) / med:.2f}x'
        rows.append([p, lv, pr, f'{med:.2f}', f'{min(times[name]):.2f}', f'{infos[name]["warmup_s"]:.2f}', ratio])
    return _md(rows)


def main(argv: Optional[List[str]] = None) -> int:
    """Print the machine, the command and the table."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--presets', nargs='+', default=['deblurring'], choices=PRESETS)
    parser.add_argument('--precision', nargs='+', default=list(PRECISIONS), choices=PRECISIONS)
    parser.add_argument('--grad-checkpointing', nargs='+', default=['none'], choices=LEVELS)
    parser.add_argument('--size', type=int, default=128, help='training patch side (a multiple of 8)')
    parser.add_argument('--repeats', type=int, default=3, help='timed steps per variant, round-robin')
    parser.add_argument('--threads', type=int, default=None, help='torch threads per variant (default: torch\'s)')
    parser.add_argument('--no-channels-last', dest='channels_last', action='store_false',
                        help='NCHW instead of the recipes\' network_g.channels_last: true')
    parser.add_argument('--device', default='cpu', choices=('cpu', 'cuda'))
    args = parser.parse_args(argv)
    if args.size % 8:
        parser.error(f'--size must be a multiple of 8; got {args.size}')
    start = time.perf_counter()
    flags = sorted(set(cpu_flags()) & {'avx512_bf16', 'amx_bf16', 'amx_tile', 'avx512f', 'bf16'})
    print(f'{datetime.datetime.now(datetime.timezone.utc):%Y-%m-%d %H:%M} UTC; {platform.processor() or "cpu"}, '
          f'{mp.cpu_count()} logical CPUs (flags: {" ".join(flags) or "none"}; native bf16: '
          f'{cpu_has_native_bf16()}), torch {torch.__version__}, python {platform.python_version()}; load average '
          f'{" ".join(f"{v:.1f}" for v in os.getloadavg())}')
    print(f'`python benchmarks/train_step.py {shlex.join(argv if argv is not None else sys.argv[1:])}`\n')
    print(f'Training step (forward, MPRNetLoss on 3 stages in float32, backward, Adam), batch 1, {args.size}x'
          f'{args.size}, {"channels_last" if args.channels_last else "NCHW"}, {args.repeats} round-robin repeats, '
          f'each variant in its own process\n')
    print(time_table(args.presets, args.grad_checkpointing, args.precision, args.size, args.repeats, args.threads,
                     args.channels_last, args.device) + '\n')
    print(f'{time.perf_counter() - start:.0f} s in all; load average at the end '
          f'{" ".join(f"{v:.1f}" for v in os.getloadavg())}')
    return 0


if __name__ == '__main__':
    sys.exit(main())
