"""Speed of MPRNet on this machine, all figures measured in one run and given as ratios.

    .venv/bin/python benchmarks/speed.py                        # reduced width, 256x256, fp32, CPU
    .venv/bin/python benchmarks/speed.py --compile              # also torch.compile (slow to compile on a CPU)
    .venv/bin/python benchmarks/speed.py --device cuda --batch 4 --compile

1. Forward: our MPRNet (channels_last on and off) against the straightforward per-patch implementation
   (benchmarks/per_patch_mprnet.py); on CUDA also bf16 autocast.
2. Training step (forward, multi-stage loss, backward, Adam), through BasicSR's MPRNetModel.optimize_parameters with
   each of its speed options on and off: channels_last, train.keep_cpu_heap (CPU), train.compile, cudnn_benchmark
   and train.amp (CUDA only).
3. Closeness to the machine's limit: achieved GFLOP/s of our forward (MACs from FlopCounterMode) against one large
   3x3 convolution timed in the same run.
4. Data: images/s that BasicSR's PairedImageDataset delivers from an LMDB (worker counts, persistent workers on and
   off; CUDA prefetching on CUDA) against what one training step consumes.

Variants are timed round-robin (A, B, C, A, B, C, ...) so machine noise hits them alike, each forward and training
variant in its own process (benchmarks/isolated.py: variants sharing a process disturb each other's heap); each
figure is a median.
"""
from __future__ import annotations

import argparse
import datetime
import json
import logging
import platform
import shlex
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Callable, Dict, List, Optional, Tuple

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))

from isolated import round_robin_isolated  # noqa: E402
from per_patch_mprnet import PerPatchMPRNet  # noqa: E402

import mprnet_plugin  # noqa: E402,F401  (host fixes before basicsr loads)
from basicsr.utils.registry import ARCH_REGISTRY  # noqa: E402

from mprnet_plugin import MPRNET_PRESETS, MPRNet  # noqa: E402
from mprnet_plugin.tools.profiling import count_macs, synchronize  # noqa: E402

# "Reduced width": the structure of the published network (num_cab 8) at the deraining preset's widths.
REDUCED = dict(n_feat=40, scale_unetfeats=20, scale_orsnetfeats=16)

# The per-patch implementation is built by MPRNetModel like any architecture, so both train through the same code.
if 'PerPatchMPRNet' not in ARCH_REGISTRY:
    ARCH_REGISTRY.register(PerPatchMPRNet)


def round_robin(fns: Dict[str, Callable[[], object]], device: torch.device, repeats: int,
                warmup: int = 1) -> Dict[str, List[float]]:
    """Seconds per call of each function, interleaved: every repeat times each function once."""
    for fn in fns.values():
        for _ in range(warmup):
            fn()
    times: Dict[str, List[float]] = {name: [] for name in fns}
    for _ in range(repeats):
        for name, fn in fns.items():
            synchronize(device)
            start = time.perf_counter()
            fn()
            synchronize(device)
            times[name].append(time.perf_counter() - start)
    return times


def _md(rows: List[List[str]]) -> str:
    return '\n'.join(['| ' + ' | '.join(rows[0]) + ' |', '|' + '---|' * len(rows[0])]
                     + ['| ' + ' | '.join(r) + ' |' for r in rows[1:]])


# ------------------------------------------------------------------------------------------------------ forward
FORWARD_VARIANTS = {
    'per-patch, NCHW, fp32': dict(kind='per-patch'),
    'ours, NCHW, fp32': dict(kind='ours', channels_last=False),
    'ours, channels_last, fp32': dict(kind='ours'),
}


def _seeded_mprnet(widths: Dict[str, int], **kwargs: object) -> MPRNet:
    """The same weights in every process."""
    torch.manual_seed(0)
    return MPRNet(**widths, **kwargs)


def build_forward(kind: str, widths: Dict[str, int], shape: Tuple[int, ...], device: str,
                  channels_last: bool = True, bf16: bool = False) -> Tuple[Callable[[], object], Dict[str, object]]:
    """One inference variant, warmed up: ours (either memory format, optionally bf16 autocast) or per-patch."""
    net: torch.nn.Module = _seeded_mprnet(widths, channels_last=channels_last)
    if kind == 'per-patch':
        plain = PerPatchMPRNet(**widths)
        plain.load_state_dict(net.state_dict(), strict=True)
        net = plain
    net = net.to(device).eval()
    torch.manual_seed(1)
    x = torch.rand(shape).to(device)

    def call() -> object:
        with torch.inference_mode(), torch.autocast(torch.device(device).type, dtype=torch.bfloat16, enabled=bf16):
            return net(x)
    call()
    return call, {}


