"""Peak memory and time of restoring one large image with MPRNet, whole against tiled, in one run.

    .venv/bin/python benchmarks/infer.py                         # CPU: 1920x1080, deblurring preset, fp32
    .venv/bin/python benchmarks/infer.py --device cuda           # CUDA: 3840x2160, bf16
    .venv/bin/python benchmarks/infer.py --size 1280x720 --tile 256 --threads 2
    .venv/bin/python benchmarks/infer.py --precision bf16 fp32 --cli --threads 2   # mprnet-infer, bf16 and fp32

``--cli`` times the whole ``mprnet-infer`` command on one random PNG (checkpoint of random weights, reading, writing);
otherwise ``Restorer.restore_tensor`` alone is timed. With several precisions each is run whole and tiled.

Each configuration runs in a fresh process, so one's memory peak cannot hide another's. CPU peak memory is the
process's peak resident set size, and the figure reported is its growth over the model and input alone; CUDA peak
memory is ``torch.cuda.max_memory_allocated``. Weights are random (the time and memory do not depend on them).
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from typing import Dict, List, Optional

import numpy as np
import torch

from mprnet_plugin import MPRNET_PRESETS, MPRNet
from mprnet_plugin.cli import infer as infer_cli
from mprnet_plugin.inference.restorer import PRECISIONS, Restorer
from mprnet_plugin.io.images import write_image

DEFAULTS = {'cpu': dict(size='1920x1080', precision='fp32', repeats=1),
            'cuda': dict(size='3840x2160', precision='bf16', repeats=3)}
MARKER = 'RESULT '


def peak_rss_mib() -> float:
    """This process's peak resident set size so far, in MiB (Linux reports KiB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def measure_cli(config: Dict[str, object]) -> Dict[str, object]:
    """Time ``mprnet-infer`` restoring one random PNG as ``config`` says (weights written, read, output written)."""
    torch.manual_seed(0)
    width, height = (int(v) for v in str(config['size']).split('x'))
    with tempfile.TemporaryDirectory() as tmp:
        weights, image = os.path.join(tmp, 'random.pth'), os.path.join(tmp, 'in', 'photo.png')
        torch.save({'params': MPRNet(**MPRNET_PRESETS[str(config['preset'])]).state_dict()}, weights)
        write_image(image, np.random.default_rng(0).integers(0, 256, (height, width, 3), dtype=np.uint8))
        argv = ['--weights', weights, '--input', image, '--output', os.path.join(tmp, 'out'), '--device',
                str(config['device']), '--precision', str(config['precision']), '--tile', str(config['tile'] or 0),
                '--tile-overlap', str(config['overlap']), '--batch', str(config['batch'])]
        if config.get('compile'):
            argv.append('--compile')
        base = peak_rss_mib()
        start = time.perf_counter()
        status = infer_cli.main(argv)
        seconds = time.perf_counter() - start
    if status:
        raise RuntimeError(f'mprnet-infer exited with {status}')
    return dict(config, seconds=seconds, all_seconds=[seconds], peak_mib=peak_rss_mib(),
                extra_mib=peak_rss_mib() - base, megapixels_per_s=width * height / 1e6 / seconds)


def measure(config: Dict[str, object]) -> Dict[str, object]:
    """Restore one random image as ``config`` says; returns the time and the memory peak."""
    if config['threads']:
        torch.set_num_threads(int(config['threads']))
    if config.get('cli'):
        return measure_cli(config)
    device = torch.device(str(config['device']))
    torch.manual_seed(0)
    net = MPRNet(**MPRNET_PRESETS[str(config['preset'])])
    restorer = Restorer(net, device=device, tile=config['tile'] or None, overlap=int(config['overlap']),
                        precision=str(config['precision']), batch=int(config['batch']),
                        compile=bool(config.get('compile')))
    width, height = (int(v) for v in str(config['size']).split('x'))
    x = torch.rand(1, 3, height, width, device=device)
    times: List[float] = []
    if device.type == 'cuda':
        restorer.restore_tensor(torch.rand(1, 3, 256, 256, device=device))  # cuDNN set-up outside the timing
        torch.cuda.synchronize()
        torch.cuda.reset_peak_memory_stats()
        base = torch.cuda.memory_allocated()
    else:
        base = peak_rss_mib()
    for _ in range(int(config['repeats'])):
        start = time.perf_counter()
        restorer.restore_tensor(x)
        if device.type == 'cuda':
            torch.cuda.synchronize()
        times.append(time.perf_counter() - start)
    if device.type == 'cuda':
        peak = torch.cuda.max_memory_allocated() / 2**20
        extra = (torch.cuda.max_memory_allocated() - base) / 2**20
    else:
        peak = peak_rss_mib()
        extra = peak - base
    return dict(config, seconds=statistics.median(times), all_seconds=times, peak_mib=peak, extra_mib=extra,
                megapixels_per_s=width * height / 1e6 / statistics.median(times))


