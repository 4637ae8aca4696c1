"""The one option-file loader: BasicSR option files, training-memory plans and comparison files are read here.

Files are parsed as BasicSR parses its own (``basicsr.utils.options.ordered_yaml``), so what loads here loads there.
A missing, unreadable, unparsable, empty or non-mapping file is an ``OptionError`` naming the file.
"""
from __future__ import annotations

import os
from typing import Any, Dict, Mapping, Union

import yaml
from basicsr.utils.options import ordered_yaml

from mprnet_plugin.errors import OptionError

PathLike = Union[str, os.PathLike]


def load_option_file(path: PathLike, kind: str = 'option file') -> Dict[str, Any]:
    """The mapping of options in ``path``; ``kind`` names the file in messages (``comparison file``, ...)."""
    path = os.fspath(path)
    if os.path.isdir(path):
        raise OptionError(f'{kind} {path!r} is a folder; expected a YAML file')
    if not os.path.isfile(path):
        raise OptionError(f'{kind} {path!r} does not exist')
    try:
        with open(path, encoding='utf-8') as fh:
            opt = yaml.load(fh, Loader=ordered_yaml()[0])
    except (yaml.YAMLError, UnicodeDecodeError) as exc:
        raise OptionError(f'{kind} {path!r} is not valid YAML: {" ".join(str(exc).split())}') from None
    if not isinstance(opt, Mapping) or not opt:
        found = 'empty' if opt is None or opt == {} else f'a {type(opt).__name__}'
        raise OptionError(f'{kind} {path!r} is {found}; expected a mapping of options')
    return plain(opt)


def plain(value: Any) -> Any:
    """``value`` with every mapping a plain dict (YAML's ordered ones compare by order; options do not)."""
    if isinstance(value, Mapping):
        return {key: plain(item) for key, item in value.items()}
    if isinstance(value, list):
        return [plain(item) for item in value]
    return value