def bench_forward(widths: Dict[str, int], shape: Tuple[int, ...], device: torch.device, repeats: int,
                  threads: Optional[int]) -> Tuple[Dict[str, List[float]], float]:
    """Inference forward of the per-patch implementation and of ours with and without channels_last."""
    variants = {name: (build_forward, dict(widths=widths, shape=shape, device=str(device), **kw))
                for name, kw in FORWARD_VARIANTS.items()}
    if device.type == 'cuda':
        variants['ours, channels_last, bf16 autocast'] = (
            build_forward, dict(kind='ours', widths=widths, shape=shape, device=str(device), bf16=True))
    # Outputs agree before anything is timed.
    ours = _seeded_mprnet(widths).to(device).eval()
    plain = PerPatchMPRNet(**widths).to(device).eval()
    plain.load_state_dict(ours.state_dict(), strict=True)
    x = torch.rand(shape, device=device)
    with torch.inference_mode():
        diff = max((a - b).abs().max().item() for a, b in zip(ours(x), plain(x)))
    del ours, plain
    times, _ = round_robin_isolated(variants, repeats, threads, str(device))
    return times, diff


# ------------------------------------------------------------------------------------------------- train step
def _model_opt(network: Dict[str, object], device: torch.device, **train: object) -> Dict[str, object]:
    cudnn_benchmark = train.pop('cudnn_benchmark', True)
    return {
        'name': 'speed', 'model_type': 'MPRNetModel', 'num_gpu': 1 if device.type == 'cuda' else 0, 'dist': False,
        'rank': 0, 'world_size': 1, 'is_train': True, 'scale': 1, 'cudnn_benchmark': cudnn_benchmark,
        'network_g': network, 'path': {'pretrain_network_g': None, 'strict_load_g': True, 'resume_state': None},
        'train': {'optim_g': {'type': 'Adam', 'lr': 2e-4, 'betas': [0.9, 0.999]}, 'total_iter': 1000,
                  'pixel_opt': {'type': 'MPRNetLoss'}, **train},
        'val': None, 'logger': {},
    }


def train_variants(widths: Dict[str, int], device: torch.device, compile_: bool) -> Dict[str, Dict[str, object]]:
    """MPRNetModel options for each training-step variant."""
    ours = {'type': 'MPRNet', **widths}
    plain = {'type': 'PerPatchMPRNet', **widths}
    # The baseline runs as a plain process would: glibc's default heap (train.keep_cpu_heap acts on the CPU only).
    variants = {'per-patch, NCHW, fp32': _model_opt(plain, device, keep_cpu_heap=False)}
    if device.type == 'cpu':
        variants['per-patch, NCHW, fp32, keep_cpu_heap'] = _model_opt(plain, device)
        variants['ours, channels_last, fp32, keep_cpu_heap off'] = _model_opt(ours, device, keep_cpu_heap=False)
    variants['ours, NCHW, fp32'] = _model_opt({**ours, 'channels_last': False}, device)
    variants['ours, channels_last, fp32'] = _model_opt(ours, device)
    if compile_:
        variants['ours, channels_last, fp32, compile'] = _model_opt(ours, device, compile=True)
    if device.type == 'cuda':
        variants['ours, channels_last, fp32, cudnn_benchmark off'] = _model_opt(ours, device, cudnn_benchmark=False)
        variants['ours, channels_last, bf16 amp'] = _model_opt(ours, device, amp='bf16')
        if compile_:
            variants['ours, channels_last, bf16 amp, compile'] = _model_opt(ours, device, amp='bf16', compile=True)
    return variants


