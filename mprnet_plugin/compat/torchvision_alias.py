"""torchvision >= 0.17: the module alias ``import basicsr`` needs (basicsr 1.4.2, ``basicsr/data/degradations.py``)."""
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


