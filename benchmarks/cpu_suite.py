"""The CPU suite: the authors' MPRNet against ours in fp32, bf16 and compiled, training steps, and MPRNet-Local.

    .venv/bin/python benchmarks/cpu_suite.py --authors ~/src/MPRNet            # the authors' own code (a checkout)
    .venv/bin/python benchmarks/cpu_suite.py                                     # their structure (per-patch)
    .venv/bin/python benchmarks/cpu_suite.py --sizes 256x256 --presets deraining --skip train local

One run prints every table and writes them, with the machine's CPU flags and the library versions, to a dated file
``benchmarks/results/<date>-cpu-suite.md`` (``--out`` to change). Every variant runs in its own process
(``isolated.round_robin_isolated``), timed round-robin so machine noise hits them alike; figures are medians.

- forward, per preset and size: the authors' network (``--authors DIR``: ``DIR/<Task>/MPRNet.py`` of a checkout of
  their repository, which this project does not ship; without it the per-patch re-implementation of their structure,
  ``per_patch_mprnet.py``) in fp32, and ours in fp32, bf16 autocast, fp32 compiled and bf16 compiled, all with the
  same weights; each variant's output on the same input is compared with ours in fp32 (PSNR, max abs difference);
- training step (forward, multi-stage loss, backward, Adam) at ``--train-size``: fp32 and bf16 autocast at each
  grad_checkpointing level;
- MPRNet-Local (TLC's exact variant, 256 -> 384 windows) against MPRNet at ``--local-size``, fp32 and bf16;
- the machine's convolution limit: one 3x3 convolution at 96 channels in fp32 and in bf16, so that each forward can
  be read as a share of what the convolutions alone would take at that speed (MPRNet is almost all convolution).
"""
from __future__ import annotations

import argparse
import datetime
import importlib.util
import math
import platform
import statistics
import sys
import tempfile
from pathlib import Path
from typing import Any, Callable, Dict, List, Optional, Sequence, Tuple

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))

from isolated import round_robin_isolated  # noqa: E402
from per_patch_mprnet import PerPatchMPRNet  # noqa: E402

import mprnet_plugin  # noqa: E402,F401  (host fixes before basicsr loads)
from mprnet_plugin import MPRNET_PRESETS, MPRNet, MPRNetLoss  # noqa: E402
from mprnet_plugin.archs.mprnet_local_arch import to_local  # noqa: E402
from mprnet_plugin.reporting.versions import library_versions  # noqa: E402
from mprnet_plugin.tools.profiling import count_macs  # noqa: E402
from mprnet_plugin.runtime.precision import cpu_flags, cpu_has_native_bf16  # noqa: E402
from mprnet_plugin.training.step import training_step  # noqa: E402

TASK_FOLDERS = {'deblurring': 'Deblurring', 'deraining': 'Deraining', 'denoising': 'Denoising'}
FORWARD_VARIANTS = {
    'ours fp32': dict(precision='fp32'),
    'ours bf16': dict(precision='bf16'),
    'ours fp32 compiled': dict(precision='fp32', compiled=True),
    'ours bf16 compiled': dict(precision='bf16', compiled=True),
}
LEVELS = ('none', 'cab', 'stage')
REFERENCE = 'ours fp32'


def parse_size(text: str) -> Tuple[int, int]:
    """``'1280x720'`` -> (height 720, width 1280); ``'256'`` -> (256, 256)."""
    parts = text.lower().split('x')
    if len(parts) == 1:
        return int(parts[0]), int(parts[0])
    width, height = (int(p) for p in parts)
    return height, width


def authors_network(authors: Optional[str], preset: str) -> torch.nn.Module:
    """The authors' MPRNet for ``preset`` from their checkout, or the per-patch re-implementation of it."""
    widths = MPRNET_PRESETS[preset]
    if not authors:
        return PerPatchMPRNet(**widths)
    path = Path(authors).expanduser() / TASK_FOLDERS[preset] / 'MPRNet.py'
    spec = importlib.util.spec_from_file_location(f'authors_mprnet_{preset}', path)
    if spec is None or spec.loader is None or not path.is_file():
        raise SystemExit(f'--authors {authors}: no {path}')
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.MPRNet(**widths)


