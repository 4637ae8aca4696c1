"""``mprnet-eval``: score a folder of saved outputs against a folder of targets with any benchmark's metrics.

For results produced elsewhere (another framework, the authors' scripts, ``mprnet-infer``). Outputs are paired with
targets by file name (``--suffix`` is the text outputs add to the target's stem, like BasicSR's ``val.suffix``).
Outputs may be image files or float32 RGB ``.npy`` arrays in [0, 1] (``val.save_npy``); the float metrics score
``.npy`` outputs unrounded, and 8-bit metrics round them first as BasicSR's ``tensor2img`` does (half to even).
Targets may be a folder of images or ``.npy`` files, or a BasicSR LMDB (``mprnet-prep``'s ``target.lmdb``), whose
keys are the names.
"""
from __future__ import annotations

import argparse
import csv
import io
import multiprocessing
import os
import sys
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import Any, Dict, List, Mapping, Optional, Sequence, Tuple, Union

import numpy as np

from mprnet_plugin.fileio import atomic_write_text  # (the package's import installs the host fixes, registers metrics)
from mprnet_plugin.image_io import ImageReadError, is_image_file, read_image
from mprnet_plugin.metrics.benchmarks import BENCHMARK_METRICS, FLOAT_METRIC_TYPES, PAPER_RESULTS
from mprnet_plugin.metrics.report import SummaryRow, format_console, mean_metrics, write_summary


# Where an image comes from: a file, or (LMDB folder, key).
Source = Union[Path, Tuple[str, str]]
_lmdb_clients: Dict[str, Any] = {}


class EvaluationError(ValueError):
    """Folders or options that cannot be evaluated."""


def is_result_file(path: os.PathLike) -> bool:
    """Image files and ``.npy`` arrays."""
    return is_image_file(path) or os.fspath(path).lower().endswith('.npy')


def list_results(folder: os.PathLike, what: str) -> List[Path]:
    """The image and ``.npy`` files directly in ``folder``, sorted; errors say which folder is missing or empty."""
    folder = Path(folder)
    if not folder.is_dir():
        raise EvaluationError(f'{what} folder {str(folder)!r} does not exist')
    files = sorted(p for p in folder.iterdir() if p.is_file() and is_result_file(p))
    if not files:
        raise EvaluationError(f'{what} folder {str(folder)!r} holds no image or .npy files')
    return files


def list_targets(target: os.PathLike) -> List[Tuple[str, Source]]:
    """``(name, source)`` of every target: the files of a folder by stem, or the keys of a BasicSR LMDB."""
    target = Path(target)
    if target.name.endswith('.lmdb'):
        from mprnet_plugin.data.lmdb_writer import lmdb_keys

        if not (target / 'meta_info.txt').is_file():
            raise EvaluationError(f'target LMDB {str(target)!r} has no meta_info.txt: not a BasicSR LMDB')
        return [(key, (str(target), key)) for key in lmdb_keys(target)]
    return [(p.stem, p) for p in list_results(target, 'target')]


def pair_outputs(outputs: Sequence[Path], targets: Sequence[Tuple[str, Source]], suffix: str = ''
                 ) -> List[Tuple[str, Path, Source]]:
    """``(name, output, target)`` for every target, matching the output named ``<target name><suffix>.<ext>``."""
    by_stem: Dict[str, Path] = {}
    for path in outputs:
        if path.stem in by_stem:
            raise EvaluationError(f'two outputs share the name {path.stem!r}: {by_stem[path.stem]} and {path}')
        by_stem[path.stem] = path
    pairs, missing = [], []
    for name, target in targets:
        output = by_stem.get(name + suffix)
        if output is None:
            missing.append(f'{name}{suffix}.*')
        else:
            pairs.append((name, output, target))
    if missing:
        raise EvaluationError(f'{len(missing)} of {len(targets)} targets have no output (with suffix {suffix!r}), '
                              f'e.g. {missing[:3]}; outputs found: {[p.name for p in outputs[:3]]}')
    return pairs


def read_lmdb_image(lmdb_path: str, key: str) -> np.ndarray:
    """One image of a BasicSR LMDB as stored (BGR), read with BasicSR's own client (one per LMDB and process)."""
    from basicsr.utils import FileClient, imfrombytes

    if lmdb_path not in _lmdb_clients:
        _lmdb_clients[lmdb_path] = FileClient('lmdb', db_paths=[lmdb_path], client_keys=['target'])
    content = _lmdb_clients[lmdb_path].get(key, 'target')
    img = imfrombytes(content, flag='unchanged') if content is not None else None
    if img is None:
        raise EvaluationError(f'key {key!r} of LMDB {lmdb_path!r} is missing or not an image')
    return img


def load_result(path: Source) -> np.ndarray:
    """An output or target as metrics take it: an image as stored (BGR), a ``.npy`` as float32 BGR in [0, 1]."""
    if isinstance(path, tuple):
        return read_lmdb_image(*path)
    if path.suffix.lower() != '.npy':
        return read_image(path)
    array = np.load(path)
    if array.ndim != 3 or array.shape[2] != 3 or not np.issubdtype(array.dtype, np.floating):
        raise EvaluationError(f'{path}: expected a float H x W x 3 RGB array, found {array.dtype} {array.shape}')
    return np.ascontiguousarray(array[..., ::-1])


def to_uint8(img: np.ndarray) -> np.ndarray:
    """Float images in [0, 1] rounded to uint8 as BasicSR's ``tensor2img`` does; integer images unchanged."""
    if img.dtype.kind == 'f':
        return np.round(np.clip(img, 0, 1) * 255.0).astype(np.uint8)
    return img


