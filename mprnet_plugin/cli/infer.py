"""``mprnet-infer``: restore images, folders or globs of any size with any MPRNet checkpoint.

    mprnet-infer --weights model_deblurring.pth --input blurry/ --output restored/ --tile 512
    mprnet-infer --weights model_deblurring.pth --input blurry/ --output restored/ --precision bf16 --compile
"""
from __future__ import annotations

import argparse
import glob
import logging
import os
import sys
import time
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Dict, Iterator, List, Optional, Sequence, Tuple

import numpy as np
from tqdm import tqdm

from mprnet_plugin.archs.mprnet_arch import MPRNET_PRESETS, SIZE_MULTIPLE
from mprnet_plugin.checkpoints.reading import CheckpointError
from mprnet_plugin.cli.common import UsageError, add_version, run_tool
from mprnet_plugin.cli.local_args import add_local_arguments, local_options
from mprnet_plugin.io.images import (
    IMAGE_EXTENSIONS,
    ImageReadError,
    is_image_file,
    output_extension,
    read_image,
    storable_array,
    write_image,
)
from mprnet_plugin.inference.restorer import (MIN_FALLBACK_TILE, PRECISIONS, NonFiniteError, OutOfRangeError, Restorer,
                                             check_finite, check_unit_range, same_size_batches)
from mprnet_plugin.inference.tiling import check_tile
from mprnet_plugin.io.atomic import OutputConflictError, check_parent_folder
from mprnet_plugin.runtime.precision import cpu_has_native_bf16

logger = logging.getLogger('mprnet_plugin.infer')
PROG = 'mprnet-infer'

GLOB_CHARS = '*?['

# Measured for issue 21 on this project's build machine (2 cores with AVX512-BF16 and AMX, torch 2.14.1, 2026-12-03):
# one forward of the deblurring preset with random weights on 1x3x256x256, fp32 against bf16 autocast, each in its own
# process, alternated, 2 rounds x 3 timed runs. The machine was shared (load ~18 on 2 cores): fp32 median 154.8 s,
# bf16 91.4 s, 1.7x (rounds: 1.5x, 2.3x); quiet, the issue measured 5.27 s against 1.45 s, 3.6x. Outputs: 52.8 dB
# PSNR (clamped to [0, 1]; 51.8 dB unclamped), largest difference 0.012.
BF16_SPEEDUP = '1.7x to 3.6x'
BF16_PSNR_DB = '52'
BF16_HINT = ('this CPU computes bf16 natively: --precision bf16 would restore about {speedup} faster (the lower on a '
             'busy machine), its outputs agreeing with fp32 to about {psnr} dB PSNR (deblurring preset, random '
             'weights); fp32 stays the default')


@dataclass(frozen=True)
class Job:
    """One image to restore: where it is read from and where its result goes."""

    source: Path
    target: Path


class TqdmHandler(logging.Handler):
    """Log lines printed above the progress bar instead of through it."""

    def emit(self, record: logging.LogRecord) -> None:
        tqdm.write(self.format(record), file=sys.stderr)


