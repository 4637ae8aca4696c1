"""The summary of a test run: every set's metrics beside the paper's figures, printed and written as CSV and Markdown.

It reads the per-set files the test model writes (``<results_root>/metrics/<set>.json``) and adds what the benchmarks
report beyond a plain mean, all configured in the test option file:

- ``datasets.<d>.paper``: the row of ``PAPER_RESULTS`` to show beside the set;
- ``datasets.<d>.subsets``: a JSON file ``{subset: [image names]}`` (HIDE's close-ups and long shots), one row each;
- ``summary.averages``: ``[{name, sets, paper}]``, the mean of set means (the deraining table's headline average);
- SIDD's float metrics (``calculate_*_sidd_float``) re-scored on the unrounded ``.npy`` outputs (``val.save_npy``);
- ``datasets.<d>.submission: dnd``: the saved ``.npy`` crops bundled into DND's submission files instead of scores.
"""
from __future__ import annotations

import contextlib
import csv
import io
import json
import math
import os
import platform
import sys
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path
from typing import Any, Dict, Iterable, List, Mapping, Optional, Sequence, Tuple

import numpy as np

from mprnet_plugin.fileio import atomic_write_text
from mprnet_plugin.metrics.benchmarks import FLOAT_METRIC_TYPES, PAPER_RESULTS

VERSION_PACKAGES = ('mprnet_plugin', 'torch', 'torchvision', 'basicsr', 'mmengine', 'numpy', 'opencv-python',
                    'scikit-image', 'scipy')


class SummaryError(ValueError):
    """A test run's results or summary options that cannot be summarised."""


@dataclass
class SummaryRow:
    """One line of the summary table: a set, a subset or an average."""

    name: str
    num_images: int
    metrics: Dict[str, float]
    paper: Optional[str] = None
    note: str = ''
    per_image: Dict[str, Dict[str, float]] = field(default_factory=dict, repr=False)


def mean_metrics(per_image: Mapping[str, Mapping[str, float]], names: Sequence[str]) -> Dict[str, float]:
    """The mean of each metric over the images (NaN for an empty set)."""
    return {n: float(np.mean([v[n] for v in per_image.values()])) if per_image else math.nan for n in names}


def read_metric_records(results_root: os.PathLike) -> Dict[str, dict]:
    """The per-set records ``<results_root>/metrics/<set>.json`` written by the test model, by set name."""
    folder = Path(results_root) / 'metrics'
    records = {}
    for path in sorted(folder.glob('*.json')):
        with open(path, encoding='utf-8') as f:
            record = json.load(f)
        missing = {'dataset', 'num_images', 'metrics', 'images'} - set(record)
        if missing:
            raise SummaryError(f'{path}: not a test-set metrics file (missing {sorted(missing)})')
        records[record['dataset']] = record
    return records


def subset_rows(set_name: str, per_image: Mapping[str, Mapping[str, float]], subsets_file: os.PathLike,
                names: Sequence[str]) -> List[SummaryRow]:
    """One row per subset listed in ``subsets_file`` (``{subset: [image names]}``), averaged over its images."""
    path = Path(subsets_file)
    if not path.is_file():
        raise SummaryError(f'{set_name}: subsets file {str(path)!r} does not exist (datasets.*.subsets in the option '
                           'file; the data preparation writes it beside the test LMDBs)')
    subsets = json.loads(path.read_text(encoding='utf-8'))
    rows = []
    for subset, members in subsets.items():
        missing = [m for m in members if m not in per_image]
        if missing:
            raise SummaryError(f'{set_name}: {len(missing)} image(s) of subset {subset!r} in {path} were not tested, '
                               f'e.g. {missing[:3]}; found {len(per_image)} tested images')
        chosen = {m: per_image[m] for m in members}
        rows.append(SummaryRow(f'{set_name} {subset}', len(chosen), mean_metrics(chosen, names), per_image=chosen))
    return rows


def average_row(name: str, rows_by_set: Mapping[str, SummaryRow], sets: Sequence[str], names: Sequence[str],
                paper: Optional[str] = None) -> SummaryRow:
    """The mean of the listed sets' means (each set weighs the same, as in the deraining table)."""
    missing = [s for s in sets if s not in rows_by_set]
    if missing:
        raise SummaryError(f'summary average {name!r}: set(s) {missing} were not tested; tested: {sorted(rows_by_set)}')
    means = {n: float(np.mean([rows_by_set[s].metrics[n] for s in sets])) for n in names}
    total = sum(rows_by_set[s].num_images for s in sets)
    return SummaryRow(name, total, means, paper, note=f'mean of the {len(sets)} set means')


