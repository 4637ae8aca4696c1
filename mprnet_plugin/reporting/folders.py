"""Scoring a folder of saved outputs against a folder (or BasicSR LMDB) of targets: the core of ``mprnet-eval``.

Outputs are image files or float32 RGB ``.npy`` arrays in [0, 1] (``val.save_npy``), paired with targets by name
(``data.pairing.pair_outputs``); targets are image or ``.npy`` files, or the keys of a BasicSR LMDB. Every pair is
scored by ``metrics.scoring.score_images``: the float metrics see ``.npy`` outputs unrounded, the others round them.
Both sides are on one scale (``score_images``' rule): a 16-bit output against an 8-bit target is compared in [0, 1];
a ``.npy`` whose values reach beyond [-0.5, 1.5] (0-255 floats) is refused naming the file.
"""
from __future__ import annotations

import contextlib
import multiprocessing
import os
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import Any, Dict, List, Mapping, Optional, Sequence, Tuple, Union

import numpy as np

from mprnet_plugin.data.lmdb_reader import close_lmdb_readers, is_lmdb, read_lmdb_image
from mprnet_plugin.data.lmdb_writer import META_INFO_NAME, lmdb_keys
from mprnet_plugin.data.pairing import PairingError, pair_outputs
from mprnet_plugin.io.images import ImageReadError, is_image_file, read_image
from mprnet_plugin.metrics.benchmarks import BENCHMARK_METRICS
from mprnet_plugin.metrics.scoring import (ScoringError, float_range_problem, mean_metrics, non_finite_count,
                                           score_images)
from mprnet_plugin.reporting.rows import SummaryRow

# Where an image comes from: a file, or (LMDB folder, key).
Source = Union[Path, Tuple[str, str]]


class EvaluationError(ValueError):
    """Folders, files or options that cannot be evaluated."""


def describe(source: Source) -> str:
    """A file's path, or ``LMDB:key``, for messages."""
    return f'{source[0]}:{source[1]}' if isinstance(source, tuple) else str(source)


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
    if is_lmdb(target):
        if not (target / META_INFO_NAME).is_file():
            raise EvaluationError(f'target LMDB {str(target)!r} has no {META_INFO_NAME}: not a BasicSR LMDB')
        return [(key, (str(target), key)) for key in lmdb_keys(target)]
    return [(p.stem, p) for p in list_results(target, 'target')]


def load_result(source: Source) -> np.ndarray:
    """An output or target as metrics take it: an image as stored (BGR), a ``.npy`` as float BGR in [0, 1]."""
    if isinstance(source, tuple):
        return read_lmdb_image(*source)
    if source.suffix.lower() != '.npy':
        return read_image(source)
    try:
        array = np.load(source)
    except (OSError, ValueError) as exc:
        raise EvaluationError(f'{source}: not a readable .npy array ({exc})') from None
    if array.ndim != 3 or array.shape[2] != 3 or not np.issubdtype(array.dtype, np.floating):
        raise EvaluationError(f'{source}: expected a float H x W x 3 RGB array, found {array.dtype} {array.shape}')
    bad = non_finite_count(array)
    if bad:
        raise EvaluationError(f'{source}: {bad} non-finite (NaN or infinite) values; expected finite values in [0, 1]')
    problem = float_range_problem(array)
    if problem:
        # Scoring would clip such values to [0, 1] and report nonsense: a 0-255 array must be rescaled first.
        raise EvaluationError(f'{source}: {problem}')
    return np.ascontiguousarray(array[..., ::-1])


def score_pair(job: Tuple[str, Path, Source, Mapping[str, Mapping[str, Any]]]) -> Tuple[str, Dict[str, float]]:
    """All metrics of one output/target pair (runs in worker processes); errors name both files."""
    name, output_path, target_path, metric_opts = job
    output, target = load_result(output_path), load_result(target_path)
    bad = non_finite_count(output)
    if bad:
        raise EvaluationError(f'output {describe(output_path)}: {bad} non-finite (NaN or infinite) values; '
                              'expected finite values in [0, 1]')
    try:
        return name, score_images(output, target, metric_opts)
    except (ScoringError, TypeError) as err:  # TypeError: a metric defined on uint8 only, given uint16
        raise EvaluationError(f'output {describe(output_path)} against target {describe(target_path)}: {err}'
                              ) from None


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

    try:
        pairs = pair_outputs(list_results(output_dir, 'output'), list_targets(target_dir), suffix)
    except PairingError as exc:
        raise EvaluationError(str(exc)) from None
    jobs = [(n, o, t, metric_opts) for n, o, t in pairs]
    per_image: Dict[str, Dict[str, float]] = {}
    with contextlib.ExitStack() as stack:
        stack.callback(close_lmdb_readers)  # in this process; workers close theirs at exit
        if workers > 1:
            # Fresh interpreters: a forked child of a process whose OpenCV/torch thread pools have run can hang.
            pool = stack.enter_context(ProcessPoolExecutor(workers, mp_context=multiprocessing.get_context('spawn')))
            results = pool.map(score_pair, jobs)
        else:
            results = map(score_pair, jobs)
        # Entered last, so closed first: its line is ended before an error message is printed.
        progress = stack.enter_context(tqdm(total=len(jobs), desc=name, unit='image'))
        for image, values in results:
            per_image[image] = values
            progress.update(1)
    return SummaryRow(name, len(per_image), mean_metrics(per_image, list(metric_opts)), per_image=per_image)


__all__ = ['EvaluationError', 'ImageReadError', 'evaluate_folders', 'list_results', 'list_targets', 'load_result',
           'metric_options', 'score_pair']
