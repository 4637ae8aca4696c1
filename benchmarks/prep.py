"""Dataset preparation throughput: crop + encode + write (pairs/s) with 1 and 2 workers, and LMDB reads vs PNG files.

Synthesises GoPro-like pairs (1280x720 8-bit PNG by default) in a temporary folder, then
1. writes ``input_crops.lmdb``/``target_crops.lmdb`` with the GoPro recipe (crop 512, step 256) once per worker count;
2. reads every image of a full-size LMDB pair and of the same PNG files from disk, the way BasicSR's
   ``PairedImageDataset`` does (``FileClient`` + ``imfrombytes``), and reports images/s and MB/s.
Both reads run after a warm-up pass, so both come from the page cache: the figure compares decoding and access
overhead, not disk speed. Reads alternate and the best of 5 rounds counts, so a busy machine disturbs them less.

    python benchmarks/prep.py [--pairs 24] [--height 720 --width 1280] [--workers 1 2] [--read-levels 1 3]
                              [--json out.json]
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

import mprnet_plugin  # noqa: F401  (first: installs the torchvision alias basicsr needs)
from basicsr.utils import FileClient, imfrombytes
from mprnet_plugin.data.lmdb_writer import make_paired_lmdb, read_meta_info
from mprnet_plugin.io.images import write_image


def synthetic_pair(rng: np.random.Generator, h: int, w: int):
    """A smooth, textured sharp image and a blurred-looking noisy partner (uint8 BGR), compressible like photos."""
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    f = rng.uniform(0.005, 0.05, size=3)
    sharp = np.stack([0.5 + 0.35 * np.sin(f[c] * xx + c) * np.cos(f[c] * 0.8 * yy) for c in range(3)], -1)
    sharp += rng.normal(0, 0.02, size=sharp.shape)
    blur = 0.5 * sharp + 0.25 * np.roll(sharp, 3, axis=1) + 0.25 * np.roll(sharp, -3, axis=1)
    blur += rng.normal(0, 0.01, size=sharp.shape)
    to8 = lambda a: np.clip(a * 255, 0, 255).round().astype(np.uint8)  # noqa: E731
    return to8(blur), to8(sharp)


def make_sources(root: Path, n: int, h: int, w: int):
    rng = np.random.default_rng(0)
    pairs = []
    for i in range(n):
        blur, sharp = synthetic_pair(rng, h, w)
        lq, gt = root / 'blur' / f'{i:06d}.png', root / 'sharp' / f'{i:06d}.png'
        write_image(lq, blur)
        write_image(gt, sharp)
        pairs.append((f'scene-{i:06d}', lq, gt))
    return pairs


def time_write(pairs, out: Path, workers: int, crop: int, step: int) -> dict:
    start = time.perf_counter()
    make_paired_lmdb(pairs, out / 'input_crops.lmdb', out / 'target_crops.lmdb', workers=workers, crop_size=crop,
                     step=step, overwrite=True, desc=f'write, {workers} worker(s)')
    seconds = time.perf_counter() - start
    crops = len(read_meta_info(out / 'input_crops.lmdb'))
    return dict(workers=workers, pairs=len(pairs), crops=crops, seconds=round(seconds, 3),
                pairs_per_s=round(len(pairs) / seconds, 2), crop_pairs_per_s=round(crops / seconds, 2))


def read_all(client: FileClient, names, client_keys) -> int:
    nbytes = 0
    for name in names:
        for ck in client_keys:
            buf = client.get(name, ck) if ck else client.get(name)
            nbytes += len(buf)
            imfrombytes(buf, float32=True)
    return nbytes


def time_reads(pairs, out: Path, levels=(1,), rounds: int = 5) -> dict:
    """Best-of-``rounds`` time to read and decode every image from full-size LMDBs (one per PNG compression level)
    and from the PNG files, alternating so that a busy machine disturbs each alike."""
    disk_client = FileClient('disk')
    files = [str(p) for _, lq, gt in pairs for p in (lq, gt)]
    readers = {'png_files': lambda: read_all(disk_client, files, [None])}
    for level in levels:
        folder = out / f'level{level}'
        make_paired_lmdb(pairs, folder / 'input.lmdb', folder / 'target.lmdb', compress_level=level, workers=1,
                         desc=f'full-size LMDB, level {level}')
        keys = [k for k, _ in read_meta_info(folder / 'input.lmdb')]
        client = FileClient('lmdb', db_paths=[str(folder / 'input.lmdb'), str(folder / 'target.lmdb')],
                            client_keys=['lq', 'gt'])
        readers[f'lmdb_level{level}'] = lambda client=client, keys=keys: read_all(client, keys, ['lq', 'gt'])
    best = {name: float('inf') for name in readers}
    nbytes = {name: fn() for name, fn in readers.items()}  # warm-up: both sources in the page cache
    for _ in range(rounds):
        for name, fn in readers.items():
            start = time.perf_counter()
            fn()
            best[name] = min(best[name], time.perf_counter() - start)
    images = 2 * len(pairs)
    results = {name: dict(images=images, seconds=round(best[name], 3), images_per_s=round(images / best[name], 1),
                          mb_per_s=round(nbytes[name] / best[name] / 1e6, 1), mb_stored=round(nbytes[name] / 1e6, 1))
               for name in readers}
    for level in levels:
        results[f'lmdb_level{level}_vs_png_files'] = round(
            results[f'lmdb_level{level}']['images_per_s'] / results['png_files']['images_per_s'], 2)
    return results


def main(argv=None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('--pairs', type=int, default=24)
    parser.add_argument('--height', type=int, default=720)
    parser.add_argument('--width', type=int, default=1280)
    parser.add_argument('--crop-size', type=int, default=512)
    parser.add_argument('--step', type=int, default=256)
    parser.add_argument('--workers', type=int, nargs='+', default=[1, 2])
    parser.add_argument('--read-levels', type=int, nargs='+', default=[1, 3],
                        help='PNG compression levels of the LMDBs read back (1 is what mprnet-prep writes by default)')
    parser.add_argument('--json', help='also write the figures to this file')
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        pairs = make_sources(root / 'src', args.pairs, args.height, args.width)
        report = dict(image_size=[args.height, args.width], cpu_count=os.cpu_count(),
                      write=[time_write(pairs, root / f'out{w}', w, args.crop_size, args.step) for w in args.workers],
                      read=time_reads(pairs, root / 'full', args.read_levels))
    print(json.dumps(report, indent=1))
    for row in report['write']:
        print(f'crop+encode+write, {row["workers"]} worker(s): {row["pairs_per_s"]} pairs/s '
              f'({row["crop_pairs_per_s"]} crop pairs/s, {row["crops"]} crops)', file=sys.stderr)
    r = report['read']
    for level in args.read_levels:
        print(f'read+decode: LMDB (PNG level {level}) {r[f"lmdb_level{level}"]["images_per_s"]} img/s vs PNG files '
              f'{r["png_files"]["images_per_s"]} img/s (x{r[f"lmdb_level{level}_vs_png_files"]})', file=sys.stderr)
    if args.json:
        Path(args.json).write_text(json.dumps(report, indent=1))
    return report


if __name__ == '__main__':
    main()
