"""Atomic output: write under a temporary name beside the target, then rename, so nothing half-written looks done.

What may be replaced: a file by a file; a folder only by a folder, and only one this package wrote (it carries
``OUTPUT_MARKER``, or is an LMDB with ``meta_info.txt`` and ``prep_info.json``). A file never replaces a folder, so a
user's folder is never removed because an output was named like it.
"""
from __future__ import annotations

import contextlib
import os
import shutil
import uuid
from pathlib import Path
from typing import Iterator, Union

PathLike = Union[str, os.PathLike]

# Written into every folder ``atomic_output`` produces: a later run may replace such a folder, and no other.
OUTPUT_MARKER = '.mprnet_plugin_output'
# Older LMDBs from this package carry these two instead of the marker.
LMDB_SIGNATURE = ('meta_info.txt', 'prep_info.json')
MARKER_TEXT = 'written by mprnet_plugin; a later run may replace this folder\n'


class OutputConflictError(FileExistsError):
    """An output path names something that must not be replaced (a folder, or a folder this package did not write)."""


class NotAFolderError(OutputConflictError):
    """An output path lies under something that is not a folder (a file), so nothing can be made there."""


def check_parent_folder(path: PathLike) -> None:
    """Raise ``NotAFolderError`` when the nearest existing ancestor of ``path`` is not a folder.

    Without this, ``mkdir(parents=True)`` under a file says "[Errno 17] File exists", naming neither path.
    """
    path = Path(path)
    parent = path.absolute().parent
    while not parent.exists() and parent != parent.parent:
        parent = parent.parent
    if not parent.is_dir():
        raise NotAFolderError(f'cannot write {os.fspath(path)!r}: its parent {os.fspath(parent)!r} is not a folder')


def check_writable_location(path: PathLike) -> None:
    """Raise ``OutputConflictError`` when ``path`` cannot be made: under a file, or in a folder not writable."""
    check_parent_folder(path)
    parent = Path(path).absolute().parent
    while not parent.exists():  # the nearest existing folder is where the missing ones would be made
        parent = parent.parent
    if not os.access(parent, os.W_OK | os.X_OK):
        raise OutputConflictError(f'cannot write {os.fspath(path)!r}: the folder {os.fspath(parent)!r} is not '
                                  'writable')


def refuse_existing_file(path: PathLike, force: bool, option: str = 'the output') -> None:
    """Raise ``OutputConflictError`` when ``path`` exists and ``force`` does not allow replacing it."""
    path = Path(path)
    if path.is_dir() and not path.is_symlink():
        raise OutputConflictError(f'{option} {os.fspath(path)!r} is an existing folder; a file cannot replace it '
                                  '(choose another name, or move the folder)')
    if (path.exists() or path.is_symlink()) and not force:
        raise OutputConflictError(f'{option} {os.fspath(path)!r} already exists; pass --force to replace it')


def claim_output_folder(path: PathLike, force: bool = False, option: str = 'the output folder') -> Path:
    """Make ``path`` a folder this package writes into, marked as such; refuse a user's non-empty folder.

    A folder carrying ``OUTPUT_MARKER`` (an earlier run of ours), an empty folder or a new one is taken; any other
    existing folder only with ``force``, since later writes there may replace files of the same names.
    """
    path = Path(path)
    check_parent_folder(path)
    if path.exists() and not path.is_dir():
        raise OutputConflictError(f'{option} {os.fspath(path)!r} is an existing file; expected a folder')
    foreign = path.is_dir() and not is_package_output(path) and any(path.iterdir())
    if foreign and not force:
        raise OutputConflictError(f'{option} {os.fspath(path)!r} is an existing folder this package did not write '
                                  f'(no {OUTPUT_MARKER}); pass --force to write into it, or choose another folder')
    path.mkdir(parents=True, exist_ok=True)
    # A user's folder written into with --force stays unmarked: the marker would let a later run replace it whole.
    if not foreign and not (path / OUTPUT_MARKER).exists():
        (path / OUTPUT_MARKER).write_text(MARKER_TEXT, encoding='utf-8')
    return path


