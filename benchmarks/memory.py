"""Training memory and step time of MPRNet with and without activation checkpointing, as ratios.

    .venv/bin/python benchmarks/memory.py                                   # everything below
    .venv/bin/python benchmarks/memory.py --skip time check --sizes 256     # memory at 256x256 only

1. Memory: the peak of one training step (forward, MPRNetLoss on all three stages, backward) at batch 1, fp32, for
   grad_checkpointing false / cab / stage, per preset and patch size: activations and gradients, above the weights.
   It is counted from live tensors while the step runs on fake (shape-only) tensors: every tensor an operator
   creates is counted until its storage is freed, so the count is exact for what PyTorch allocates and needs no
   arithmetic (the deblurring preset at 256x256 would take minutes per step on a CPU).
2. Check: the same figure measured on real CPU steps from the profiler's allocation events
   (``mprnet_plugin.tools.train_memory.measure_training_step``), side by side with the count, at small sizes.
3. Time: real training steps (forward, loss, backward, Adam) of each level, round-robin, each level in its own
   process (benchmarks/isolated.py), at ``--time-size``.

Every memory figure comes from its own process too.
"""
from __future__ import annotations

import argparse
import concurrent.futures
import datetime
import multiprocessing as mp
import os
import platform
import shlex
import statistics
import sys
import time
import weakref
from pathlib import Path
from typing import Any, Callable, Dict, List, Optional, Tuple

import torch
from torch.utils._python_dispatch import TorchDispatchMode
from torch.utils._pytree import tree_leaves

sys.path.insert(0, str(Path(__file__).resolve().parent))

from isolated import round_robin_isolated  # noqa: E402

import mprnet_plugin  # noqa: E402,F401  (host fixes and registration before anything else)
from mprnet_plugin.runtime.cpu_heap import keep_cpu_heap  # noqa: E402
from mprnet_plugin.tools.train_memory import build_network, build_pixel_loss, measure_training_step  # noqa: E402
from mprnet_plugin.training.step import training_step  # noqa: E402

LEVELS = ('false', 'cab', 'stage')
PRESETS = ('deblurring', 'denoising', 'deraining')
ADAM = {'type': 'Adam', 'lr': 2e-4}
MIB = 1024 ** 2


class LiveTensorPeak(TorchDispatchMode):
    """Counts the bytes of every storage an operator creates until it is freed; keeps the peak."""

    def __init__(self) -> None:
        super().__init__()
        self.live: Dict[int, int] = {}
        self.current = self.peak = 0

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):  # type: ignore[no-untyped-def]
        out = func(*args, **(kwargs or {}))
        for t in tree_leaves(out):
            if isinstance(t, torch.Tensor):
                self._track(t)
        return out

    def _track(self, t: torch.Tensor) -> None:
        storage = t.untyped_storage()
        key = storage._cdata
        if key in self.live:  # a view, or an in-place result
            return
        self.live[key] = storage.nbytes()
        self.current += self.live[key]
        self.peak = max(self.peak, self.current)
        weakref.finalize(storage, self._free, key)

    def _free(self, key: int) -> None:
        self.current -= self.live.pop(key)


def _net(preset: str, level: str) -> torch.nn.Module:
    torch.manual_seed(0)
    return build_network({'type': 'MPRNet', 'preset': preset}, grad_checkpointing=level != 'false' and level).train()


def counted_peak(preset: str, size: int, level: str, batch: int = 1) -> int:
    """Peak bytes that forward, loss and backward create (activations and gradients), counted on fake tensors."""
    from torch._subclasses.fake_tensor import FakeTensorMode
    net, loss = _net(preset, level), build_pixel_loss({'type': 'MPRNetLoss'})
    with FakeTensorMode(allow_non_fake_inputs=True):
        lq, gt = torch.rand(batch, 3, size, size), torch.rand(batch, 3, size, size)
        tracker = LiveTensorPeak()
        with tracker:
            training_step(net, lq, gt, loss)
    return tracker.peak


def measured_peak(preset: str, size: int, level: str) -> int:
    """The same peak on a real CPU step, from the profiler's allocation events (without weights and data)."""
    m = measure_training_step(_net(preset, level), build_pixel_loss({'type': 'MPRNetLoss'}), ADAM, 1, size,
                              torch.device('cpu'))
    data = 2 * 3 * size * size * 4
    return m.peak_bytes - m.parameter_bytes - m.optimizer_state_bytes - data


def build_step(preset: str, size: int, level: str) -> Tuple[Callable[[], object], Dict[str, Any]]:
    """One real training step (forward, loss, backward, Adam) of a level, warmed up (for isolated.py)."""
    keep_cpu_heap()  # as MPRNetModel does on the CPU by default
    net, loss = _net(preset, level), build_pixel_loss({'type': 'MPRNetLoss'})
    optimizer = torch.optim.Adam(net.parameters(), lr=2e-4)
    lq, gt = torch.rand(1, 3, size, size), torch.rand(1, 3, size, size)

    def step() -> None:
        optimizer.zero_grad(set_to_none=True)
        training_step(net, lq, gt, loss)
        optimizer.step()
    start = time.perf_counter()
    step()
    return step, {'warmup_s': time.perf_counter() - start}