def run_child(config: Dict[str, object]) -> Optional[Dict[str, object]]:
    """Run one configuration in a fresh interpreter; None when it failed (e.g. out of memory)."""
    proc = subprocess.run([sys.executable, __file__, '--child', json.dumps(config)], capture_output=True, text=True)
    for line in proc.stdout.splitlines():
        if line.startswith(MARKER):
            return json.loads(line[len(MARKER):])
    tail = (proc.stderr or proc.stdout).strip().splitlines()[-3:]
    print(f'  {config["label"]}: failed (exit {proc.returncode}): {" | ".join(tail)}', file=sys.stderr)
    return None


def main(argv: Optional[List[str]] = None) -> None:
    """Run each configuration in its own process and print its time and memory peak."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--device', default='cpu', help='cpu, cuda or cuda:N (default cpu)')
    parser.add_argument('--size', default=None, help='WIDTHxHEIGHT (default 1920x1080 on CPU, 3840x2160 on CUDA)')
    parser.add_argument('--precision', default=None, nargs='+', choices=list(PRECISIONS),
                        help='one or more, each run whole and tiled (default fp32 on CPU, bf16 on CUDA)')
    parser.add_argument('--cli', action='store_true', help='time the whole mprnet-infer command (files and all)')
    parser.add_argument('--compile', action='store_true', help='restore through torch.compile (Restorer compile)')
    parser.add_argument('--no-whole', action='store_true', help='tiled only (whole 1920x1080 fp32 needs ~13 GiB)')
    parser.add_argument('--preset', default='deblurring', choices=sorted(MPRNET_PRESETS))
    parser.add_argument('--tile', type=int, default=512)
    parser.add_argument('--overlap', type=int, default=32)
    parser.add_argument('--batch', type=int, default=1, help='tiles per forward pass')
    parser.add_argument('--repeats', type=int, default=None, help='timed runs per configuration (median reported)')
    parser.add_argument('--threads', type=int, default=0, help='torch CPU threads (default: torch default)')
    parser.add_argument('--json', default=None, help='also write the results to this file')
    parser.add_argument('--child', default=None, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        print(MARKER + json.dumps(measure(json.loads(args.child))), flush=True)
        return

    kind = 'cuda' if args.device.startswith('cuda') else 'cpu'
    defaults = DEFAULTS[kind]
    precisions = args.precision or [defaults['precision']]
    base = dict(device=args.device, size=args.size or defaults['size'], preset=args.preset, overlap=args.overlap,
                batch=args.batch, repeats=args.repeats or defaults['repeats'], threads=args.threads, cli=args.cli,
                compile=args.compile)
    configs = []
    for precision in precisions:
        # Precisions alternate within each layout, so a change in the machine's load falls on both.
        for label, tile in ([] if args.no_whole else [('whole', 0)]) + [(f'tiled {args.tile}/{args.overlap}',
                                                                          args.tile)]:
            configs.append(dict(base, precision=precision, label=f'{precision} {label}', tile=tile))
    configs.sort(key=lambda c: c['tile'])
    hardware = torch.cuda.get_device_name(args.device) if kind == 'cuda' else \
        f'{platform.processor() or platform.machine()}, {args.threads or torch.get_num_threads()} threads'
    print(f'MPRNet {args.preset} preset, {base["size"]}, {"/".join(precisions)}, {hardware}, torch {torch.__version__}'
          f'{", mprnet-infer" if args.cli else ""}{", compiled" if args.compile else ""}')
    results = []
    for config in configs:
        result = run_child(config)
        if result is None:
            continue
        results.append(result)
        print(f'  {result["label"]:>19}: {result["seconds"]:8.2f} s  {result["megapixels_per_s"]:6.3f} MP/s  '
              f'peak {result["peak_mib"]:9.0f} MiB  (+{result["extra_mib"]:.0f} MiB over model and input)',
              flush=True)
    if args.json:
        with open(args.json, 'w', encoding='utf-8') as f:
            json.dump(dict(hardware=hardware, torch=torch.__version__, results=results), f, indent=2)


if __name__ == '__main__':
    main()
