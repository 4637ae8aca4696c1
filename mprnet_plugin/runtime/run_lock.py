"""One running process per experiment folder: an OS file lock beside ``experiments/<name>`` (or ``results/<name>``).

BasicSR's ``mkdir_and_rename`` renames an existing ``experiments/<name>`` aside when a run starts, even while another
run of the same name is still writing into it. The launcher takes this lock first, so a second run of the same name is
refused instead. ``fcntl.flock`` is released by the OS when the holding process ends, crash included, so a lock file
left by a crashed run never blocks; the file only keeps the holder's PID for the message.
"""
from __future__ import annotations

import fcntl
import os
from pathlib import Path
from typing import IO, Optional, Union

from mprnet_plugin.errors import OptionError

PathLike = Union[str, os.PathLike]


class RunLockedError(OptionError):
    """Another running process holds the lock of this experiment folder (exit status 2: choose another name)."""


def lock_path(folder: PathLike) -> Path:
    """The lock file of ``folder``: ``.<name>.lock`` beside it (inside it would be renamed aside with it)."""
    folder = Path(folder)
    return folder.with_name(f'.{folder.name}.lock')


def _holder(handle: IO[str]) -> str:
    handle.seek(0)
    pid = handle.read().strip()
    return f'PID {pid}' if pid.isdigit() else 'a process whose PID is not recorded'


class RunLock:
    """An exclusive, non-blocking lock on an experiment folder, held until ``release`` or the process ends."""

    def __init__(self, folder: PathLike, what: Optional[str] = None) -> None:
        self.folder = Path(folder)
        self.path = lock_path(self.folder)
        self.what = what or os.fspath(self.folder)
        self._handle: Optional[IO[str]] = None

    def acquire(self) -> 'RunLock':
        """Take the lock, or raise ``RunLockedError`` naming the folder and the running process's PID."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        # 'a+' neither truncates a live holder's PID nor fails when the file exists (a crashed run's stale file).
        handle = open(self.path, 'a+', encoding='utf-8')
        try:
            fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = _holder(handle)
            handle.close()
            raise RunLockedError(f'{self.what} is in use by a running process ({holder}, lock {os.fspath(self.path)}); '
                                 'wait for it to finish, or give this run another name') from None
        handle.seek(0)
        handle.truncate()
        handle.write(f'{os.getpid()}\n')
        handle.flush()
        self._handle = handle
        return self

    def release(self) -> None:
        """Let the lock go (the file stays; an unlocked file blocks nobody)."""
        if self._handle is not None:
            fcntl.flock(self._handle.fileno(), fcntl.LOCK_UN)
            self._handle.close()
            self._handle = None

    def __enter__(self) -> 'RunLock':
        return self.acquire()

    def __exit__(self, *exc: object) -> None:
        self.release()


__all__ = ['RunLock', 'RunLockedError', 'lock_path']