def _in_processes(fn: Callable[..., int], jobs: List[Tuple[Any, ...]], workers: int) -> List[int]:
    ctx = mp.get_context('spawn')
    with concurrent.futures.ProcessPoolExecutor(workers, mp_context=ctx, max_tasks_per_child=1) as pool:
        return list(pool.map(fn, *zip(*jobs)))


def _md(rows: List[List[str]]) -> str:
    return '\n'.join(['| ' + ' | '.join(rows[0]) + ' |', '|' + '---|' * len(rows[0])]
                     + ['| ' + ' | '.join(r) + ' |' for r in rows[1:]])


def memory_table(presets: List[str], sizes: List[int], workers: int) -> str:
    """Counted peaks and ratios for every preset and size (the 256x256 rows of every preset, all sizes of the first)."""
    cases = [(p, s) for p in presets for s in sizes if p == presets[0] or s == max(sizes)]
    jobs = [(p, s, level) for p, s in cases for level in LEVELS]
    peaks = dict(zip(jobs, _in_processes(counted_peak, jobs, workers)))
    rows = [['preset', 'patch', 'false MiB', 'cab MiB', 'stage MiB', 'cab: less', 'stage: less']]
    for p, s in cases:
        none, cab, stage = (peaks[(p, s, level)] for level in LEVELS)
        rows.append([p, f'{s}x{s}', f'{none / MIB:.0f}', f'{cab / MIB:.0f}', f'{stage / MIB:.0f}',
                     f'{none / cab:.2f}x', f'{none / stage:.2f}x'])
    return _md(rows)


def check_table(sizes: List[int], workers: int) -> str:
    """Counted against profiler-measured peaks of real CPU steps (deblurring)."""
    jobs = [('deblurring', s, level) for s in sizes for level in LEVELS]
    counted = _in_processes(counted_peak, jobs, workers)
    measured = _in_processes(measured_peak, jobs, 1)
    rows = [['patch', 'level', 'counted MiB', 'measured MiB', 'measured / counted']]
    for (_, s, level), c, m in zip(jobs, counted, measured):
        rows.append([f'{s}x{s}', level, f'{c / MIB:.1f}', f'{m / MIB:.1f}', f'{m / c:.3f}'])
    return _md(rows)


def time_table(preset: str, size: int, repeats: int, threads: Optional[int]) -> str:
    """Median real step time of each level, round-robin in separate processes, and its ratio to no checkpointing."""
    variants = {level: (build_step, dict(preset=preset, size=size, level=level)) for level in LEVELS}
    times, _ = round_robin_isolated(variants, repeats, threads)
    base = statistics.median(times['false'])
    rows = [['level', 'median s', 'min s', 'vs false']]
    for level in LEVELS:
        med = statistics.median(times[level])
        rows.append([level, f'{med:.2f}', f'{min(times[level]):.2f}', f'{med / base:.2f}x'])
    return _md(rows)


def main(argv: Optional[List[str]] = None) -> int:
    """Print the tables as markdown."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--presets', nargs='+', default=list(PRESETS), choices=PRESETS)
    parser.add_argument('--sizes', nargs='+', type=int, default=[96, 128, 192, 256])
    parser.add_argument('--check-sizes', nargs='+', type=int, default=[64, 96])
    parser.add_argument('--time-size', type=int, default=96)
    parser.add_argument('--time-preset', default='deblurring', choices=PRESETS)
    parser.add_argument('--repeats', type=int, default=3)
    parser.add_argument('--threads', type=int, default=None)
    parser.add_argument('--workers', type=int, default=2, help='processes counting memory at once')
    parser.add_argument('--skip', nargs='*', default=[], choices=('memory', 'check', 'time'))
    args = parser.parse_args(argv)
    start = time.perf_counter()
    print(f'{datetime.datetime.now(datetime.timezone.utc):%Y-%m-%d %H:%M} UTC; {platform.processor() or "cpu"}, '
          f'{mp.cpu_count()} logical CPUs, torch {torch.__version__}, python {platform.python_version()}; load '
          f'average {" ".join(f"{v:.1f}" for v in os.getloadavg())}')
    print(f'`python benchmarks/memory.py {shlex.join(argv if argv is not None else sys.argv[1:])}`\n')
    if 'memory' not in args.skip:
        print('Peak of one training step (forward, MPRNetLoss on 3 stages, backward), batch 1, fp32: activations and '
              'gradients above the weights, counted from live tensors\n')
        print(memory_table(args.presets, args.sizes, args.workers) + '\n')
    if 'check' not in args.skip:
        print('Counted against measured (profiler allocation events of real CPU steps), deblurring\n')
        print(check_table(args.check_sizes, args.workers) + '\n')
    if 'time' not in args.skip:
        print(f'Step time (forward, loss, backward, Adam), {args.time_preset}, batch 1, {args.time_size}x'
              f'{args.time_size}, fp32, {args.repeats} round-robin repeats, each level in its own process\n')
        print(time_table(args.time_preset, args.time_size, args.repeats, args.threads) + '\n')
    print(f'{time.perf_counter() - start:.0f} s in all; load average at the end '
          f'{" ".join(f"{v:.1f}" for v in os.getloadavg())}')
    return 0


if __name__ == '__main__':
    sys.exit(main())