def _seeded(preset: str, **kwargs: Any) -> MPRNet:
    torch.manual_seed(0)  # the same weights in every process
    return MPRNet(preset=preset, **kwargs)


def _input(shape: Tuple[int, ...]) -> torch.Tensor:
    return torch.rand(shape, generator=torch.Generator().manual_seed(1))


def _save_output(out: Any, path: Optional[str]) -> None:
    if path:
        final = out if isinstance(out, torch.Tensor) else out[0]
        np.save(path, final.float().numpy())


def build_forward(preset: str, shape: Tuple[int, ...], precision: str = 'fp32', compiled: bool = False,
                  authors: Optional[str] = None, local: bool = False, save: Optional[str] = None
                  ) -> Tuple[Callable[[], object], Dict[str, Any]]:
    """One inference variant, warmed up; its output on the shared input is saved to ``save`` for the agreement."""
    net: torch.nn.Module = _seeded(preset)
    if authors is not None:
        theirs = authors_network(authors or None, preset)
        theirs.load_state_dict(net.state_dict(), strict=True)
        net = theirs
    if local:
        to_local(net, train_size=256, base_size=384)
    net = net.eval()
    if compiled:
        net = torch.compile(net, dynamic=False)
    x = _input(shape)
    bf16 = precision == 'bf16'

    def call() -> object:
        with torch.inference_mode(), torch.autocast('cpu', dtype=torch.bfloat16, enabled=bf16):
            return net(x)
    start = datetime.datetime.now()
    _save_output(call(), save)  # the warm-up; for compiled variants it includes compiling
    return call, {'warmup_s': (datetime.datetime.now() - start).total_seconds()}


def build_train_step(preset: str, size: int, precision: str, level: str, batch: int = 1
                     ) -> Tuple[Callable[[], object], Dict[str, Any]]:
    """One training step (the recipe's own training_step, then Adam) of the preset at ``size``, warmed up."""
    net = _seeded(preset, grad_checkpointing=False if level == 'none' else level).train()
    loss = MPRNetLoss()
    optimizer = torch.optim.Adam(net.parameters(), lr=2e-4)
    lq, gt = _input((batch, 3, size, size)), _input((batch, 3, size, size)).flip(-1)
    autocast = (lambda: torch.autocast('cpu', dtype=torch.bfloat16)) if precision == 'bf16' else None

    def call() -> object:
        optimizer.zero_grad(set_to_none=True)
        training_step(net, lq, gt, loss, autocast=autocast)
        optimizer.step()
        return None
    call()
    return call, {}


def build_conv(precision: str, channels: int = 96, size: int = 128) -> Tuple[Callable[[], object], Dict[str, Any]]:
    """One 3x3 convolution (channels_last, ``channels`` in and out, ``size`` x ``size``): the machine's conv speed."""
    torch.manual_seed(0)
    conv = torch.nn.Conv2d(channels, channels, 3, padding=1, bias=False).eval()
    x = torch.rand(1, channels, size, size).contiguous(memory_format=torch.channels_last)
    bf16 = precision == 'bf16'

    def call() -> object:
        with torch.inference_mode(), torch.autocast('cpu', dtype=torch.bfloat16, enabled=bf16):
            for _ in range(10):
                conv(x)
        return None
    call()
    return call, {'macs': 10 * channels * channels * 9 * size * size}


def conv_limit_section(repeats: int, threads: Optional[int]) -> Tuple[str, Dict[str, float]]:
    """GMAC/s of one 3x3 convolution in fp32 and bf16 (each in its own process); the table and the figures."""
    variants = {p: (build_conv, dict(precision=p)) for p in ('fp32', 'bf16')}
    times, infos = round_robin_isolated(variants, repeats, threads)
    rates = {p: infos[p]['macs'] / statistics.median(times[p]) / 1e9 for p in variants}
    rows = [[p, f'{rates[p]:.0f}', f'{rates[p] / rates["fp32"]:.2f}x'] for p in variants]
    title = '### The convolution limit: one 3x3 convolution, 96 channels, 1x96x128x128, channels_last'
    return title + '\n\n' + table(['precision', 'GMAC/s', 'vs fp32'], rows), rates


def psnr(a: np.ndarray, b: np.ndarray) -> float:
    """PSNR in dB of ``a`` against ``b`` (images in [0, 1]; random-weight outputs are clipped to it)."""
    mse = float(np.mean((np.clip(a, 0, 1) - np.clip(b, 0, 1)) ** 2))
    return math.inf if mse == 0 else 10 * math.log10(1 / mse)