def score_pair(job: Tuple[str, Path, Source, Mapping[str, Mapping[str, Any]]]) -> Tuple[str, Dict[str, float]]:
    """All metrics of one output/target pair (runs in worker processes)."""
    from basicsr.metrics import calculate_metric

    name, output_path, target_path, metric_opts = job
    output, target = load_result(output_path), load_result(target_path)
    values = {}
    for metric, opt in metric_opts.items():
        floats = opt.get('type') in FLOAT_METRIC_TYPES
        data = dict(img=output if floats else to_uint8(output), img2=target if floats else to_uint8(target))
        try:
            values[metric] = float(calculate_metric(data, dict(opt)))
        except (ValueError, TypeError) as err:
            raise EvaluationError(f'{metric} on {output_path} vs {target_path}: {err}') from err
    return name, values


def metric_options(benchmark: Optional[str], metric_types: Sequence[str]) -> Dict[str, Dict[str, Any]]:
    """The metrics to compute: a benchmark's set, plus any registered metric named with ``--metric``."""
    from basicsr.utils.registry import METRIC_REGISTRY

    opts = {k: dict(v) for k, v in BENCHMARK_METRICS[benchmark].items()} if benchmark else {}
    for metric_type in metric_types:
        if metric_type not in METRIC_REGISTRY:
            raise EvaluationError(f'--metric {metric_type!r} is not a registered metric; known: '
                                  f'{sorted(name for name, _ in METRIC_REGISTRY)}')
        opts[metric_type] = {'type': metric_type, 'crop_border': 0}  # BasicSR's own metrics require crop_border
    if not opts:
        raise EvaluationError('choose a --benchmark or at least one --metric')
    return opts


def evaluate_folders(output_dir: os.PathLike, target_dir: os.PathLike, metric_opts: Mapping[str, Mapping[str, Any]],
                     suffix: str = '', workers: int = 1, name: str = 'outputs') -> SummaryRow:
    """Score every output against its target; returns a summary row with the means and the per-image values."""
    from tqdm import tqdm

    pairs = pair_outputs(list_results(output_dir, 'output'), list_targets(target_dir), suffix)
    jobs = [(n, o, t, metric_opts) for n, o, t in pairs]
    if workers > 1:
        # Fresh interpreters: a forked child of a process whose OpenCV/torch thread pools have run can hang.
        with ProcessPoolExecutor(workers, mp_context=multiprocessing.get_context('spawn')) as pool:
            results = list(tqdm(pool.map(score_pair, jobs), total=len(jobs), desc=name, unit='image'))
    else:
        results = [score_pair(job) for job in tqdm(jobs, desc=name, unit='image')]
    per_image = dict(results)
    return SummaryRow(name, len(per_image), mean_metrics(per_image, list(metric_opts)), per_image=per_image)


def write_per_image_csv(row: SummaryRow, path: os.PathLike) -> None:
    """One line per image with each metric, unrounded."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator='\n')
    names = list(row.metrics)
    writer.writerow(['image'] + names)
    for image, values in row.per_image.items():
        writer.writerow([image] + [values[n] for n in names])
    atomic_write_text(path, out.getvalue())


def build_parser() -> argparse.ArgumentParser:
    """The command-line options of ``mprnet-eval``."""
    parser = argparse.ArgumentParser(prog='mprnet-eval', description=__doc__.split('\n\n')[0])
    parser.add_argument('--output', required=True, help='folder of restored images or float32 RGB .npy outputs')
    parser.add_argument('--target', required=True,
                        help="folder of ground-truth images (or .npy), or a BasicSR LMDB (mprnet-prep's target.lmdb)")
    parser.add_argument('--benchmark', choices=sorted(BENCHMARK_METRICS),
                        help="the benchmark whose protocol to follow (its 'psnr' and 'ssim', see the README)")
    parser.add_argument('--metric', action='append', default=[], metavar='TYPE',
                        help='any metric registered in BasicSR (e.g. calculate_psnr); repeat for several')
    parser.add_argument('--suffix', default='', help="text outputs add to the target's name, e.g. '_MPRNet'")
    parser.add_argument('--name', default=None, help='the row name in the table (default: the output folder name)')
    parser.add_argument('--paper', default=None, choices=sorted(PAPER_RESULTS),
                        help="a row of the paper's table to show beside the scores, e.g. 'RealBlur-J'")
    parser.add_argument('--save-dir', default=None,
                        help='write summary.csv, summary.md and per_image.csv here (default: the output folder)')
    parser.add_argument('--workers', type=int, default=1, help='processes scoring images in parallel (default 1)')
    return parser


def run(argv: Optional[List[str]] = None) -> SummaryRow:
    """Score a folder of outputs, print the table and write it as CSV and Markdown; returns the summary row."""
    args = build_parser().parse_args(argv)
    name = args.name or Path(args.output).resolve().name
    row = evaluate_folders(args.output, args.target, metric_options(args.benchmark, args.metric), args.suffix,
                           max(1, args.workers), name)
    row.paper = args.paper
    save_dir = Path(args.save_dir or args.output)
    csv_path, md_path = write_summary([row], save_dir)
    write_per_image_csv(row, save_dir / 'per_image.csv')
    print(f'{format_console([row])}\nWritten to {csv_path}, {md_path} and {save_dir / "per_image.csv"}', flush=True)
    return row


def main(argv: Optional[List[str]] = None) -> int:
    """``mprnet-eval``: 0 on success, 1 with a one-line reason on bad input."""
    try:
        run(argv)
    except (EvaluationError, ImageReadError) as err:
        print(f'mprnet-eval: error: {err}', file=sys.stderr)
        return 1
    return 0


if __name__ == '__main__':
    sys.exit(main())
