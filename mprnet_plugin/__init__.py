"""mprnet_plugin: MPRNet (Multi-Stage Progressive Image Restoration) for BasicSR and MMEngine.

Importing the package first makes ``import basicsr`` work on today's torchvision (``compat.torchvision_alias``),
then registers MPRNet's architectures, losses, model, datasets and metrics with BasicSR's registries.
"""
from mprnet_plugin.compat.torchvision_alias import install_torchvision_functional_tensor_alias
from mprnet_plugin.version import __version__

install_torchvision_functional_tensor_alias()  # before basicsr is first imported (by the registrations below)

from mprnet_plugin import archs, data, losses, metrics, models, training  # noqa: E402,F401  (registration)
from mprnet_plugin.archs.mprnet_arch import MPRNET_PRESETS, MPRNet, infer_mprnet_config  # noqa: E402
from mprnet_plugin.checkpoints import (CheckpointError, build_mprnet_from_checkpoint,  # noqa: E402
                                       load_mprnet_checkpoint, load_state_dict_file)
from mprnet_plugin.compat.moved_modules import install_moved_module_aliases  # noqa: E402
from mprnet_plugin.inference.tiling import pad_to_multiple, restore  # noqa: E402
from mprnet_plugin.losses.mprnet_loss import EdgeLoss, MPRNetLoss, charbonnier  # noqa: E402

install_moved_module_aliases()

__all__ = [
    'MPRNET_PRESETS', 'MPRNet', 'infer_mprnet_config', 'CheckpointError', 'build_mprnet_from_checkpoint',
    'load_mprnet_checkpoint', 'load_state_dict_file', 'EdgeLoss', 'MPRNetLoss', 'charbonnier', 'pad_to_multiple',
    'restore', 'Restorer', '__version__',
]


def __getattr__(name: str):
    # The inference API pulls in image I/O; load it only when asked for.
    if name == 'Restorer':
        from mprnet_plugin.inference.restorer import Restorer
        return Restorer
    raise AttributeError(f'module {__name__!r} has no attribute {name!r}')