def build_train_step(opt: Dict[str, object], shape: Tuple[int, ...],
                     device: str) -> Tuple[Callable[[], object], Dict[str, object]]:
    """One MPRNetModel with its data fed; info holds the first step's seconds (allocation, autotuning, compiling)."""
    from mprnet_plugin.models.mprnet_model import MPRNetModel
    logging.getLogger('basicsr').setLevel(logging.WARNING)
    torch.backends.cudnn.benchmark = bool(opt['cudnn_benchmark'])
    torch.manual_seed(0)
    model = MPRNetModel(opt)
    torch.manual_seed(1)
    model.feed_data({'lq': torch.rand(shape).to(device), 'gt': torch.rand(shape).to(device)})
    synchronize(torch.device(device))
    start = time.perf_counter()
    model.optimize_parameters(1)
    synchronize(torch.device(device))
    first = time.perf_counter() - start
    return (lambda: model.optimize_parameters(2)), {'first_step_s': first}


def bench_train(widths: Dict[str, int], shape: Tuple[int, ...], device: torch.device, repeats: int,
                compile_: bool, threads: Optional[int]) -> Tuple[Dict[str, List[float]], Dict[str, float]]:
    """Seconds per MPRNetModel.optimize_parameters for each variant, and each variant's first-step time."""
    variants = {name: (build_train_step, dict(opt=opt, shape=shape, device=str(device)))
                for name, opt in train_variants(widths, device, compile_).items()}
    times, infos = round_robin_isolated(variants, repeats, threads, str(device))
    return times, {name: info['first_step_s'] for name, info in infos.items()}


# ------------------------------------------------------------------------------------------ machine reference
def bench_reference_conv(channels: int, x_shape: Tuple[int, ...], device: torch.device,
                         repeats: int) -> Dict[str, float]:
    """GFLOP/s of one large 3x3 convolution (channels -> channels) at the benchmark's resolution, both layouts."""
    n, _, h, w = x_shape
    conv = torch.nn.Conv2d(channels, channels, 3, padding=1, bias=False).to(device).eval()
    x = torch.rand(n, channels, h, w, device=device)
    x_cl = x.contiguous(memory_format=torch.channels_last)
    conv_cl = torch.nn.Conv2d(channels, channels, 3, padding=1, bias=False).to(device).eval()
    conv_cl = conv_cl.to(memory_format=torch.channels_last)
    flops = 2 * channels * channels * 9 * n * h * w
    with torch.inference_mode():
        times = round_robin({'NCHW': lambda: conv(x), 'channels_last': lambda: conv_cl(x_cl)}, device, repeats)
    return {layout: flops / statistics.median(t) / 1e9 for layout, t in times.items()}


# ------------------------------------------------------------------------------------------------------- data
def make_lmdb_pairs(root: Path, count: int, size: int) -> Tuple[Path, Path]:
    """Synthetic textured pairs written with the package's LMDB writer (PNG-compressed, like mprnet-prep)."""
    from mprnet_plugin.data.lmdb_writer import make_paired_lmdb
    rng = np.random.default_rng(0)
    yy, xx = np.mgrid[0:size, 0:size].astype(np.float32)
    pairs = []
    for i in range(count):
        freq = rng.uniform(0.02, 0.2, size=3)
        gt = np.stack([0.5 + 0.4 * np.sin(freq[c] * xx + i) * np.cos(freq[c] * yy) for c in range(3)], -1)
        gt = np.clip(gt * 255 + rng.normal(0, 6, gt.shape), 0, 255).astype(np.uint8)
        lq = np.clip(gt.astype(np.int16) + rng.integers(-20, 20, gt.shape), 0, 255).astype(np.uint8)
        pairs.append((f'{i:04d}', lq, gt))
    lq_path, gt_path = root / 'input.lmdb', root / 'target.lmdb'
    make_paired_lmdb(pairs, lq_path, gt_path, desc='benchmark LMDB')
    return lq_path, gt_path


