"""MMEngine integration: model, data preprocessor, dataset, metric, the CPU-capable DDP wrapper and the CPU bf16
optimizer wrapper.

Importing this package registers them in MMEngine's registries (configs list it in ``custom_imports``).
"""
from mprnet_plugin.mmengine import (data_preprocessor, dataset, metric, model, optim_wrapper,  # noqa: F401
                                    wrapper)  # (registration)
from mprnet_plugin.mmengine.data_preprocessor import RestorationDataPreprocessor
from mprnet_plugin.mmengine.dataset import BasicSRPairedDataset
from mprnet_plugin.mmengine.metric import BasicSRMetric
from mprnet_plugin.mmengine.model import MPRNetRestorer
from mprnet_plugin.mmengine.optim_wrapper import CPUAutocastOptimWrapper
from mprnet_plugin.mmengine.wrapper import AnyDeviceDistributedDataParallel

__all__ = ['RestorationDataPreprocessor', 'BasicSRPairedDataset', 'BasicSRMetric', 'MPRNetRestorer',
           'AnyDeviceDistributedDataParallel', 'CPUAutocastOptimWrapper']