def float_per_image(dataset_opt: Mapping[str, Any], npy_dir: Path, metric_opts: Mapping[str, Mapping[str, Any]]
                    ) -> Dict[str, Dict[str, float]]:
    """Score the saved float32 RGB ``.npy`` outputs of one set against its targets with the given metrics."""
    from basicsr.data import build_dataset
    from basicsr.metrics import calculate_metric
    from tqdm import tqdm

    dataset = build_dataset(dict(dataset_opt))
    values = {}
    for i in tqdm(range(len(dataset)), desc=f'{dataset_opt["name"]}: float metrics', unit='image'):
        item = dataset[i]
        if 'gt' not in item:
            raise SummaryError(f'{dataset_opt["name"]}: float metrics need targets, the dataset gives none')
        name = os.path.splitext(os.path.basename(item['lq_path']))[0]
        path = npy_dir / f'{name}.npy'
        if not path.is_file():
            raise SummaryError(f'{dataset_opt["name"]}: float output {str(path)!r} is missing; set val.save_npy: true')
        output = np.load(path)
        target = item['gt'].numpy().transpose(1, 2, 0)  # RGB float in [0, 1]: the float metrics are order-free
        values[name] = {n: float(calculate_metric(dict(img=output, img2=target), o)) for n, o in metric_opts.items()}
    return values


def bundle_dnd(npy_dir: Path, out_dir: Path) -> int:
    """Write DND's submission files from the saved ``<image>_<crop>.npy`` outputs; returns the number of crops."""
    from mprnet_plugin.data.dnd_submission import write_dnd_submission

    crops = {p.stem: np.load(p) for p in sorted(npy_dir.glob('*.npy'))}
    if not crops:
        raise SummaryError(f'DND: no saved crops in {str(npy_dir)!r}; the DND option file needs val.save_npy: true')
    write_dnd_submission(crops, out_dir)
    return len(crops)


def summary_rows(opt: Mapping[str, Any]) -> List[SummaryRow]:
    """Build the rows of a finished test run from BasicSR's parsed test options ``opt``."""
    results_root = Path(opt['path']['results_root'])
    visualization = Path(opt['path']['visualization'])
    metric_opts = dict((opt.get('val') or {}).get('metrics') or {})
    names = list(metric_opts)
    float_opts = {n: o for n, o in metric_opts.items() if o.get('type') in FLOAT_METRIC_TYPES}
    records = read_metric_records(results_root)
    rows: List[SummaryRow] = []
    rows_by_set: Dict[str, SummaryRow] = {}
    for _, dataset_opt in sorted(opt['datasets'].items()):  # the order test_pipeline runs them in
        name = dataset_opt['name']
        if dataset_opt.get('submission') == 'dnd':
            out_dir = results_root / 'dnd_submission'
            count = bundle_dnd(visualization / name, out_dir)
            rows.append(SummaryRow(name, count, {}, dataset_opt.get('paper'),
                                   note=f'submission written to {out_dir}; scored by the benchmark server'))
            continue
        if name not in records:
            raise SummaryError(f'{name}: no metrics file {results_root / "metrics" / (name + ".json")}; '
                               'was the set tested with val.metrics set?')
        per_image = {k: dict(v) for k, v in records[name]['images'].items()}
        note = ''
        if float_opts:
            npy_dir = visualization / name
            if npy_dir.is_dir():
                for img_name, values in float_per_image(dataset_opt, npy_dir, float_opts).items():
                    per_image.setdefault(img_name, {}).update(values)
                note = 'float metrics on unrounded outputs'
            else:
                note = 'float metrics on 8-bit outputs (set val.save_npy: true for the benchmark protocol)'
        row = SummaryRow(name, len(per_image), mean_metrics(per_image, names), dataset_opt.get('paper'), note,
                         per_image)
        rows.append(row)
        rows_by_set[name] = row
        if dataset_opt.get('subsets'):
            rows.extend(subset_rows(name, per_image, dataset_opt['subsets'], names))
    for average in (opt.get('summary') or {}).get('averages') or []:
        rows.append(average_row(average['name'], rows_by_set, average['sets'], names, average.get('paper')))
    return rows


def library_versions() -> Dict[str, str]:
    """Versions of Python and the libraries that produced the numbers."""
    versions = {'python': platform.python_version()}
    for package in VERSION_PACKAGES:
        try:
            versions[package] = metadata.version(package)
        except metadata.PackageNotFoundError:
            versions[package] = 'not installed'
    return versions


def _fmt(metric: str, value: Optional[float]) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return '-'
    return f'{value:.4f}' if 'ssim' in metric.lower() else f'{value:.2f}'


def table_columns(rows: Sequence[SummaryRow]) -> List[str]:
    """Every metric name in the rows, in first-seen order."""
    names: List[str] = []
    for row in rows:
        names.extend(n for n in row.metrics if n not in names)
    return names


