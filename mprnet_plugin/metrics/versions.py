"""The versions of Python, this package and the libraries that produced a set of figures."""
from __future__ import annotations

import platform
from importlib import metadata
from typing import Dict

VERSION_PACKAGES = ('mprnet_plugin', 'torch', 'torchvision', 'basicsr', 'mmengine', 'numpy', 'opencv-python',
                    'scikit-image', 'scipy')


def package_version() -> str:
    """This package's version (the code that is running, whatever is installed)."""
    from mprnet_plugin import __version__  # at call time: the package imports this module while it loads

    return __version__


def library_versions() -> Dict[str, str]:
    """Versions of Python and the libraries that produced the numbers."""
    versions = {'python': platform.python_version()}
    for package in VERSION_PACKAGES:
        if package == 'mprnet_plugin':
            versions[package] = package_version()
            continue
        try:
            versions[package] = metadata.version(package)
        except metadata.PackageNotFoundError:
            versions[package] = 'not installed'
    return versions
