"""Every fix to the host frameworks' behaviour on today's stack, in one place.

basicsr 1.4.2 (2022) and mmengine 0.10.7 predate torch >= 2.6 and torchvision >= 0.17. Each fix below says why it
exists. Fixes that change host behaviour at run time are applied by small functions the host layers call; the one
that must happen before ``import basicsr`` runs at import of this module.
"""
from __future__ import annotations

import importlib
import importlib.util
import sys


def install_torchvision_functional_tensor_alias() -> bool:
    """Alias ``torchvision.transforms.functional_tensor`` to ``functional`` when torchvision no longer ships it.

    basicsr/data/degradations.py imports the old module name, which torchvision removed in 0.17; without the alias
    ``import basicsr`` fails. Returns True when the alias was installed.
    """
    name = 'torchvision.transforms.functional_tensor'
    if name in sys.modules:
        return False
    try:
        if importlib.util.find_spec(name) is not None:
            return False
    except ModuleNotFoundError:  # torchvision itself is missing: nothing to alias, basicsr will say so
        return False
    sys.modules[name] = importlib.import_module('torchvision.transforms.functional')
    return True


install_torchvision_functional_tensor_alias()


def allow_mmengine_checkpoint_globals() -> bool:
    """Let ``torch.load(weights_only=True)`` read MMEngine checkpoints (torch >= 2.6 refuses them by default).

    MMEngine stores its ``HistoryBuffer`` log buffers and numpy scalars/arrays beside the weights. Returns True when
    the types were registered (mmengine importable), False otherwise.
    """
    try:
        import numpy as np
        from mmengine.logging import HistoryBuffer
    except ImportError:
        return False
    np_multiarray = np._core.multiarray if hasattr(np, "_core") else np.core.multiarray
    safe = [HistoryBuffer, np.ndarray, np.dtype, np_multiarray._reconstruct, np_multiarray.scalar]
    safe += [type(np.dtype(t)) for t in ('float64', 'float32', 'int64', 'int32', 'bool', 'uint8')]
    torch_serialization().add_safe_globals(safe)
    return True


def torch_serialization():  # small indirection so importing this module does not import torch first
    """``torch.serialization``, imported on first use."""
    import torch.serialization
    return torch.serialization
