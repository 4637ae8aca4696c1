"""Make every BasicSR model, not only ``MPRNetModel``, leave a metrics record for each set it tests.

``test_pipeline`` calls ``model.validation`` once per test set; BasicSR's models keep the set's means in
``metric_results`` and write nothing. After each call in test mode this hook writes them with
``records.write_metric_record``, unless the model wrote its own record of the set (``MPRNetModel`` does, with
per-image values) and said so in ``recorded_test_set``.
"""
from __future__ import annotations

from typing import Any

from basicsr.utils import get_root_logger

from mprnet_plugin.metrics.records import write_metric_record
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


def install_metric_recording() -> None:
    """Wrap ``BaseModel.validation`` so that every model records its test-set metrics (idempotent)."""
    from basicsr.models.base_model import BaseModel

    if getattr(BaseModel.validation, 'records_metrics', False):
        return
    original = BaseModel.validation

    def validation(self: Any, dataloader: Any, current_iter: Any, tb_logger: Any, save_img: bool = False) -> None:
        self.recorded_test_set = None
        original(self, dataloader, current_iter, tb_logger, save_img)
        record_validation(self, dataloader)

    validation.records_metrics = True  # type: ignore[attr-defined]
    validation.__doc__ = original.__doc__
    BaseModel.validation = validation
