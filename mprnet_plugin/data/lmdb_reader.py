"""Reading single images from a BasicSR LMDB (as ``mprnet-prep`` and ``write_lmdb`` write it) by key."""
from __future__ import annotations

import atexit
import contextlib
import os
from pathlib import Path
from typing import Dict, Sequence, Union

import lmdb
import numpy as np

from mprnet_plugin.data.lmdb_writer import META_INFO_NAME
from mprnet_plugin.io.images import decode_image

PathLike = Union[str, os.PathLike]
_envs: Dict[str, lmdb.Environment] = {}  # one read-only environment per LMDB and process (mprnet-eval's workers)


def is_lmdb(path: PathLike) -> bool:
    """True for a folder named ``*.lmdb`` (BasicSR's convention for an LMDB data root)."""
    return Path(path).name.endswith('.lmdb')


def read_lmdb_image(lmdb_path: PathLike, key: str) -> np.ndarray:
    """The image stored under ``key`` as stored (BGR, bit depth kept); errors name the LMDB and the key."""
    path = os.fspath(lmdb_path)
    if path not in _envs:
        if not (Path(path) / META_INFO_NAME).is_file():
            raise FileNotFoundError(f'{path!r} has no {META_INFO_NAME}: not a BasicSR LMDB')
        _envs[path] = lmdb.open(path, readonly=True, lock=False, readahead=False, meminit=False)
    with _envs[path].begin(write=False) as txn:
        data = txn.get(key.encode('ascii'))
    return decode_image(data, f'key {key!r} of LMDB {path!r}')


def read_lmdb_images(lmdb_path: PathLike, keys: Sequence[str]) -> Dict[str, np.ndarray]:
    """The images of ``keys``, read in one pass; the LMDB is closed afterwards (LMDB opens a file once per process,
    so a reader that stays open would stop BasicSR's own from opening it later)."""
    path = os.fspath(lmdb_path)
    if not (Path(path) / META_INFO_NAME).is_file():
        raise FileNotFoundError(f'{path!r} has no {META_INFO_NAME}: not a BasicSR LMDB')
    with contextlib.closing(lmdb.open(path, readonly=True, lock=False, readahead=False, meminit=False)) as env:
        with env.begin(write=False) as txn:
            return {key: decode_image(txn.get(key.encode('ascii')), f'key {key!r} of LMDB {path!r}') for key in keys}


def close_lmdb_readers() -> None:
    """Close the environments ``read_lmdb_image`` keeps open (LMDB opens a path once per process: BasicSR's own
    reader, or a writer, can open it again afterwards); done at exit too."""
    while _envs:
        _envs.popitem()[1].close()


atexit.register(close_lmdb_readers)
