"""The metrics record of a set any BasicSR model (not only ``MPRNetModel``) has just tested.

``test_pipeline`` calls ``model.validation`` once per test set; BasicSR's models keep the set's means in
``metric_results`` and write nothing. After each call in test mode ``record_validation`` writes them with
``records.write_metric_record``, unless the model wrote its own record of the set (``MPRNetModel`` does, with
per-image values) and said so in ``recorded_test_set``. ``compat.basicsr`` wraps ``BaseModel.validation`` with it.
"""
from __future__ import annotations

from typing import Any

from basicsr.utils import get_root_logger

from mprnet_plugin.reporting.records import write_metric_record
from mprnet_plugin.metrics.scoring import takes_unrounded


def record_validation(model: Any, dataloader: Any) -> None:
    """Write the record of the set ``model`` has just tested, from its ``metric_results`` (means only)."""
    opt = model.opt
    dataset_name = dataloader.dataset.opt['name']
    if opt['is_train'] or opt.get('rank', 0) != 0 or getattr(model, 'recorded_test_set', None) == dataset_name:
        return
    metric_opts = (opt.get('val') or {}).get('metrics') or {}
    results = getattr(model, 'metric_results', None) or {}
    means = {name: float(results[name]) for name in metric_opts if name in results}
    # BasicSR's models score through tensor2img: every metric, float ones included, sees 8-bit outputs.
    rounded_floats = [n for n, o in metric_opts.items() if takes_unrounded(o['type'])]
    path = write_metric_record(opt['path']['results_root'], dataset_name, len(dataloader.dataset), means,
                               scored_by=type(model).__name__)
    model.recorded_test_set = dataset_name
    note = f' ({", ".join(rounded_floats)} on 8-bit outputs)' if rounded_floats else ''
    get_root_logger().info(f'Metrics of {dataset_name} written to {path}{note}')
