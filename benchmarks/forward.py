"""Forward time of mprnet_plugin.MPRNet against the straightforward per-patch implementation, same weights, one run.

    .venv/bin/python benchmarks/forward.py                      # reduced width, 256x256, CPU, fp32
    .venv/bin/python benchmarks/forward.py --preset deblurring --device cuda --size 256

Both models are timed alternately (A, B, A, B, ...) so that machine noise hits both alike; the figure is the ratio
of medians. Outputs are checked to agree before timing.
"""
from __future__ import annotations

import argparse
import platform
import statistics
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))

from per_patch_mprnet import PerPatchMPRNet  # noqa: E402

from mprnet_plugin import MPRNET_PRESETS, MPRNet  # noqa: E402

# "Reduced width": the structure of the published network (num_cab 8) at the deraining preset's widths.
REDUCED = dict(n_feat=40, scale_unetfeats=20, scale_orsnetfeats=16)


def _sync(device: torch.device) -> None:
    if device.type == 'cuda':
        torch.cuda.synchronize()


def time_call(fn, x: torch.Tensor, device: torch.device) -> float:
    """Seconds for one call of ``fn(x)``."""
    _sync(device)
    start = time.perf_counter()
    fn(x)
    _sync(device)
    return time.perf_counter() - start


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--preset', choices=['reduced', *MPRNET_PRESETS], default='reduced')
    parser.add_argument('--size', type=int, default=256)
    parser.add_argument('--batch', type=int, default=1)
    parser.add_argument('--repeats', type=int, default=5)
    parser.add_argument('--device', default='cpu')
    parser.add_argument('--threads', type=int, default=None, help='torch CPU threads (default: torch default)')
    args = parser.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    device = torch.device(args.device)
    widths = REDUCED if args.preset == 'reduced' else MPRNET_PRESETS[args.preset]

    ours = MPRNet(**widths).to(device).eval()
    plain = PerPatchMPRNet(**widths).to(device).eval()
    plain.load_state_dict(ours.state_dict(), strict=True)
    x = torch.rand(args.batch, 3, args.size, args.size, device=device)

    with torch.inference_mode():
        diff = max((a - b).abs().max().item() for a, b in zip(ours(x), plain(x)))
        times = {'ours': [], 'per-patch': []}
        for _ in range(args.repeats):
            times['ours'].append(time_call(ours, x, device))
            times['per-patch'].append(time_call(plain, x, device))

    med = {k: statistics.median(v) for k, v in times.items()}
    print(f'# MPRNet forward, {args.preset} {widths}, {args.batch}x3x{args.size}x{args.size}, fp32, {device}, '
          f'{torch.get_num_threads()} threads, torch {torch.__version__}, {platform.processor() or platform.machine()}')
    print(f'max |ours - per-patch| over the 3 outputs: {diff:.2e}')
    print('| implementation | median s | min s |')
    print('|---|---|---|')
    for name, values in times.items():
        print(f'| {name} | {med[name]:.3f} | {min(values):.3f} |')
    print(f'speed-up (per-patch / ours, medians): {med["per-patch"] / med["ours"]:.2f}x')


if __name__ == '__main__':
    main()