def parse_args(argv: Optional[Sequence[str]] = None) -> argparse.Namespace:
    """The command line of ``mprnet-infer``."""
    parser = argparse.ArgumentParser(
        prog=PROG, description='Restore images of any size with an MPRNet checkpoint (authors\', BasicSR or '
                                         'MMEngine format; the width is read from the checkpoint).')
    parser.add_argument('--weights', required=True, help='checkpoint file (.pth)')
    parser.add_argument('--input', required=True, nargs='+', metavar='PATH',
                        help='image files, folders (searched recursively) or quoted glob patterns')
    parser.add_argument('--output', required=True, metavar='DIR', help='folder for the results (sub-folders kept)')
    parser.add_argument('--task', choices=sorted(MPRNET_PRESETS),
                        help='label for the run; a warning is given when the checkpoint has another preset\'s width')
    parser.add_argument('--tile', type=int, default=0,
                        help='restore in tiles of this many pixels (a multiple of 8); 0: whole images, falling back '
                             'to tiles on out-of-memory (default: 0)')
    parser.add_argument('--tile-overlap', type=int, default=32, help='pixels shared by neighbouring tiles (default 32)')
    parser.add_argument('--fallback-tile', type=int, default=512,
                        help='first tile size tried when a whole image runs out of memory (default 512)')
    parser.add_argument('--device', default='auto', help='auto, cpu, cuda or cuda:N (default auto)')
    parser.add_argument('--precision', default='fp32', choices=list(PRECISIONS),
                        help='compute precision (default fp32). bf16 runs on CUDA and on the CPU: on a CPU with '
                             f'native bf16 (AVX512-BF16 / AMX) about {BF16_SPEEDUP} faster than fp32, outputs agreeing '
                             f'with it to about {BF16_PSNR_DB} dB PSNR; on other CPUs slow (a warning says so). fp16: '
                             'CUDA only')
    parser.add_argument('--compile', action='store_true',
                        help='run the network through torch.compile (dynamic shapes; the first image takes minutes '
                             'on a CPU; images of other sizes over about 83x83 pixels reuse the graph; the inductor '
                             'cache makes later runs quicker); falls back to eager mode with a warning if compiling '
                             'fails')
    parser.add_argument('--batch', type=int, default=1,
                        help='consecutive same-size images per forward pass, or tiles per pass when tiling (default 1)')
    parser.add_argument('--suffix', default='', help='added to each output file name before its extension')
    parser.add_argument('--ext', default=None,
                        help='output file type (png, tif, ...); default: the input\'s, but PNG for JPEG/WebP inputs')
    parser.add_argument('--skip-existing', action='store_true', help='leave images whose output already exists')
    parser.add_argument('--force', action='store_true',
                        help='replace output images that already exist (without it, or --skip-existing, they are '
                             'refused before any image is restored)')
    parser.add_argument('--checkpoint-key', default=None,
                        help='read the weights under this key (default: params_ema, params, state_dict, model)')
    parser.add_argument('--workers', type=int, default=2, help='threads reading and writing files (default 2)')
    add_version(parser)
    add_local_arguments(parser)
    args = parser.parse_args(argv)
    args.local_options = local_options(parser, args)
    if args.tile:
        try:
            check_tile(args.tile, args.tile_overlap, SIZE_MULTIPLE, '--tile', '--tile-overlap')
        except ValueError as exc:
            parser.error(f'{exc} (--tile 0: whole images)')
    if args.batch < 1 or args.workers < 1:
        parser.error('--batch and --workers must be at least 1')
    if args.force and args.skip_existing:
        parser.error('--force replaces existing outputs and --skip-existing leaves them: give one of the two')
    if args.fallback_tile < MIN_FALLBACK_TILE or args.fallback_tile % SIZE_MULTIPLE:
        parser.error(f'--fallback-tile must be a multiple of {SIZE_MULTIPLE} and at least {MIN_FALLBACK_TILE} '
                     f'(the smallest tile the out-of-memory retry tries); got {args.fallback_tile}')
    if any(sep in args.suffix for sep in ('/', '\\', os.sep)) or args.suffix in ('.', '..'):
        parser.error(f'--suffix {args.suffix!r} must not contain a path separator: outputs stay inside --output')
    return args


def _glob_base(pattern: str) -> Path:
    """The folder part of a glob pattern before its first wildcard: outputs keep the structure below it."""
    parts = Path(pattern).parts
    fixed = []
    for part in parts[:-1]:
        if any(c in part for c in GLOB_CHARS):
            break
        fixed.append(part)
    return Path(*fixed) if fixed else Path('.')


def _inside(path: Path, folder: Optional[Path]) -> bool:
    return folder is not None and path.resolve().is_relative_to(folder)


def collect_inputs(paths: Sequence[str], exclude: Optional[Path] = None) -> List[Tuple[Path, Path]]:
    """(file, path relative to its input) for every image under ``paths``: files, folders (recursive) and globs.

    Files inside ``exclude`` (the output folder) are left out of folders and globs, so re-runs never restore results.
    """
    exclude = exclude.resolve() if exclude is not None else None
    found: List[Tuple[Path, Path]] = []
    for raw in paths:
        path = Path(raw)
        if path.is_file():
            found.append((path, Path(path.name)))
        elif path.is_dir():
            files = sorted(p for p in path.rglob('*') if p.is_file() and is_image_file(p) and not _inside(p, exclude))
            if not files and _inside(path, exclude):
                raise UsageError(f'--input folder {raw!r} is --output or inside it; files in the output folder are '
                                 'never taken as inputs: choose another --output')
            if not files:
                raise FileNotFoundError(f'--input folder {raw!r} holds no image files ({", ".join(IMAGE_EXTENSIONS)})')
            found.extend((p, p.relative_to(path)) for p in files)
        elif any(c in raw for c in GLOB_CHARS):
            base = _glob_base(raw)
            files = sorted(Path(p) for p in glob.glob(raw, recursive=True)
                           if os.path.isfile(p) and is_image_file(p) and not _inside(Path(p), exclude))
            if not files:
                raise FileNotFoundError(f'--input pattern {raw!r} matches no image files')
            found.extend((p, p.relative_to(base) if p.is_relative_to(base) else Path(p.name)) for p in files)
        else:
            raise FileNotFoundError(f'--input {raw!r} is not a file, a folder or a glob pattern that matches files')
    return found