def _fmt_row(cells: Sequence[object]) -> str:
    return '| ' + ' | '.join(str(c) for c in cells) + ' |'


def table(header: Sequence[str], rows: List[Sequence[object]]) -> str:
    """A Markdown table."""
    return '\n'.join([_fmt_row(header), '|' + '---|' * len(header)] + [_fmt_row(r) for r in rows])


def forward_section(preset: str, size: Tuple[int, int], authors: Optional[str], repeats: int,
                    threads: Optional[int], with_compile: bool, tmp: Path, rates: Dict[str, float]) -> str:
    """Seconds per forward of every variant at one preset and size, the speed-ups and the output agreement."""
    shape = (1, 3, *size)
    baseline = "the authors' code, fp32" if authors else "the authors' structure (per-patch), fp32"
    variants: Dict[str, Tuple[Callable[..., Any], Dict[str, Any]]] = {
        baseline: (build_forward, dict(preset=preset, shape=shape, authors=authors or '', save=str(tmp / 'a.npy')))}
    for name, kwargs in FORWARD_VARIANTS.items():
        if kwargs.get('compiled') and not with_compile:
            continue
        variants[name] = (build_forward, dict(preset=preset, shape=shape, save=str(tmp / f'{len(variants)}.npy'),
                                              **kwargs))
    times, infos = round_robin_isolated(variants, repeats, threads)
    outputs = {name: np.load(args['save']) for name, (_, args) in variants.items()}
    base = statistics.median(times[baseline])
    macs = count_macs(MPRNet(preset=preset), shape)
    rows = []
    for name in variants:
        median = statistics.median(times[name])
        diff = float(np.abs(outputs[name] - outputs[REFERENCE]).max())
        # The time the convolutions alone would take at the measured single-convolution speed, over the forward's.
        floor = macs / (rates['bf16' if 'bf16' in name else 'fp32'] * 1e9)
        rows.append([name, f'{median:.3f}', f'{base / median:.2f}x', f'{psnr(outputs[name], outputs[REFERENCE]):.1f}',
                     f'{diff:.2g}', f'{infos[name]["warmup_s"]:.1f}', f'{100 * floor / median:.0f}%'])
    title = (f'### Forward, {preset} preset, 1x3x{size[0]}x{size[1]} ({repeats} repeats, {macs / 1e9:.0f} GMAC; '
             'conv limit = the MACs at the single convolution\'s speed over the forward\'s time)')
    return title + '\n\n' + table(['variant', 'seconds (median)', f'vs {baseline}', 'PSNR vs ours fp32 (dB)',
                                   'max abs diff', 'first call (s)', 'share of the conv limit'], rows)


def train_section(preset: str, size: int, repeats: int, threads: Optional[int]) -> str:
    """Seconds per training step at each grad_checkpointing level, fp32 against bf16 autocast."""
    variants = {f'{precision}, {level}': (build_train_step, dict(preset=preset, size=size, precision=precision,
                                                                    level=level))
                for level in LEVELS for precision in ('fp32', 'bf16')}
    times, _ = round_robin_isolated(variants, repeats, threads)
    rows = []
    for level in LEVELS:
        fp32, bf16 = (statistics.median(times[f'{p}, {level}']) for p in ('fp32', 'bf16'))
        rows.append([level, f'{fp32:.3f}', f'{bf16:.3f}', f'{fp32 / bf16:.2f}x'])
    title = f'### Training step, {preset} preset, batch 1 at {size}x{size} ({repeats} repeats)'
    return title + '\n\n' + table(['grad_checkpointing', 'fp32 (s)', 'bf16 autocast (s)', 'bf16 speed-up'], rows)


