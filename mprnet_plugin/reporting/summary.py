"""The summary of a test run: every set's metrics beside the paper's figures, from the per-set metrics records.

It reads the records every model writes in test mode (``metrics.records``) and adds what the benchmarks report
beyond a plain mean, all configured in the test option file:

- ``datasets.<d>.paper``: the row of ``PAPER_RESULTS`` to show beside the set;
- ``datasets.<d>.subsets``: a JSON file ``{subset: [image names]}`` (HIDE's close-ups and long shots), one row each
  (needs per-image values, which ``MPRNetModel`` records);
- ``summary.averages``: ``[{name, sets, paper}]``, the mean of set means (the deraining table's headline average);
- ``datasets.<d>.submission: dnd``: the saved ``.npy`` crops bundled into DND's submission files instead of scores.
"""
from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any, Dict, List, Mapping, Optional, Sequence

import numpy as np

from mprnet_plugin.reporting.dnd_bundle import bundle_dnd
from mprnet_plugin.reporting.records import MetricRecordError, read_metric_records, record_path
from mprnet_plugin.reporting.rows import SummaryError, SummaryRow
from mprnet_plugin.reporting.tables import format_console, write_summary
from mprnet_plugin.metrics.scoring import mean_metrics, takes_unrounded


def subset_rows(set_name: str, per_image: Mapping[str, Mapping[str, float]], subsets_file: os.PathLike,
                names: Sequence[str]) -> List[SummaryRow]:
    """One row per subset listed in ``subsets_file`` (``{subset: [image names]}``), averaged over its images."""
    path = Path(subsets_file)
    if not path.is_file():
        raise SummaryError(f'{set_name}: subsets file {str(path)!r} does not exist (datasets.*.subsets in the option '
                           'file; the data preparation writes it beside the test LMDBs)')
    if not per_image:
        raise SummaryError(f'{set_name}: datasets.*.subsets needs per-image metrics, and the model recorded means '
                           'only (MPRNetModel records per-image values); remove subsets from the option file')
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


def set_row(dataset_opt: Mapping[str, Any], record: Mapping[str, Any],
            metric_opts: Mapping[str, Mapping[str, Any]]) -> SummaryRow:
    """The row of one tested set from its record; the note says how float metrics were scored."""
    names = list(metric_opts)
    per_image = {k: dict(v) for k, v in record['images'].items()}
    means = mean_metrics(per_image, names) if per_image else {n: record['metrics'].get(n, float('nan')) for n in names}
    floats = [n for n, o in metric_opts.items() if takes_unrounded(o['type'])]
    note = ''
    if floats:
        unrounded = set(record['unrounded_metrics'])
        note = ('float metrics on unrounded outputs' if unrounded.issuperset(floats)
                else f'float metrics on 8-bit outputs ({record.get("scored_by") or "the model"} rounds them)')
    return SummaryRow(dataset_opt['name'], int(record['num_images']), means, dataset_opt.get('paper'), note,
                      per_image)


def summary_rows(opt: Mapping[str, Any]) -> List[SummaryRow]:
    """Build the rows of a finished test run from BasicSR's parsed test options ``opt``."""
    results_root = Path(opt['path']['results_root'])
    metric_opts = dict((opt.get('val') or {}).get('metrics') or {})
    names = list(metric_opts)
    try:
        records = read_metric_records(results_root)
    except MetricRecordError as exc:
        raise SummaryError(str(exc)) from exc
    rows: List[SummaryRow] = []
    rows_by_set: Dict[str, SummaryRow] = {}
    for _, dataset_opt in sorted(opt['datasets'].items()):  # the order test_pipeline runs them in
        name = dataset_opt['name']
        if dataset_opt.get('submission') == 'dnd':
            out_dir = results_root / 'dnd_submission'
            count = bundle_dnd(Path(opt['path']['visualization']) / name, out_dir)
            rows.append(SummaryRow(name, count, {}, dataset_opt.get('paper'),
                                   note=f'submission written to {out_dir}; scored by the benchmark server'))
            continue
        if name not in records:
            raise SummaryError(f'{name}: no metrics file {record_path(results_root, name)}; '
                               'was the set tested with val.metrics set?')
        row = set_row(dataset_opt, records[name], metric_opts)
        rows.append(row)
        rows_by_set[name] = row
        if dataset_opt.get('subsets'):
            rows.extend(subset_rows(name, row.per_image, dataset_opt['subsets'], names))
    for average in (opt.get('summary') or {}).get('averages') or []:
        rows.append(average_row(average['name'], rows_by_set, average['sets'], names, average.get('paper')))
    return rows


def summarize_test_run(opt: Mapping[str, Any]) -> Optional[List[SummaryRow]]:
    """The summary step of ``mprnet-test`` with its parsed options: on rank 0, build, print and write
    ``<results_root>/summary.{csv,md}``; other ranks return None."""
    if opt.get('rank', 0) != 0:
        return None
    rows = summary_rows(opt)
    csv_path, md_path = write_summary(rows, opt['path']['results_root'])
    print(f'\nSummary of {opt["name"]}:\n{format_console(rows)}\nWritten to {csv_path} and {md_path}', flush=True)
    return rows
