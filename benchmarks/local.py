"""Forward time and peak memory of MPRNet-Local (TLC's local pooling) against MPRNet, same weights, one run.

    .venv/bin/python benchmarks/local.py                          # reduced width, 1280x720, CPU, fp32
    .venv/bin/python benchmarks/local.py --preset demo --threads 1     # narrower, for a busy CPU
    .venv/bin/python benchmarks/local.py --preset deblurring --device cuda --fast
    .venv/bin/python benchmarks/local.py --precision bf16             # under bf16 autocast (CPU or CUDA)

Each variant runs in its own process (benchmarks/isolated.py), timed round-robin; peak memory is the tensor memory
one forward pass holds beyond the weights and the input (``mprnet_plugin.tools.profiling.measure_peak_memory``).
"""
from __future__ import annotations

import argparse
import datetime
import platform
import statistics
import sys
from pathlib import Path
from typing import Callable, Dict, List, Optional, Tuple

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))

from isolated import round_robin_isolated  # noqa: E402

import mprnet_plugin  # noqa: E402,F401  (host fixes before basicsr loads)
from mprnet_plugin import MPRNET_PRESETS, MPRNet  # noqa: E402
from mprnet_plugin.archs.mprnet_local_arch import to_local  # noqa: E402
from mprnet_plugin.tools.profiling import measure_peak_memory  # noqa: E402

# "reduced" is benchmarks/speed.py's: the published structure (num_cab 8) at the deraining widths. "demo" is the
# demo model's (mprnet-demo): narrower still, for a loaded CPU. A narrower network spends a larger share of its time
# in the pooling (C x H x W) against the convolutions (C^2 x H x W), so its ratio is the less favourable one.
WIDTHS = {
    'reduced': dict(n_feat=40, scale_unetfeats=20, scale_orsnetfeats=16),
    'demo': dict(n_feat=16, scale_unetfeats=8, scale_orsnetfeats=8, num_cab=2),
}


def build_variant(widths: Dict[str, int], shape: Tuple[int, ...], device: str, local: Optional[dict] = None,
                  precision: str = 'fp32') -> Tuple[Callable[[], object], Dict[str, object]]:
    """One network (plain, or converted with ``to_local(**local)``), warmed up; info: its peak forward memory.

    ``precision`` 'bf16' runs under bf16 autocast on ``device`` (the weights and the input stay float32).
    """
    torch.manual_seed(0)
    net = MPRNet(**widths)
    if local is not None:
        to_local(net, **local)
    net = net.to(device).eval()
    torch.manual_seed(1)
    x = torch.rand(shape).to(device)

    def autocast() -> torch.autocast:
        return torch.autocast(torch.device(device).type, dtype=torch.bfloat16, enabled=precision == 'bf16')

    def call() -> object:
        with torch.inference_mode(), autocast():
            return net(x)
    call()
    with autocast():
        peak = measure_peak_memory(net, x)
    return call, {'peak_bytes': peak}


def main(argv: Optional[List[str]] = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--preset', default='reduced', choices=[*WIDTHS, *MPRNET_PRESETS])
    parser.add_argument('--height', type=int, default=720)
    parser.add_argument('--width', type=int, default=1280)
    parser.add_argument('--train-size', type=int, default=256)
    parser.add_argument('--base-size', type=int, default=384)
    parser.add_argument('--repeats', type=int, default=3)
    parser.add_argument('--threads', type=int, default=None)
    parser.add_argument('--device', default='cpu')
    parser.add_argument('--precision', default='fp32', choices=['fp32', 'bf16'],
                        help='bf16: every variant under bf16 autocast')
    parser.add_argument('--fast', action='store_true', help='also time TLC\'s fast approximate pooling')
    args = parser.parse_args(argv)
    widths = WIDTHS.get(args.preset) or dict(MPRNET_PRESETS[args.preset])
    shape = (1, 3, args.height, args.width)
    local = dict(train_size=args.train_size, base_size=args.base_size)
    common = dict(widths=widths, shape=shape, device=args.device, precision=args.precision)
    variants = {'MPRNet': (build_variant, common),
                'MPRNet-Local (exact)': (build_variant, dict(common, local=local))}
    if args.fast:
        variants['MPRNet-Local (fast_imp)'] = (build_variant, dict(common, local=dict(local, fast_imp=True)))
    start = datetime.datetime.now(datetime.timezone.utc)
    times, infos = round_robin_isolated(variants, args.repeats, args.threads, args.device)
    minutes = (datetime.datetime.now(datetime.timezone.utc) - start).total_seconds() / 60
    print(f'{start:%Y-%m-%d %H:%M} UTC, {platform.processor() or platform.machine()}, torch {torch.__version__}, '
          f'{args.device}, {args.precision}, {args.threads or torch.get_num_threads()} threads, '
          f'preset {args.preset} {widths}, '
          f'input {"x".join(map(str, shape))}, train_size {args.train_size}, base_size {args.base_size}, '
          f'{args.repeats} repeats, {minutes:.1f} min')
    base_time = statistics.median(times['MPRNet'])
    base_mem = infos['MPRNet']['peak_bytes']
    print('| variant | median s | min s | time vs MPRNet | peak memory MB | memory vs MPRNet |')
    print('|---|---|---|---|---|---|')
    for name, samples in times.items():
        med, mem = statistics.median(samples), infos[name]['peak_bytes']
        print(f'| {name} | {med:.3f} | {min(samples):.3f} | {med / base_time:.3f}x | {mem / 2 ** 20:.0f} | '
              f'{mem / base_mem:.3f}x |')
    return 0


if __name__ == '__main__':
    sys.exit(main())
