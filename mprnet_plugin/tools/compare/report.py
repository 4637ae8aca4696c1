"""The comparison's outputs: a Markdown and a CSV table, a quality-against-cost plot, and a grid of restored crops."""
from __future__ import annotations

import csv
import io
from pathlib import Path
from typing import Any, Dict, List, Sequence

import numpy as np

from mprnet_plugin.io.atomic import atomic_output, atomic_write_text

# Columns of the table: (header, key in a result row, format).
COST_COLUMNS = [
    ('parameters (M)', 'parameters', lambda v: f'{v / 1e6:.3f}'),
    ('GMACs', 'macs', lambda v: f'{v / 1e9:.2f}'),
    ('latency (ms)', 'latency_s', lambda v: f'{v * 1e3:.1f}'),
    ('peak memory (MB)', 'peak_memory_bytes', lambda v: f'{v / 2 ** 20:.1f}'),
]
TRAIN_COLUMNS = [
    ('train iters', 'train_iterations', str),
    ('train time (s)', 'train_seconds', lambda v: f'{v:.1f}'),
]


def table_rows(results: Sequence[Dict[str, Any]], metric_names: Sequence[str]) -> List[List[str]]:
    """Header and one formatted row per architecture."""
    header = ['architecture', 'type'] + [name for name in metric_names] + [h for h, _, _ in COST_COLUMNS]
    header += [h for h, _, _ in TRAIN_COLUMNS]
    rows = [header]
    for r in results:
        row = [str(r['name']), str(r['type'])]
        row += [f"{r['metrics'][m]:.4f}" if m == 'ssim' else f"{r['metrics'][m]:.2f}" for m in metric_names]
        for _, key, fmt in COST_COLUMNS + TRAIN_COLUMNS:
            value = r.get(key)
            row.append('n/a' if value is None else fmt(value))
        rows.append(row)
    return rows


def markdown_table(rows: List[List[str]]) -> str:
    """Rows as a GitHub Markdown table."""
    lines = ['| ' + ' | '.join(rows[0]) + ' |', '|' + '---|' * len(rows[0])]
    lines += ['| ' + ' | '.join(row) + ' |' for row in rows[1:]]
    return '\n'.join(lines) + '\n'


def write_tables(out_dir: Path, results: Sequence[Dict[str, Any]], metric_names: Sequence[str],
                 header_lines: Sequence[str]) -> Dict[str, Path]:
    """Write ``comparison.md`` (with a header describing the run) and ``comparison.csv`` (raw numbers)."""
    rows = table_rows(results, metric_names)
    md_path, csv_path = out_dir / 'comparison.md', out_dir / 'comparison.csv'
    atomic_write_text(md_path, '\n'.join(header_lines) + '\n\n' + markdown_table(rows))
    buf = io.StringIO()
    writer = csv.writer(buf)
    keys = ['parameters', 'macs', 'latency_s', 'peak_memory_bytes', 'train_iterations', 'train_seconds']
    writer.writerow(['architecture', 'type', *metric_names, *keys])
    for r in results:
        writer.writerow([r['name'], r['type'], *[r['metrics'][m] for m in metric_names],
                         *['' if r.get(k) is None else r[k] for k in keys]])
    atomic_write_text(csv_path, buf.getvalue())
    return {'markdown': md_path, 'csv': csv_path}


def _pyplot():
    import matplotlib
    matplotlib.use('Agg')  # files only, no display
    import matplotlib.pyplot as plt
    return plt


def plot_tradeoff(path: Path, results: Sequence[Dict[str, Any]], metric: str, input_size: Sequence[int]) -> Path:
    """PSNR (or ``metric``) against GMACs and against latency, one labelled point per architecture."""
    plt = _pyplot()
    fig, axes = plt.subplots(1, 2, figsize=(11, 4.2))
    size = f'{input_size[0]}x{input_size[1]}'
    for ax, key, scale, label in ((axes[0], 'macs', 1e-9, f'GMACs at {size} (log scale)'),
                                  (axes[1], 'latency_s', 1e3, f'latency at {size}, ms (log scale)')):
        for r in results:
            if r.get(key) is None:
                continue
            x, y = r[key] * scale, r['metrics'][metric]
            ax.scatter([x], [y], s=40, zorder=3)
            ax.annotate(str(r['name']), (x, y), textcoords='offset points', xytext=(5, 4), fontsize=8)
        ax.set_xscale('log')
        ax.set_xlabel(label)
        ax.set_ylabel(metric.upper())
        ax.grid(True, which='both', alpha=0.3)
    axes[0].set_title(f'{metric.upper()} against compute')
    axes[1].set_title(f'{metric.upper()} against latency')
    fig.tight_layout()
    with atomic_output(path) as tmp:
        fig.savefig(tmp, dpi=120, format='png')
    plt.close(fig)
    return path


def plot_crop_grid(path: Path, reference: Dict[str, List[np.ndarray]], results: Sequence[Dict[str, Any]],
                   crops: Dict[str, List[np.ndarray]], metric: str) -> Path:
    """Rows: validation crops; columns: degraded input, each architecture, ground truth (BGR arrays in, RGB shown)."""
    plt = _pyplot()
    columns = [('input', reference['lq'])] + [(f"{r['name']}\n{metric.upper()} {r['metrics'][metric]:.2f}",
                                               crops[r['slug']]) for r in results] + [('ground truth', reference['gt'])]
    n_rows, n_cols = len(reference['lq']), len(columns)
    if n_rows == 0:
        raise ValueError('no crops to show: grid.images is 0 or the validation set is empty')
    fig, axes = plt.subplots(n_rows, n_cols, figsize=(2.1 * n_cols, 2.1 * n_rows + 0.5), squeeze=False)
    for col, (title, images) in enumerate(columns):
        for row in range(n_rows):
            ax = axes[row][col]
            img = images[row]
            ax.imshow(img[..., ::-1] if img.ndim == 3 else img, cmap=None if img.ndim == 3 else 'gray')
            ax.set_xticks([])
            ax.set_yticks([])
            if row == 0:
                ax.set_title(title, fontsize=8)
    fig.tight_layout()
    with atomic_output(path) as tmp:
        fig.savefig(tmp, dpi=110, format='png')
    plt.close(fig)
    return path