def plan_jobs(inputs: Sequence[Tuple[Path, Path]], output: Path, suffix: str, ext: Optional[str]) -> List[Job]:
    """Output paths for every input; two inputs writing one output, or an output overwriting an input, are errors."""
    jobs: List[Job] = []
    seen: Dict[Path, Path] = {}
    sources = {src.resolve() for src, _ in inputs}
    for src, rel in inputs:
        target = output / rel.parent / f'{rel.stem}{suffix}{output_extension(src, ext)}'
        key = target.resolve()
        if not key.is_relative_to(output.resolve()):
            raise UsageError(f'the output for {src} would be written outside --output ({target})')
        if key in seen:
            raise ValueError(f'{src} and {seen[key]} would both be written to {target}; use separate runs or --suffix')
        if key in sources:
            raise ValueError(f'the output for {src} would overwrite an input ({target}); choose another --output '
                             'folder or a --suffix')
        seen[key] = src
        jobs.append(Job(src, target))
    return jobs


def _read(job: Job) -> np.ndarray:
    img = read_image(job.source, orient=True)
    check_finite(img, f'image {os.fspath(job.source)!r}')
    check_unit_range(img, f'image {os.fspath(job.source)!r}')  # a float TIFF in 0-255 or HDR: named, skipped
    return img


def _write(job: Job, img: np.ndarray) -> None:
    write_image(job.target, storable_array(img, job.target.suffix))


def _prefetch(pool: ThreadPoolExecutor, jobs: Sequence[Job], ahead: int) -> Iterator[Tuple[Job, Future]]:
    """Read images on worker threads, ``ahead`` files ahead of the model."""
    pending: List[Tuple[Job, Future]] = []
    for job in jobs:
        pending.append((job, pool.submit(_read, job)))
        if len(pending) > ahead:
            yield pending.pop(0)
    yield from pending


def check_output_folder(output: Path) -> None:
    """Refuse an ``--output`` that is a file, lies under a file, or cannot be written: before any image is restored."""
    if output.exists() and not output.is_dir():
        raise UsageError(f'--output {os.fspath(output)!r} is a file; expected a folder (one restored image per input '
                         'is written into it)')
    try:
        check_parent_folder(output)
    except OutputConflictError as exc:
        raise UsageError(f'--output: {exc}') from None
    nearest = output.absolute()
    while not nearest.exists():  # the nearest existing folder is where the missing ones would be made
        nearest = nearest.parent
    if not os.access(nearest, os.W_OK | os.X_OK):
        raise UsageError(f'--output {os.fspath(output)!r}: cannot write in {os.fspath(nearest)!r} (not a writable '
                         'folder)')


def refuse_existing_outputs(jobs: Sequence[Job]) -> None:
    """Refuse, before any work, output images that exist already (``--force`` replaces, ``--skip-existing`` skips)."""
    existing = [job.target for job in jobs if job.target.is_file()]
    if existing:
        raise UsageError(f'{len(existing)} output image(s) already exist (first: {os.fspath(existing[0])!r}); pass '
                         '--skip-existing to leave them, or --force to replace them')