def bench_data(lq_lmdb: Path, gt_lmdb: Path, patch: int, batch: int, device: torch.device, batches: int,
               worker_counts: List[int]) -> Dict[str, float]:
    """Images per second from BasicSR's PairedImageDataset (random crop + flips) through a DataLoader."""
    from basicsr.data import build_dataset
    from basicsr.data.prefetch_dataloader import CUDAPrefetcher
    results = {}
    for workers in worker_counts:
        for persistent in ([False, True] if workers > 0 else [False]):
            opt = {'name': 'bench', 'type': 'PairedImageDataset', 'phase': 'train', 'scale': 1,
                   'dataroot_lq': str(lq_lmdb), 'dataroot_gt': str(gt_lmdb), 'io_backend': {'type': 'lmdb'},
                   'gt_size': patch, 'use_hflip': True, 'use_rot': True}
            dataset = build_dataset(opt)
            loader = torch.utils.data.DataLoader(  # BasicSR's train-loader arguments, plus persistent workers
                dataset, batch_size=batch, shuffle=True, num_workers=workers, drop_last=True,
                persistent_workers=persistent, pin_memory=device.type == 'cuda')
            # Time whole epochs after a first one, so worker start-up per epoch (without persistence) counts.
            per_epoch = len(loader)
            epochs = max(2, -(-batches // per_epoch))
            seen = 0
            for _ in loader:  # first epoch: warm-up (workers, LMDB environments)
                pass
            start = time.perf_counter()
            for _ in range(epochs):
                for item in loader:
                    seen += item['lq'].shape[0]
            elapsed = time.perf_counter() - start
            name = f'{workers} workers' + (', persistent' if persistent else '')
            results[name] = seen / elapsed
            if device.type == 'cuda' and workers > 0 and persistent:
                prefetcher = CUDAPrefetcher(loader, {'num_gpu': 1})
                seen, start = 0, time.perf_counter()
                for _ in range(epochs):
                    prefetcher.reset()
                    item = prefetcher.next()
                    while item is not None:
                        seen += item['lq'].shape[0]
                        item = prefetcher.next()
                torch.cuda.synchronize()
                results[name + ', CUDA prefetcher'] = seen / (time.perf_counter() - start)
            del loader
    return results


# ------------------------------------------------------------------------------------------------------- main
def machine_description(device: torch.device) -> str:
    """CPU model and core count, or the GPU name."""
    if device.type == 'cuda':
        return torch.cuda.get_device_name(device)
    model = platform.processor() or platform.machine()
    try:
        for line in Path('/proc/cpuinfo').read_text().splitlines():
            if line.startswith('model name'):
                model = line.split(':', 1)[1].strip()
                break
    except OSError:
        pass
    import os
    return f'{model}, {os.cpu_count()} logical CPUs'


def main(argv: Optional[List[str]] = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--preset', choices=['reduced', *MPRNET_PRESETS], default='reduced',
                        help='widths: reduced = the deraining widths (40/20/16) with the full structure')
    parser.add_argument('--size', type=int, default=256, help='height and width of the input (and training patch)')
    parser.add_argument('--batch', type=int, default=1)
    parser.add_argument('--repeats', type=int, default=5)
    parser.add_argument('--train-repeats', type=int, default=3)
    parser.add_argument('--device', default='cpu')
    parser.add_argument('--threads', type=int, default=None, help='torch CPU threads (default: torch default)')
    parser.add_argument('--compile', action='store_true', help='also time train.compile (torch.compile)')
    parser.add_argument('--ref-channels', type=int, default=64, help='width of the reference 3x3 convolution')
    parser.add_argument('--skip', nargs='*', default=[], choices=['forward', 'train', 'reference', 'data'])
    parser.add_argument('--data-pairs', type=int, default=16, help='pairs in the benchmark LMDB')
    parser.add_argument('--data-size', type=int, default=384, help='size of each LMDB image')
    parser.add_argument('--workers', type=int, nargs='+', default=[0, 1, 2])
    parser.add_argument('--json', type=Path, help='also write every measurement to this JSON file')
    args = parser.parse_args(argv)
    logging.getLogger('basicsr').setLevel(logging.WARNING)
    if args.threads:
        torch.set_num_threads(args.threads)
    device = torch.device(args.device)
    widths = dict(REDUCED) if args.preset == 'reduced' else dict(MPRNET_PRESETS[args.preset])
    shape = (args.batch, 3, args.size, args.size)
    report: Dict[str, object] = {
        'date': f'{datetime.datetime.now(datetime.timezone.utc):%Y-%m-%d %H:%M UTC}',
        'command': 'python benchmarks/speed.py ' + shlex.join(sys.argv[1:] if argv is None else argv),
        'machine': machine_description(device), 'device': str(device), 'threads': torch.get_num_threads(),
        'torch': torch.__version__, 'preset': args.preset, 'widths': widths, 'input': list(shape),
    }
    print(f"# MPRNet speed, {report['date']}\n")
    print(f"- command: `{report['command']}`")
    print(f"- machine: {report['machine']}; device {device}; {report['threads']} torch threads; "
          f"torch {torch.__version__}; python {platform.python_version()}")
    print(f"- model: {args.preset} widths {widths}, num_cab 8; input {args.batch}x3x{args.size}x{args.size}\n")
    macs = count_macs(MPRNet(**widths), shape)
    report['macs'] = macs

    fwd_median: Optional[float] = None
    if 'forward' not in args.skip:
        times, diff = bench_forward(widths, shape, device, args.repeats, args.threads)
        med = {k: statistics.median(v) for k, v in times.items()}
        base = med['per-patch, NCHW, fp32']
        fwd_median = med['ours, channels_last, fp32']
        rows = [['forward variant', 'median s', 'min s', 'speed-up vs per-patch fp32']]
        rows += [[k, f'{med[k]:.3f}', f'{min(v):.3f}', f'{base / med[k]:.2f}x'] for k, v in times.items()]
        print(f'## Forward (inference), {args.repeats} repeats; max |ours - per-patch| = {diff:.1e}\n')
        print(_md(rows) + '\n')
        report['forward'] = {'times': times, 'max_abs_diff': diff}

    step_median: Optional[float] = None
    if 'train' not in args.skip:
        times, warmup = bench_train(widths, shape, device, args.train_repeats, args.compile, args.threads)
        med = {k: statistics.median(v) for k, v in times.items()}
        base = med['per-patch, NCHW, fp32']
        step_median = med['ours, channels_last, fp32']
        rows = [['training-step variant (MPRNetModel)', 'median s', 'images/s', 'speed-up vs per-patch fp32',
                 'first step s']]
        rows += [[k, f'{med[k]:.3f}', f'{args.batch / med[k]:.2f}', f'{base / med[k]:.2f}x', f'{warmup[k]:.1f}']
                 for k in times]
        print(f'## Training step (forward + MPRNetLoss + backward + Adam), {args.train_repeats} repeats\n')
        print(_md(rows) + '\n')
        if not args.compile:
            print('train.compile not timed (pass --compile).')
        if device.type != 'cuda':
            print('train.amp, cudnn_benchmark and CUDA prefetching act only on CUDA: not timed on this device.\n')
        report['train'] = {'times': times, 'first_step_s': warmup}

    if 'reference' not in args.skip:
        ref = bench_reference_conv(args.ref_channels, shape, device, args.repeats)
        best = max(ref.values())
        rows = [['measurement', 'GFLOP/s', 'fraction of the reference conv']]
        rows += [[f'one 3x3 conv {args.ref_channels}->{args.ref_channels}, {layout}', f'{v:.1f}', f'{v / best:.0%}']
                 for layout, v in ref.items()]
        if fwd_median is not None:
            achieved = 2 * macs / fwd_median / 1e9
            rows.append([f'our forward ({macs / 1e9:.1f} GMACs, counted)', f'{achieved:.1f}', f'{achieved / best:.0%}'])
            report['forward_gflops'] = achieved
        print('## Closeness to this machine\'s convolution throughput\n')
        print(_md(rows) + '\n')
        report['reference_conv_gflops'] = ref

    if 'data' not in args.skip:
        with tempfile.TemporaryDirectory(prefix='mprnet-speed-') as tmp:
            lq_lmdb, gt_lmdb = make_lmdb_pairs(Path(tmp), args.data_pairs, args.data_size)
            supply = bench_data(lq_lmdb, gt_lmdb, args.size, args.batch, device, batches=24,
                                worker_counts=args.workers)
        demand = args.batch / step_median if step_median else None
        rows = [['loader (PairedImageDataset, LMDB, crop + flips)', 'images/s',
                 'supply / demand of one training step']]
        rows += [[k, f'{v:.1f}', f'{v / demand:.1f}x' if demand else 'n/a'] for k, v in supply.items()]
        print(f'## Data loading, {args.data_pairs} pairs of {args.data_size}x{args.data_size} PNG in LMDB, '
              f'{args.size}x{args.size} crops, batch {args.batch}'
              + (f'; a training step consumes {demand:.2f} images/s\n' if demand else '\n'))
        print(_md(rows) + '\n')
        report['data'] = {'images_per_s': supply, 'train_demand_images_per_s': demand}

    if args.json:
        args.json.write_text(json.dumps(report, indent=2, default=str), encoding='utf-8')
    return 0


if __name__ == '__main__':
    sys.exit(main())
