"""Pairing inputs with targets by name, file names as LMDB keys, and count checks against the published counts."""
from __future__ import annotations

import logging
import os
import re
import warnings
from pathlib import Path
from typing import Any, Dict, Iterable, List, Mapping, Optional, Tuple, Union

from mprnet_plugin.io.images import is_image_file

PathLike = Union[str, os.PathLike]
Pair = Tuple[str, Path, Path]

logger = logging.getLogger('mprnet_plugin.prep')


class PairingError(ValueError):
    """Inputs and targets that do not match up: a missing partner or two files claiming the same key."""


class DatasetLayoutError(FileNotFoundError):
    """A dataset folder or file that is not where the distributed archive puts it."""


class CountMismatchError(ValueError):
    """A count that differs from the published one, under ``strict``."""


class CountMismatchWarning(UserWarning):
    """A count that differs from the published one (for instance a partial copy of a dataset)."""


def name_to_key(name: str) -> str:
    """LMDB key for a file name: the name without its image extension, with '.' and whitespace replaced by '_'.

    ``110fromGOPR1087.MP4.png`` becomes ``110fromGOPR1087_MP4`` (BasicSR cuts keys at the first '.').
    """
    stem = name[:-len(Path(name).suffix)] if is_image_file(name) else name
    return re.sub(r'[.\s]', '_', stem)


def require_dir(path: PathLike, what: str) -> Path:
    """Return ``path`` if it is a folder, else raise ``DatasetLayoutError`` saying what was expected there."""
    path = Path(path)
    if not path.is_dir():
        raise DatasetLayoutError(f'{what}: expected a folder at {os.fspath(path)!r}, found '
                                 f'{"a file" if path.exists() else "nothing"}')
    return path


def require_file(path: PathLike, what: str) -> Path:
    """Return ``path`` if it is a file, else raise ``DatasetLayoutError`` saying what was expected there."""
    path = Path(path)
    if not path.is_file():
        raise DatasetLayoutError(f'{what}: expected a file at {os.fspath(path)!r}, found '
                                 f'{"a folder" if path.exists() else "nothing"}')
    return path


def list_images(folder: PathLike) -> List[Path]:
    """Image files directly inside ``folder`` (any extension case), sorted by name."""
    return sorted(p for p in Path(folder).iterdir() if p.is_file() and is_image_file(p.name))


def index_by_key(files: Iterable[Path], key_of=lambda p: name_to_key(p.name)) -> Dict[str, Path]:
    """Map key -> file; two files with the same key (say ``a.png`` and ``a.jpg``) are a ``PairingError``."""
    out: Dict[str, Path] = {}
    for path in files:
        key = key_of(path)
        if key in out:
            raise PairingError(f'{os.fspath(out[key])!r} and {os.fspath(path)!r} both map to the key {key!r}; '
                               f'remove one of them')
        out[key] = path
    return out


def pair_by_key(inputs: Mapping[str, Path], targets: Mapping[str, Path]) -> List[Pair]:
    """(key, input, target) for every key, sorted; a key present on one side only is a ``PairingError`` naming the
    file found and the partner expected."""
    for found, other, side, other_side in ((inputs, targets, 'input', 'target'), (targets, inputs, 'target', 'input')):
        missing = sorted(set(found) - set(other))
        if missing:
            key = missing[0]
            partner_dir = os.fspath(next(iter(other.values())).parent) if other else '(no files on that side)'
            more = f' (and {len(missing) - 1} more)' if len(missing) > 1 else ''
            raise PairingError(f'{side} {os.fspath(found[key])!r} has no {other_side} partner: expected a file named '
                               f'{found[key].stem}.* in {partner_dir!r}{more}')
    return [(k, Path(inputs[k]), Path(targets[k])) for k in sorted(inputs)]


def pair_outputs(outputs: Iterable[Path], targets: Iterable[Tuple[str, Any]], suffix: str = ''
                 ) -> List[Tuple[str, Path, Any]]:
    """``(name, output, target)`` for every target, matching the output named ``<target name><suffix>.<ext>``
    (BasicSR's ``val.suffix``); outputs without a target are left out, a target without an output is an error."""
    outputs = list(outputs)
    by_stem = index_by_key(outputs, key_of=lambda p: p.stem)
    targets = list(targets)
    pairs, missing = [], []
    for name, target in targets:
        output = by_stem.get(name + suffix)
        if output is None:
            missing.append(f'{name}{suffix}.*')
        else:
            pairs.append((name, output, target))
    if missing:
        raise PairingError(f'{len(missing)} of {len(targets)} targets have no output (with suffix {suffix!r}), '
                           f'e.g. {missing[:3]}; outputs found: {[p.name for p in outputs[:3]]}')
    return pairs


def pair_folders(input_dir: PathLike, target_dir: PathLike, drop: Iterable[str] = ()) -> List[Pair]:
    """Pair the images of two folders by file stem (extensions may differ), leaving out the stems in ``drop``."""
    drop = set(drop)
    inputs = index_by_key(p for p in list_images(require_dir(input_dir, 'input images')) if p.stem not in drop)
    targets = index_by_key(p for p in list_images(require_dir(target_dir, 'target images')) if p.stem not in drop)
    return pair_by_key(inputs, targets)


def check_count(what: str, found: int, expected: Optional[int], strict: bool = False) -> bool:
    """Compare a count with the published one: a loud warning on mismatch, ``CountMismatchError`` under ``strict``.

    Returns True when the counts agree (or nothing is published).
    """
    if expected is None or found == expected:
        return True
    msg = (f'{what}: expected {expected} as published, found {found}'
           f'{" (a partial copy?)" if found < expected else ""}')
    if strict:
        raise CountMismatchError(msg + '; run without --strict to accept it')
    logger.warning(msg)
    warnings.warn(msg, CountMismatchWarning, stacklevel=2)
    return False