def run(args: argparse.Namespace) -> int:
    """Restore every input image; returns the exit status (0: all written, 1: some failed)."""
    check_output_folder(Path(args.output))
    jobs = plan_jobs(collect_inputs(args.input, exclude=Path(args.output)), Path(args.output), args.suffix, args.ext)
    skipped = 0
    if args.skip_existing:
        todo = [job for job in jobs if not job.target.exists()]
        skipped = len(jobs) - len(todo)
        jobs = todo
    elif not args.force:
        refuse_existing_outputs(jobs)
    restorer = Restorer.from_checkpoint(args.weights, device=args.device, tile=args.tile or None,
                                        overlap=args.tile_overlap, precision=args.precision, batch=args.batch,
                                        key=args.checkpoint_key, fallback_tile=args.fallback_tile,
                                        notify=logger.warning, local=args.local_options or False,
                                        compile=args.compile)
    if restorer.device.type == 'cpu' and args.precision == 'fp32' and cpu_has_native_bf16():
        logger.info(BF16_HINT.format(speedup=BF16_SPEEDUP, psnr=BF16_PSNR_DB))
    preset = restorer.preset
    widths = {k: restorer.config[k] for k in ('n_feat', 'scale_unetfeats', 'scale_orsnetfeats')}
    logger.info('checkpoint %s: MPRNet%s %s (%s preset), task %s, device %s, precision %s%s, %s', args.weights,
                '-Local' if restorer.local else '', widths, preset or 'custom', args.task or preset or 'unlabelled',
                restorer.device, args.precision, ', compiled' if args.compile else '',
                f'tiles {args.tile}px / overlap {args.tile_overlap}px' if args.tile else 'whole images')
    if args.task and preset and args.task != preset:
        logger.warning('--task %s, but the checkpoint has the %s preset\'s width: is it the right checkpoint?',
                       args.task, preset)
    if skipped:
        logger.info('skipping %d image(s) whose output already exists', skipped)

    failures: List[Tuple[Path, str]] = []
    written = 0
    start = time.perf_counter()
    with ThreadPoolExecutor(args.workers) as pool, tqdm(total=len(jobs), unit='img', desc='restoring',
                                                         dynamic_ncols=True) as bar:
        writes: List[Tuple[Job, Future]] = []

        def settle(limit: int) -> None:
            # Wait for the oldest writes so that no more than ``limit`` restored images wait in memory.
            nonlocal written
            while len(writes) > limit:
                job, future = writes.pop(0)
                try:
                    future.result()
                    written += 1
                except Exception as exc:  # noqa: BLE001 (a failed write is reported like a failed read)
                    failures.append((job.source, f'cannot write {job.target}: {type(exc).__name__}: {exc}'))
                    logger.error('failed to write %s: %s', job.target, exc)

        def restore_group(items: List[Tuple[Job, np.ndarray]]) -> None:
            try:
                results = restorer.restore_arrays([img for _, img in items], bgr=True)
            except Exception as exc:  # noqa: BLE001 (one bad image must not stop the batch)
                if len(items) > 1:  # nor poison the others of its batch: retry them one at a time
                    for item in items:
                        restore_group([item])
                    return
                job = items[0][0]
                plain = isinstance(exc, (NonFiniteError, OutOfRangeError))  # messages that say what is wrong
                reason = str(exc) if plain else f'{type(exc).__name__}: {exc}'
                failures.append((job.source, reason))
                logger.error('failed to restore %s: %s', job.source, reason)
            else:
                writes.extend((job, pool.submit(_write, job, out)) for (job, _), out in zip(items, results))

        def readable() -> Iterator[Tuple[Job, np.ndarray]]:
            for job, future in _prefetch(pool, jobs, ahead=max(2, args.batch)):
                try:
                    yield job, future.result()
                except (ImageReadError, NonFiniteError, OutOfRangeError) as exc:
                    failures.append((job.source, str(exc)))
                    logger.error('skipped: %s', exc)
                    bar.update(1)

        for group in same_size_batches(readable(), lambda item: item[1].shape[:2], args.batch):
            restore_group(group)
            bar.update(len(group))
            settle(2 * args.workers + args.batch)
        settle(0)
    elapsed = time.perf_counter() - start
    rate = written / elapsed if elapsed > 0 else 0.0
    logger.info('done: %d written, %d skipped (existing), %d failed in %.1f s (%.2f img/s) -> %s', written, skipped,
                len(failures), elapsed, rate, args.output)
    for source, reason in failures:
        logger.info('  failed: %s (%s)', source, reason)
    return 1 if failures else 0


def main(argv: Optional[Sequence[str]] = None) -> int:
    """Entry point of ``mprnet-infer``."""
    args = parse_args(argv)
    handler = TqdmHandler()
    handler.setFormatter(logging.Formatter('%(levelname)s: %(message)s'))
    root = logging.getLogger('mprnet_plugin')
    root.addHandler(handler)
    root.setLevel(logging.INFO)
    try:
        return run_tool(PROG, lambda: run(args), usage_errors=(UsageError, CheckpointError, FileNotFoundError,
                                                                ValueError))
    finally:
        root.removeHandler(handler)


if __name__ == '__main__':
    sys.exit(main())
