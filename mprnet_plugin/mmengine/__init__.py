"""MMEngine integration: model, data preprocessor, dataset, metric and the CPU-capable DDP wrapper.

Importing this package registers them in MMEngine's registries (configs list it in ``custom_imports``).
"""
from mprnet_plugin.mmengine import data_preprocessor, dataset, metric, model, wrapper  # noqa: F401  (registration)
from mprnet_plugin.mmengine.data_preprocessor import RestorationDataPreprocessor
from mprnet_plugin.mmengine.dataset import BasicSRPairedDataset
from mprnet_plugin.mmengine.metric import BasicSRMetric
from mprnet_plugin.mmengine.model import MPRNetRestorer
from mprnet_plugin.mmengine.wrapper import AnyDeviceDistributedDataParallel

__all__ = ['RestorationDataPreprocessor', 'BasicSRPairedDataset', 'BasicSRMetric', 'MPRNetRestorer',
           'AnyDeviceDistributedDataParallel']
