"""Summary tables: formatted for the terminal, written as CSV (unrounded) and Markdown, with library versions."""
from __future__ import annotations

import csv
import io
import math
import os
from pathlib import Path
from typing import List, Mapping, Optional, Sequence, Tuple

from mprnet_plugin.io.atomic import atomic_write_text
from mprnet_plugin.metrics.benchmarks import PAPER_RESULTS
from mprnet_plugin.reporting.rows import SummaryError, SummaryRow
from mprnet_plugin.reporting.versions import library_versions


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


def write_per_image_csv(row: SummaryRow, path: os.PathLike) -> None:
    """One line per image with each metric, unrounded."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator='\n')
    names = list(row.metrics)
    writer.writerow(['image'] + names)
    for image, values in row.per_image.items():
        writer.writerow([image] + [values[n] for n in names])
    atomic_write_text(path, out.getvalue())
