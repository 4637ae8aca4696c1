"""The versions of Python, this package and the libraries that produced a set of figures."""
from __future__ import annotations

import platform
from importlib import metadata
from typing import Dict

from mprnet_plugin.version import __version__

VERSION_PACKAGES = ('mprnet_plugin', 'torch', 'torchvision', 'basicsr', 'mmengine', 'numpy', 'opencv-python',
                    'scikit-image', 'scipy')


def library_versions() -> Dict[str, str]:
    """Versions of Python and the libraries that produced the numbers."""
    versions = {'python': platform.python_version()}
    for package in VERSION_PACKAGES:
        if package == 'mprnet_plugin':
            versions[package] = __version__  # the code that is running, whatever is installed
            continue
        try:
            versions[package] = metadata.version(package)
        except metadata.PackageNotFoundError:
            versions[package] = 'not installed'
    return versions
