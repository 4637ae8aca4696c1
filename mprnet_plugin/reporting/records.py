"""The per-set metrics file of a test run, ``<results_root>/metrics/<set>.json``: written and read here only.

A record holds the set's name, its image count, the mean of each metric, the per-image values when the model gives
them (``MPRNetModel`` does; BasicSR's own models give means only), the metrics scored on unrounded outputs, and the
package version that wrote it. ``install_metric_recording`` makes every BasicSR model write one in test mode.
"""
from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any, Dict, Mapping, Optional, Sequence

from mprnet_plugin.io.atomic import atomic_write_text
from mprnet_plugin.version import __version__

RECORD_KEYS = ('dataset', 'num_images', 'metrics', 'images')


class MetricRecordError(ValueError):
    """A file in ``<results_root>/metrics`` that is not a test-set metrics record."""


def record_path(results_root: os.PathLike, dataset: str) -> Path:
    """Where the record of ``dataset`` lives."""
    return Path(results_root) / 'metrics' / f'{dataset}.json'


def write_metric_record(results_root: os.PathLike, dataset: str, num_images: int, means: Mapping[str, float],
                        per_image: Optional[Mapping[str, Mapping[str, float]]] = None,
                        unrounded: Sequence[str] = (), scored_by: str = '') -> Path:
    """Write the record of one test set atomically; returns its path."""
    record = {'dataset': dataset, 'num_images': int(num_images), 'metrics': dict(means),
              'images': {k: dict(v) for k, v in (per_image or {}).items()}, 'unrounded_metrics': list(unrounded),
              'scored_by': scored_by, 'mprnet_plugin_version': __version__}
    path = record_path(results_root, dataset)
    atomic_write_text(path, json.dumps(record, indent=2) + '\n')
    return path


def read_metric_records(results_root: os.PathLike) -> Dict[str, Dict[str, Any]]:
    """Every record under ``<results_root>/metrics``, by set name."""
    records = {}
    for path in sorted((Path(results_root) / 'metrics').glob('*.json')):
        try:
            record = json.loads(path.read_text(encoding='utf-8'))
        except ValueError as exc:
            raise MetricRecordError(f'{path}: not valid JSON ({exc})') from exc
        missing = set(RECORD_KEYS) - set(record) if isinstance(record, dict) else set(RECORD_KEYS)
        if missing:
            raise MetricRecordError(f'{path}: not a test-set metrics file (missing {sorted(missing)})')
        record.setdefault('unrounded_metrics', [])
        records[record['dataset']] = record
    return records
