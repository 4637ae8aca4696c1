"""Module paths of mprnet_plugin 0.1 that moved into sub-packages in 0.2: importing an old path still works.

``import mprnet_plugin.restore`` (say) gives a module that forwards every name to ``mprnet_plugin.inference.tiling``
and warns once (``DeprecationWarning``) where the code now lives. The table is the whole list.
"""
from __future__ import annotations

import importlib
import importlib.abc
import importlib.machinery
import importlib.util
import sys
import warnings
from types import ModuleType
from typing import Dict, Optional, Sequence

MOVED_MODULES: Dict[str, str] = {
    'mprnet_plugin.checkpoint': 'mprnet_plugin.checkpoints',
    'mprnet_plugin.checkpoint_fit': 'mprnet_plugin.checkpoints.fitting',
    'mprnet_plugin.checkpoint_convert': 'mprnet_plugin.checkpoints.conversion',
    'mprnet_plugin.safetensors_io': 'mprnet_plugin.checkpoints.safetensors_io',
    'mprnet_plugin.restore': 'mprnet_plugin.inference.tiling',
    'mprnet_plugin.export': 'mprnet_plugin.inference.export',
    'mprnet_plugin.image_io': 'mprnet_plugin.io.images',
    'mprnet_plugin.fileio': 'mprnet_plugin.io.atomic',
    'mprnet_plugin.devices': 'mprnet_plugin.runtime.devices',
    'mprnet_plugin.cpu_heap': 'mprnet_plugin.runtime.cpu_heap',
    'mprnet_plugin.recipes': 'mprnet_plugin.config.recipes',
    'mprnet_plugin.registry_imports': 'mprnet_plugin.config.custom_imports',
    'mprnet_plugin.profiling': 'mprnet_plugin.tools.profiling',
    'mprnet_plugin.train_memory': 'mprnet_plugin.tools.train_memory',
    'mprnet_plugin.compare': 'mprnet_plugin.tools.compare',
    'mprnet_plugin.metrics.summary': 'mprnet_plugin.reporting.summary',
    'mprnet_plugin.metrics.tables': 'mprnet_plugin.reporting.tables',
    'mprnet_plugin.metrics.records': 'mprnet_plugin.reporting.records',
    'mprnet_plugin.metrics.folders': 'mprnet_plugin.reporting.folders',
}


class MovedModule(ModuleType):
    """A module under an old path whose names are looked up in the module that now holds them."""

    def __init__(self, name: str, target: ModuleType) -> None:
        super().__init__(name, f'Moved to {target.__name__}.')
        self.__dict__['_target'] = target

    def __getattr__(self, name: str) -> object:
        return getattr(self.__dict__['_target'], name)

    def __dir__(self) -> list:
        return dir(self.__dict__['_target'])


class MovedModuleFinder(importlib.abc.MetaPathFinder, importlib.abc.Loader):
    """Finds the old paths of ``MOVED_MODULES`` and loads each as a ``MovedModule``."""

    def find_spec(self, fullname: str, path: Optional[Sequence[str]], target: Optional[ModuleType] = None
                  ) -> Optional[importlib.machinery.ModuleSpec]:
        """A spec for an old path, None for every other name."""
        if fullname not in MOVED_MODULES:
            return None
        return importlib.util.spec_from_loader(fullname, self, is_package=False)

    def create_module(self, spec: importlib.machinery.ModuleSpec) -> ModuleType:
        """The forwarding module, after one warning that names the new path."""
        new = MOVED_MODULES[spec.name]
        warnings.warn(f'{spec.name} moved to {new} in mprnet_plugin 0.2; import it from there', DeprecationWarning,
                      stacklevel=3)
        return MovedModule(spec.name, importlib.import_module(new))

    def exec_module(self, module: ModuleType) -> None:
        """Nothing to run: every name comes from the new module."""


def install_moved_module_aliases() -> None:
    """Put the finder on ``sys.meta_path`` once."""
    if not any(isinstance(finder, MovedModuleFinder) for finder in sys.meta_path):
        sys.meta_path.append(MovedModuleFinder())
