"""``custom_imports``: the modules an option file names so that their networks, losses or models register first.

BasicSR only scans its own folders for ``*_arch.py`` and friends, so a lab's restorers (registered with
``@ARCH_REGISTRY.register()`` in the lab's own package) are unknown until their module is imported. Option files
and comparison files list those modules (MMEngine's name for the same thing); launchers import them before building
anything. A module must be importable as named (installed, or on ``PYTHONPATH``).
"""
from __future__ import annotations

import importlib
from types import ModuleType
from typing import Any, List


class CustomImportError(ImportError):
    """A ``custom_imports`` entry that is not a module name, or a module that fails to import."""


def custom_import_names(value: Any, source: str) -> List[str]:
    """The module names of a ``custom_imports`` value: a list of names, one name, or MMEngine's ``{imports: [...]}``."""
    if value is None:
        return []
    if isinstance(value, dict) and 'imports' in value:
        value = value['imports']
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, (list, tuple)) or not all(isinstance(v, str) and v.strip() for v in value):
        raise CustomImportError(f'{source}: expected a list of module names (e.g. [my_lab.archs]), found {value!r}')
    return [v.strip() for v in value]


def import_custom_modules(value: Any, source: str = 'custom_imports') -> List[str]:
    """Import every module ``value`` names (see ``custom_import_names``); returns the names, in order.

    A module that fails to import raises ``CustomImportError`` naming it, ``source`` and the reason, in one line.
    """
    names = custom_import_names(value, source)
    for name in names:
        try:
            module: ModuleType = importlib.import_module(name)
        except Exception as exc:  # whatever the module raises while importing, the user needs its name
            reason = str(exc).splitlines()[0] if str(exc) else ''
            raise CustomImportError(f'{source}: module {name!r} failed to import ({type(exc).__name__}: '
                                    f'{reason})') from exc
        del module
    return names