def local_section(preset: str, size: Tuple[int, int], repeats: int, threads: Optional[int], tmp: Path) -> str:
    """MPRNet-Local against MPRNet with the same weights, fp32 and bf16."""
    shape = (1, 3, *size)
    variants = {f'{kind} {precision}': (build_forward, dict(preset=preset, shape=shape, precision=precision,
                                                            local=kind == 'MPRNet-Local',
                                                            save=str(tmp / f'local-{kind}-{precision}.npy')))
                for precision in ('fp32', 'bf16') for kind in ('MPRNet', 'MPRNet-Local')}
    times, _ = round_robin_isolated(variants, repeats, threads)
    rows = []
    for precision in ('fp32', 'bf16'):
        plain, local = (statistics.median(times[f'{k} {precision}']) for k in ('MPRNet', 'MPRNet-Local'))
        rows.append([precision, f'{plain:.3f}', f'{local:.3f}', f'{local / plain:.2f}x'])
    title = f'### MPRNet-Local (256 -> 384 windows), {preset} preset, 1x3x{size[0]}x{size[1]} ({repeats} repeats)'
    return title + '\n\n' + table(['precision', 'MPRNet (s)', 'MPRNet-Local (s)', 'Local / MPRNet'], rows)


def machine_section(command: str) -> str:
    """Date, machine, CPU flags that matter here, thread count and library versions."""
    flags = set(cpu_flags())
    shown = sorted(f for f in flags if f.startswith(('avx', 'amx')) or f in ('fma', 'bf16', 'sse4_2'))
    versions = ', '.join(f'{k} {v}' for k, v in library_versions().items())
    return '\n'.join([
        f'- date: {datetime.date.today().isoformat()}',
        f'- machine: {platform.processor() or platform.machine()}, {torch.get_num_threads()} threads, '
        f'native bf16: {"yes" if cpu_has_native_bf16() else "no"}',
        f'- CPU flags: {" ".join(shown) or "(not readable)"}',
        f'- versions: {versions}',
        f'- command: `{command}`',
    ])


def main(argv: Optional[List[str]] = None) -> int:
    """Run the suite, print it and write the dated results file."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--authors', default=None, help="a checkout of the authors' MPRNet repository")
    parser.add_argument('--presets', nargs='+', default=['deblurring', 'deraining'], choices=sorted(MPRNET_PRESETS))
    parser.add_argument('--sizes', nargs='+', default=['256x256', '1280x720'], help='WIDTHxHEIGHT (default both)')
    parser.add_argument('--train-size', type=int, default=128, help='training-step patch size (default 128)')
    parser.add_argument('--local-size', default='1280x720',
                        help='WIDTHxHEIGHT of the MPRNet-Local comparison (default 1280x720, where TLC\'s windows '
                             'are smaller than the maps)')
    parser.add_argument('--repeats', type=int, default=3, help='timed repeats per variant (default 3)')
    parser.add_argument('--threads', type=int, default=None, help='torch threads per variant (default: torch\'s)')
    parser.add_argument('--skip', nargs='+', default=[], choices=['forward', 'compile', 'train', 'local'])
    parser.add_argument('--out', default=None, help='results file (default benchmarks/results/<date>-cpu-suite.md)')
    args = parser.parse_args(argv)
    sizes = [parse_size(s) for s in args.sizes]
    command = ' '.join(['python benchmarks/cpu_suite.py', *(argv if argv is not None else sys.argv[1:])])
    sections = ['# CPU suite', machine_section(command)]
    print('\n\n'.join(sections), flush=True)
    with tempfile.TemporaryDirectory() as tmp:
        limit, rates = conv_limit_section(args.repeats, args.threads)
        sections.append(limit)
        print('\n' + limit, flush=True)
        if 'forward' not in args.skip:
            for preset in args.presets:
                for size in sizes:
                    sections.append(forward_section(preset, size, args.authors, args.repeats, args.threads,
                                                    'compile' not in args.skip, Path(tmp), rates))
                    print('\n' + sections[-1], flush=True)
        if 'train' not in args.skip:
            for preset in args.presets:
                sections.append(train_section(preset, args.train_size, args.repeats, args.threads))
                print('\n' + sections[-1], flush=True)
        if 'local' not in args.skip:
            sections.append(local_section(args.presets[0], parse_size(args.local_size), args.repeats, args.threads,
                                          Path(tmp)))
            print('\n' + sections[-1], flush=True)
    out = Path(args.out) if args.out else (Path(__file__).resolve().parent / 'results'
                                           / f'{datetime.date.today().isoformat()}-cpu-suite.md')
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text('\n\n'.join(sections) + '\n', encoding='utf-8')
    print(f'\nwritten to {out}')
    return 0


if __name__ == '__main__':
    sys.exit(main())
