"""The packaged option files (recipes): list them, and resolve a name such as ``train/GoPro`` to a file.

A wheel ships the repository's top-level ``options/`` folder as ``mprnet_plugin/options/``; a checkout or an
editable install reads the top-level folder itself, so there is one copy in git.

Names: ``<group>/<file name without extension>``, e.g. ``train/MPRNet_GoPro`` or ``mmengine/mprnet_demo``. Shorter
spellings are accepted when they name one file: the ``MPRNet_`` prefix may be dropped, the group may be dropped,
case does not matter, and ``options/`` in front and the extension at the end are ignored. So ``train/GoPro``,
``MPRNet_SIDD`` or ``demo_train`` each name one recipe; ``GoPro`` alone names three (train, test, mmengine), and is
refused with the candidates listed unless the command gives a group (``mprnet-train -opt GoPro`` means
``train/MPRNet_GoPro``).
"""
from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Dict, List, Optional, Sequence

GROUPS = ('train', 'test', 'demo', 'compare', 'mmengine')
SUFFIXES = ('.yml', '.yaml', '.py')
PREFIXES = ('mprnet_',)  # dropped from short names, compared lower-case


class RecipeError(ValueError):
    """A recipe name that names no packaged file, or several."""


def options_root() -> Path:
    """The folder holding the recipe groups: inside the installed package, else the checkout's ``options/``."""
    package = Path(__file__).resolve().parents[1]  # mprnet_plugin/
    packaged = package / 'options'
    return packaged if packaged.is_dir() else package.parent / 'options'


def recipes() -> Dict[str, Path]:
    """Every packaged recipe, ``{'train/MPRNet_GoPro': path, ...}``, sorted by name."""
    root = options_root()
    found = {}
    for group in GROUPS:
        folder = root / group
        if folder.is_dir():
            for path in sorted(folder.iterdir()):
                if path.suffix in SUFFIXES and path.is_file() and not path.name.startswith(('_', '.')):
                    found[f'{group}/{path.stem}'] = path
    return found


def description(path: Path) -> str:
    """The first sentence of the file's leading comment (its summary), or ''."""
    lines = []
    with open(path, encoding='utf-8') as f:
        for line in f:
            text = line.strip()
            body = text[1:]
            # The summary is the leading comment's prose; an indented line (usage, data) or code ends it.
            if not text.startswith('#') or (lines and body.startswith('  ')) or not body.strip():
                break
            lines.append(body.strip())
    summary = ' '.join(lines)
    return re.split(r'(?<=[.!?])\s', summary, maxsplit=1)[0]


def _short(stem: str) -> str:
    stem = stem.lower()
    for prefix in PREFIXES:
        if stem.startswith(prefix):
            return stem[len(prefix):]
    return stem


def _normalise(name: str) -> str:
    name = name.replace('\\', '/').strip('/')
    if name.lower().startswith('options/'):
        name = name[len('options/'):]
    for suffix in SUFFIXES:
        if name.lower().endswith(suffix):
            return name[:-len(suffix)]
    return name


def find_recipe(name: str, group: Optional[str] = None) -> Path:
    """The packaged recipe ``name`` names (see the module docstring); ``group`` breaks ties across groups."""
    wanted = _normalise(name)
    want_group, _, want_stem = wanted.rpartition('/')
    if want_group and want_group.lower() not in GROUPS:
        raise RecipeError(f'{name!r} names no packaged recipe: {want_group!r} is not one of the groups '
                          f'{", ".join(GROUPS)}')
    table = recipes()
    candidates = [key for key in table
                  if (not want_group or key.split('/')[0] == want_group.lower())
                  and want_stem.lower() in (key.split('/')[1].lower(), _short(key.split('/')[1]))]
    exact = [key for key in candidates if key.split('/')[1] == want_stem]  # exact spelling beats case-folding
    if len(candidates) > 1 and len(exact) == 1:
        candidates = exact
    if len(candidates) > 1 and group and not want_group:
        in_group = [key for key in candidates if key.startswith(f'{group}/')]
        candidates = in_group or candidates
    if len(candidates) == 1:
        return table[candidates[0]]
    if not candidates:
        raise RecipeError(f'{name!r} is neither an existing file nor a packaged recipe name; '
                          'mprnet-options list shows the names')
    raise RecipeError(f'{name!r} names {len(candidates)} packaged recipes: {", ".join(candidates)}; '
                      'use one of those names')


def resolve_option_file(value: str, group: Optional[str] = None) -> str:
    """``value`` itself when it is an existing file, else the path of the packaged recipe it names."""
    if os.path.isfile(value):
        return value
    if os.path.isdir(value):
        raise RecipeError(f'{value!r} is a directory; expected an option file or a packaged recipe name')
    return str(find_recipe(value, group))


def resolve_opt_argument(argv: Sequence[str], group: Optional[str] = None, prog: str = 'mprnet') -> List[str]:
    """``argv`` with the value of ``-opt`` resolved by ``resolve_option_file``; says so when it names a recipe."""
    import sys

    out = list(argv)
    for i, arg in enumerate(out):
        if arg in ('-opt', '--opt') and i + 1 < len(out):
            index, value = i + 1, out[i + 1]
        elif arg.startswith(('-opt=', '--opt=')):
            index, value = i, arg.split('=', 1)[1]
        else:
            continue
        path = resolve_option_file(value, group)
        if path != value:
            print(f'{prog}: -opt {value}: the packaged recipe {path}', file=sys.stderr)
        out[index] = path if index != i else f'{arg.split("=", 1)[0]}={path}'
        break
    return out