def table_cells(rows: Sequence[SummaryRow]) -> Tuple[List[str], List[List[str]]]:
    """Header and formatted cells: set, images, each metric, the paper's PSNR and SSIM, note."""
    names = table_columns(rows)
    header = ['set', 'images'] + names + ['paper PSNR', 'paper SSIM', 'note']
    body = []
    for row in rows:
        paper = PAPER_RESULTS.get(row.paper) if row.paper else None
        if row.paper and paper is None:
            raise SummaryError(f'{row.name}: unknown paper row {row.paper!r}; expected one of {sorted(PAPER_RESULTS)}')
        body.append([row.name, str(row.num_images)] + [_fmt(n, row.metrics.get(n)) for n in names]
                    + [_fmt('psnr', paper[0] if paper else None), _fmt('ssim', paper[1] if paper else None), row.note])
    return header, body


def format_markdown(rows: Sequence[SummaryRow], versions: Optional[Mapping[str, str]] = None) -> str:
    """The table as Markdown, with the library versions below it."""
    header, body = table_cells(rows)
    lines = ['| ' + ' | '.join(header) + ' |', '|' + '---|' * len(header)]
    lines += ['| ' + ' | '.join(cells) + ' |' for cells in body]
    if versions:
        lines += ['', 'Versions: ' + ', '.join(f'{k} {v}' for k, v in versions.items())]
    return '\n'.join(lines) + '\n'


def format_csv(rows: Sequence[SummaryRow], versions: Optional[Mapping[str, str]] = None) -> str:
    """The table as CSV with unrounded values; the library versions go in a leading ``#`` comment line."""
    names = table_columns(rows)
    out = io.StringIO()
    if versions:
        out.write('# versions: ' + ', '.join(f'{k} {v}' for k, v in versions.items()) + '\n')
    writer = csv.writer(out, lineterminator='\n')
    writer.writerow(['set', 'images'] + names + ['paper_psnr', 'paper_ssim', 'note'])
    for row in rows:
        paper = PAPER_RESULTS.get(row.paper, ('', '')) if row.paper else ('', '')
        writer.writerow([row.name, row.num_images] + [row.metrics.get(n, '') for n in names] + list(paper)
                        + [row.note])
    return out.getvalue()


def format_console(rows: Sequence[SummaryRow]) -> str:
    """The table aligned in plain text for the terminal."""
    header, body = table_cells(rows)
    widths = [max(len(r[i]) for r in [header] + body) for i in range(len(header))]
    lines = ['  '.join(c.ljust(w) for c, w in zip(r, widths)).rstrip() for r in [header] + body]
    lines.insert(1, '  '.join('-' * w for w in widths))
    return '\n'.join(lines)


def write_summary(rows: Sequence[SummaryRow], out_dir: os.PathLike, stem: str = 'summary') -> Tuple[Path, Path]:
    """Write ``<stem>.csv`` and ``<stem>.md`` (with library versions) into ``out_dir``; returns both paths."""
    versions = library_versions()
    csv_path, md_path = Path(out_dir) / f'{stem}.csv', Path(out_dir) / f'{stem}.md'
    atomic_write_text(csv_path, format_csv(rows, versions))
    atomic_write_text(md_path, format_markdown(rows, versions))
    return csv_path, md_path


def summarize_test_run(opt: Mapping[str, Any]) -> List[SummaryRow]:
    """Build, print and write (``<results_root>/summary.{csv,md}``) the summary of a finished test run."""
    rows = summary_rows(opt)
    csv_path, md_path = write_summary(rows, opt['path']['results_root'])
    print(f'\nSummary of {opt["name"]}:\n{format_console(rows)}\nWritten to {csv_path} and {md_path}', flush=True)
    return rows


def test_options_from_argv(argv: Iterable[str], root: Optional[str] = None) -> Dict[str, Any]:
    """BasicSR's parsed test options for the arguments of ``mprnet-test`` (its own parser: ``--force_yml`` and
    ``--debug`` apply as in the run); the process group, if any, is left as it is."""
    from basicsr.utils.options import parse_options

    from mprnet_plugin.compat import normalize_local_rank_argv

    args = normalize_local_rank_argv(list(argv))
    for i, arg in enumerate(args):  # the run already set up distribution; parsing again must not
        if arg == '--launcher' and i + 1 < len(args):
            args[i + 1] = 'none'
        elif arg.startswith('--launcher='):
            args[i] = '--launcher=none'
    saved = sys.argv
    sys.argv = [saved[0]] + args
    try:
        with contextlib.redirect_stdout(io.StringIO()):  # its 'Disable distributed.' would be misleading here
            opt, _ = parse_options(root or os.getcwd(), is_train=False)
    finally:
        sys.argv = saved
    return opt


def summarize_from_argv(argv: Iterable[str]) -> Optional[List[SummaryRow]]:
    """The summary step of ``mprnet-test``: on rank 0 only, summarise the run the arguments describe."""
    opt = test_options_from_argv(argv)
    if opt['rank'] != 0:
        return None
    return summarize_test_run(opt)