def temporary_sibling(path: PathLike, kind: str = 'tmp') -> Path:
    """A unique temporary name in the same folder as ``path`` (same file system, so the rename is atomic)."""
    path = Path(path)
    return path.with_name(f'.{path.name}.{kind}-{uuid.uuid4().hex[:8]}')


def is_package_output(folder: PathLike) -> bool:
    """True when ``folder`` is a folder this package wrote (marker file, or an LMDB with its meta and prep info)."""
    folder = Path(folder)
    if not folder.is_dir() or folder.is_symlink():
        return False
    return (folder / OUTPUT_MARKER).is_file() or all((folder / name).is_file() for name in LMDB_SIGNATURE)


def check_replaceable(path: PathLike, as_folder: bool | None = None) -> None:
    """Raise ``OutputConflictError`` when writing ``path`` would replace a folder it must not.

    ``as_folder``: whether the new output is a folder (None: not known yet; only folders no output may replace fail).
    """
    path = Path(path)
    if path.is_symlink() or not path.exists():
        return
    if path.is_dir():
        if as_folder is False:
            raise OutputConflictError(f'output {os.fspath(path)!r} is an existing folder; a file cannot replace it '
                                      '(choose another name, or move the folder)')
        if not is_package_output(path):
            raise OutputConflictError(f'output {os.fspath(path)!r} is an existing folder this package did not write '
                                      f'(no {OUTPUT_MARKER}); it is left as it is: choose another name, or move it')
    elif as_folder:
        raise OutputConflictError(f'output {os.fspath(path)!r} is an existing file; a folder cannot replace it')


def _remove(path: Path) -> None:
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path, ignore_errors=True)
    elif path.exists() or path.is_symlink():
        path.unlink()


def _replace_folder(new: Path, path: Path) -> None:
    """Put folder ``new`` at ``path``: the old folder is renamed aside first, so one of the two always exists."""
    if not path.exists():
        os.replace(new, path)
        return
    old = temporary_sibling(path, 'old')
    os.replace(path, old)
    try:
        os.replace(new, path)
    except BaseException:
        os.replace(old, path)
        raise
    shutil.rmtree(old, ignore_errors=True)


@contextlib.contextmanager
def atomic_output(path: PathLike, overwrite: bool = True) -> Iterator[Path]:
    """Yield a temporary path to write a file or folder to; on success it replaces ``path``, on error it is removed.

    Refuses (``OutputConflictError``), before and after the work, to replace a folder by a file or a folder this
    package did not write; a folder it wrote is renamed aside, the new one renamed in, then the old one removed.
    """
    path = Path(path)
    if path.exists() and not overwrite:
        raise FileExistsError(f'{os.fspath(path)!r} already exists')
    check_replaceable(path)
    check_parent_folder(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = temporary_sibling(path)
    try:
        yield tmp
        if path.exists() and not overwrite:
            raise FileExistsError(f'{os.fspath(path)!r} already exists')
        is_folder = tmp.is_dir()
        check_replaceable(path, as_folder=is_folder)
        if is_folder:
            (tmp / OUTPUT_MARKER).write_text(MARKER_TEXT, encoding='utf-8')
            _replace_folder(tmp, path)
        else:
            os.replace(tmp, path)
    finally:
        if tmp.exists() or tmp.is_symlink():
            _remove(tmp)


def atomic_write_bytes(path: PathLike, data: bytes) -> None:
    """Write ``data`` to ``path`` atomically."""
    with atomic_output(path) as tmp:
        tmp.write_bytes(data)


def atomic_write_text(path: PathLike, text: str) -> None:
    """Write ``text`` (UTF-8) to ``path`` atomically."""
    atomic_write_bytes(path, text.encode('utf-8'))
