"""mprnet_plugin: MPRNet (Multi-Stage Progressive Image Restoration) for BasicSR and MMEngine.

Importing the package installs the compatibility fixes first, then registers MPRNet's architecture, losses, model,
datasets and metrics with BasicSR's registries.
"""
from mprnet_plugin import compat  # noqa: F401  (must run before basicsr is first imported)
from mprnet_plugin import archs, data, losses, metrics, models, training  # noqa: F401  (registration)
from mprnet_plugin.archs.mprnet_arch import MPRNET_PRESETS, MPRNet, infer_mprnet_config
from mprnet_plugin.checkpoint import (CheckpointError, build_mprnet_from_checkpoint, load_mprnet_checkpoint,
                                      load_state_dict_file)
from mprnet_plugin.losses.mprnet_loss import EdgeLoss, MPRNetLoss, charbonnier
from mprnet_plugin.restore import pad_to_multiple, restore

__version__ = '0.1.0'

__all__ = [
    'MPRNET_PRESETS', 'MPRNet', 'infer_mprnet_config', 'CheckpointError', 'build_mprnet_from_checkpoint',
    'load_mprnet_checkpoint', 'load_state_dict_file', 'EdgeLoss', 'MPRNetLoss', 'charbonnier', 'pad_to_multiple',
    'restore', 'Restorer', '__version__',
]


def __getattr__(name: str):
    # The inference API pulls in image I/O; load it only when asked for.
    if name == 'Restorer':
        from mprnet_plugin.inference import Restorer
        return Restorer
    raise AttributeError(f'module {__name__!r} has no attribute {name!r}')
