"""The one LMDB writer: images into BasicSR's LMDB format, atomically, encoded in worker processes.

BasicSR's format (what ``PairedImageDataset`` with ``io_backend: lmdb`` reads): a folder ``<name>.lmdb`` holding an LMDB
environment whose values are PNG bytes of the image as ``cv2.imread(..., IMREAD_UNCHANGED)`` returns it (BGR, 8 or
16 bit kept), plus ``meta_info.txt`` with one line ``<key>.png (<h>,<w>,<c>) <compress_level>`` per image. Keys are
ASCII without ``.`` (the reader recovers a key as the text before the first ``.``).

Beside ``meta_info.txt`` the writer stores ``prep_info.json`` (how the LMDB was made); ``lmdb_is_complete`` compares
it, the key set and the database itself so that re-runs can skip finished outputs.
"""
from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import multiprocessing
import multiprocessing.forkserver
import os
import re
import signal
import threading
from pathlib import Path
from typing import Any, Callable, Iterable, Iterator, List, Mapping, Optional, Sequence, Tuple, Union

import cv2
import lmdb
import numpy as np
from tqdm import tqdm

from mprnet_plugin.errors import OptionError
from mprnet_plugin.data.crop_grid import crop_boxes
from mprnet_plugin.io.atomic import atomic_output
from mprnet_plugin.io.images import encode_image, read_image

logger = logging.getLogger('mprnet_plugin.prep')
PathLike = Union[str, os.PathLike]
ImageSource = Union[PathLike, np.ndarray]

META_INFO_NAME = 'meta_info.txt'
PREP_INFO_NAME = 'prep_info.json'
# Commit every this many images: bounds the memory a transaction holds and the work lost to a crash.
COMMIT_EVERY = 500
INITIAL_MAP_SIZE = 1 << 30  # doubled whenever a commit finds the map full
_KEY_PATTERN = re.compile(r'^[\x21-\x7e]+$')  # printable ASCII without spaces


class LmdbKeyError(ValueError):
    """A key BasicSR's LMDB reader cannot round-trip (non-ASCII, contains '.' or whitespace, empty, or repeated)."""


class UnstorableImageError(ValueError):
    """An image the LMDB's PNG values cannot hold exactly (a dtype other than uint8/uint16, or 2 or 5+ channels)."""


# What a PNG value holds bit for bit: 8 or 16 bits, gray (H x W or H x W x 1), BGR or BGRA.
STORABLE_DTYPES = (np.uint8, np.uint16)
STORABLE_CHANNELS = (1, 3, 4)


def check_storable(img: np.ndarray, key: str, source: Any = None) -> np.ndarray:
    """Return ``img`` if a PNG value stores it exactly, else raise ``UnstorableImageError`` naming the key."""
    channels = 1 if img.ndim == 2 else (img.shape[2] if img.ndim == 3 else None)
    problem = None
    if img.dtype not in STORABLE_DTYPES:
        problem = f'dtype {img.dtype}; expected uint8 or uint16 (convert floats yourself: PNG stores integers)'
    elif channels not in STORABLE_CHANNELS:
        problem = f'shape {img.shape}; expected H x W or H x W x C with C in {list(STORABLE_CHANNELS)}'
    elif img.shape[0] == 0 or img.shape[1] == 0:
        problem = f'shape {img.shape}; an image needs at least one pixel'
    if problem:
        where = f' ({source})' if source is not None else ''
        raise UnstorableImageError(f'LMDB key {key!r}{where}: cannot store an image of {problem}')
    return img


class LmdbArgumentError(OptionError):
    """An argument of the LMDB writer (or of ``mprnet-prep``) outside its range; the message names it."""


PNG_COMPRESS_LEVELS = range(10)  # OpenCV's IMWRITE_PNG_COMPRESSION: 0 (none) to 9 (smallest)


def _is_int(value: Any) -> bool:
    return isinstance(value, (int, np.integer)) and not isinstance(value, (bool, np.bool_))


def check_compress_level(value: Any, name: str = 'compress_level') -> int:
    """``value`` if it is a PNG compression level (an integer 0-9), else ``LmdbArgumentError`` naming ``name``."""
    if not _is_int(value) or value not in PNG_COMPRESS_LEVELS:
        raise LmdbArgumentError(f'{name}: {value!r}; expected an integer in 0-9 (the PNG compression level)')
    return int(value)


def check_positive(value: Any, name: str, what: str) -> int:
    """``value`` if it is an integer >= 1, else ``LmdbArgumentError`` naming ``name`` and what it counts."""
    if not _is_int(value) or value < 1:
        raise LmdbArgumentError(f'{name}: {value!r}; expected an integer >= 1 ({what})')
    return int(value)


def check_flag(value: Any, name: str) -> bool:
    """``value`` if it is True or False (never a string or a number read as truth), else ``LmdbArgumentError``."""
    if not isinstance(value, (bool, np.bool_)):
        raise LmdbArgumentError(f'{name}: {value!r}; expected true or false')
    return bool(value)


def check_crop_arguments(crop_size: Any, step: Any, names: Tuple[str, str] = ('crop_size', 'step')) -> None:
    """Both None (whole images) or both integers >= 1 (the crop grid); errors name the argument."""
    if (crop_size is None) != (step is None):
        raise LmdbArgumentError(f'{names[0]} and {names[1]} must be given together; got {names[0]}={crop_size!r}, '
                                f'{names[1]}={step!r}')
    if crop_size is not None:
        check_positive(crop_size, names[0], 'pixels')
        check_positive(step, names[1], 'pixels')


def _check_writer_arguments(compress_level: Any, workers: Any, overwrite: Any, desc: Any) -> None:
    """The arguments every LMDB writer takes, checked before any file is read or written."""
    check_compress_level(compress_level)
    check_positive(workers, 'workers', 'processes')
    check_flag(overwrite, 'overwrite')
    if desc is not None and not isinstance(desc, str):
        raise LmdbArgumentError(f'desc: {desc!r}; expected a string (the progress bar label) or None')


class PairError(ValueError):
    """An input/target pair that cannot be stored: unreadable, or input and target sizes differ. Names both files."""


def check_key(key: str, source: Any = None) -> str:
    """Return ``key`` if BasicSR's LMDB reader can use it, else raise ``LmdbKeyError`` naming the key and its source."""
    if not isinstance(key, str) or not _KEY_PATTERN.match(key) or '.' in key:
        where = f' (from {source})' if source is not None else ''
        raise LmdbKeyError(f'LMDB key {key!r}{where} is invalid: keys must be non-empty printable ASCII without "." '
                           f'or whitespace, because BasicSR reads a key back as the text before the first "." of its '
                           f'meta_info.txt line')
    return key


def _describe(src: ImageSource) -> str:
    return f'array {src.shape} {src.dtype}' if isinstance(src, np.ndarray) else repr(os.fspath(src))


def _load(src: ImageSource) -> np.ndarray:
    return src if isinstance(src, np.ndarray) else read_image(src)


def _shape3(img: np.ndarray) -> Tuple[int, int, int]:
    return (img.shape[0], img.shape[1], 1 if img.ndim == 2 else img.shape[2])


def _encode(img: np.ndarray, compress_level: int) -> bytes:
    return encode_image(np.ascontiguousarray(img), '.png', [cv2.IMWRITE_PNG_COMPRESSION, compress_level])


Encoded = Tuple[str, bytes, Tuple[int, int, int]]


def _encode_single(job: Tuple[str, ImageSource, int]) -> Encoded:
    key, src, compress_level = job
    img = check_storable(_load(src), key, _describe(src))
    return key, _encode(img, compress_level), _shape3(img)


def _encode_pair(job: Tuple[str, ImageSource, ImageSource, int, Optional[int], Optional[int]]
                 ) -> List[Tuple[Encoded, Encoded]]:
    """Read, check, optionally crop, and encode one pair; errors name both files."""
    key, input_src, target_src, compress_level, crop_size, step = job
    try:
        lq, gt = _load(input_src), _load(target_src)
    except (IOError, OSError) as err:
        raise PairError(f'pair {key!r}: input {_describe(input_src)}, target {_describe(target_src)}: {err}') from None
    check_storable(lq, key, f'input {_describe(input_src)}')
    check_storable(gt, key, f'target {_describe(target_src)}')
    if lq.shape != gt.shape:
        raise PairError(f'pair {key!r}: input {_describe(input_src)} has shape {lq.shape} but target '
                        f'{_describe(target_src)} has shape {gt.shape}; a pair must have the same size and channels')
    if crop_size is None:
        parts = [(key, lq, gt)]
    else:
        try:
            boxes = crop_boxes(lq.shape[0], lq.shape[1], crop_size, step)
        except ValueError as err:
            raise PairError(f'pair {key!r}: input {_describe(input_src)}, target {_describe(target_src)}: {err}') \
                from None
        parts = [(crop_key(key, i), lq[y:y + crop_size, x:x + crop_size], gt[y:y + crop_size, x:x + crop_size])
                 for i, (y, x) in enumerate(boxes)]
    return [((k, _encode(a, compress_level), _shape3(a)), (k, _encode(b, compress_level), _shape3(b)))
            for k, a, b in parts]


def crop_key(key: str, index: int) -> str:
    """Key of crop ``index`` (0-based, row-major) of image ``key``: ``<key>_s001``, ``<key>_s002``, ..."""
    return f'{key}_s{index + 1:03d}'


def _init_worker() -> None:
    """A worker's set-up: one OpenCV thread, and Ctrl-C left to the main process.

    A terminal's Ctrl-C reaches every process of the group: workers that took it would each print a
    KeyboardInterrupt traceback; the main process alone stops the pool (``terminate``) and says so in one line.
    """
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    cv2.setNumThreads(1)


@contextlib.contextmanager
def _sigint_ignored_by_new_processes() -> Iterator[None]:
    """Ignore SIGINT while helper processes are started: an ignored signal stays ignored across ``exec``.

    The fork server (and spawned workers) would otherwise take a Ctrl-C while still importing, before
    multiprocessing or ``_init_worker`` can ignore it, and print a traceback. The window is short: the fork server
    is started, not waited for.
    """
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)


def _note_sigint(caught: List[int]) -> Any:
    """Record SIGINT in ``caught`` instead of raising (main thread only); returns the handler to restore, or None."""
    if threading.current_thread() is not threading.main_thread():
        return None
    return signal.signal(signal.SIGINT, lambda signum, frame: caught.append(signum))


def _parallel_map(fn: Callable, jobs: Sequence, workers: int) -> Iterator:
    """Map ``fn`` over ``jobs`` in order, in ``workers`` processes (in this process when ``workers <= 1``)."""
    if workers <= 1 or len(jobs) <= 1:
        yield from map(fn, jobs)
        return
    # Not fork: a child forked from a process whose OpenMP/OpenCV thread pools have run can deadlock (seen after
    # torch or cv2 work in the same process). A fork server starts clean, imports this module once, and forks
    # cheap workers from there.
    caught: List[int] = []
    with _sigint_ignored_by_new_processes():
        if 'forkserver' in multiprocessing.get_all_start_methods():
            ctx = multiprocessing.get_context('forkserver')
            ctx.set_forkserver_preload([__name__])
            multiprocessing.forkserver.ensure_running()
        else:
            ctx = multiprocessing.get_context('spawn')
            pool = ctx.Pool(min(workers, len(jobs)), initializer=_init_worker)
    if ctx.get_start_method() == 'forkserver':
        # Workers fork from the server, not from here, so a handler here is not theirs. Until the pool object exists
        # a Ctrl-C would leave its half-started workers behind (Pool.__init__ cleans up on Exception only): the
        # interrupt is noted and raised once the pool can be stopped.
        previous = _note_sigint(caught)
        try:
            pool = ctx.Pool(min(workers, len(jobs)), initializer=_init_worker)
        finally:
            if previous is not None:
                signal.signal(signal.SIGINT, previous)
    try:
        if caught:
            raise KeyboardInterrupt
        yield from pool.imap(fn, jobs, chunksize=1)
        pool.close()
    finally:
        pool.terminate()
        pool.join()


class _LmdbSink:
    """Puts encoded images into one LMDB environment and writes its meta_info.txt; grows the map when full."""

    def __init__(self, path: Path, compress_level: int):
        path.mkdir(parents=True)
        self.path, self.compress_level = path, compress_level
        self.env = lmdb.open(os.fspath(path), map_size=INITIAL_MAP_SIZE, subdir=True, meminit=False, map_async=True)
        self.meta_lines: List[str] = []
        self.pending: List[Tuple[bytes, bytes]] = []
        self.keys: set = set()

    def put(self, key: str, data: bytes, shape: Tuple[int, int, int]) -> None:
        if key in self.keys:
            raise LmdbKeyError(f'LMDB key {key!r} occurs twice in {self.path.name}: keys must be unique')
        self.keys.add(key)
        self.pending.append((key.encode('ascii'), data))
        h, w, c = shape
        self.meta_lines.append(f'{key}.png ({h},{w},{c}) {self.compress_level}\n')
        if len(self.pending) >= COMMIT_EVERY:
            self.commit()

    def commit(self) -> None:
        while True:
            try:
                with self.env.begin(write=True) as txn:
                    for k, v in self.pending:
                        txn.put(k, v)
                break
            except lmdb.MapFullError:  # the aborted transaction is replayed with twice the map
                self.env.set_mapsize(self.env.info()['map_size'] * 2)
        self.pending = []

    def close(self, info: Mapping[str, Any]) -> None:
        self.commit()
        self.env.sync(True)
        self.env.close()
        (self.path / META_INFO_NAME).write_text(''.join(self.meta_lines), encoding='ascii')
        (self.path / PREP_INFO_NAME).write_text(json.dumps(dict(info), indent=1, sort_keys=True), encoding='utf-8')


def _check_lmdb_path(path: PathLike) -> Path:
    path = Path(path)
    if path.suffix != '.lmdb':
        raise ValueError(f'LMDB path {os.fspath(path)!r} must end in ".lmdb" (BasicSR requires it)')
    return path


def _note_leftovers(path: Path) -> None:
    """Warn about temporaries of ``path`` left by a killed run (not removed: another run may be writing them)."""
    for stale in sorted(path.parent.glob(f'.{path.name}.tmp-*')):
        logger.warning('%s is left over from an interrupted run of %s; delete it to free the space', stale, path.name)


def _source_id(src: ImageSource) -> str:
    if isinstance(src, np.ndarray):
        content = hashlib.blake2b(np.ascontiguousarray(src).data, digest_size=8).hexdigest()
        return f'array{src.shape}{src.dtype}:{content}'
    try:
        st = os.stat(src)
    except OSError:  # reported, naming both files of the pair, when the worker reads it
        return f'{os.path.abspath(src)}:missing'
    return f'{os.path.abspath(src)}:{st.st_size}:{st.st_mtime_ns}'


def sources_digest(rows: Iterable[Tuple[Any, ...]]) -> str:
    """A short fingerprint of (key, source, ...) rows: keys, file paths, sizes and times, array contents.

    Stored in prep_info.json so a re-run recognises an LMDB made from the very same sources (and redoes one made from
    others, e.g. GoPro's ``blur_gamma`` instead of ``blur``).
    """
    h = hashlib.sha1()
    for key, *srcs in sorted(rows, key=lambda r: r[0]):
        h.update('\t'.join([key] + [_source_id(s) for s in srcs]).encode('utf-8') + b'\n')
    return h.hexdigest()[:16]


def read_meta_info(lmdb_path: PathLike) -> List[Tuple[str, Tuple[int, int, int]]]:
    """(key, (h, w, c)) for each line of an LMDB's meta_info.txt, parsed the way BasicSR reads keys."""
    out = []
    for line in (Path(lmdb_path) / META_INFO_NAME).read_text(encoding='ascii').splitlines():
        name, shape, _level = line.split(' ')
        out.append((name.split('.')[0], tuple(int(v) for v in shape.strip('()').split(','))))
    return out


def meta_info_keys(lmdb_path: PathLike) -> List[str]:
    """The keys of an LMDB's meta_info.txt exactly as BasicSR's paired LMDB dataset reads them (text before the first
    ``.`` of each line), for any meta_info.txt, not only this writer's."""
    text = (Path(lmdb_path) / META_INFO_NAME).read_text(encoding='utf-8', errors='replace')
    return [line.split('.')[0] for line in text.splitlines() if line.strip()]


def read_prep_info(lmdb_path: PathLike) -> Optional[dict]:
    """The prep_info.json an LMDB was written with, or None if it has none or it is unreadable."""
    try:
        return json.loads((Path(lmdb_path) / PREP_INFO_NAME).read_text(encoding='utf-8'))
    except (OSError, ValueError):
        return None


def lmdb_keys(lmdb_path: PathLike) -> List[str]:
    """Every key stored in an LMDB environment, in the database's (sorted) order."""
    env = lmdb.open(os.fspath(lmdb_path), readonly=True, lock=False, readahead=False)
    try:
        with env.begin() as txn:
            return [k.decode('ascii') for k in txn.cursor().iternext(keys=True, values=False)]
    finally:
        env.close()


def lmdb_is_complete(lmdb_path: PathLike, expected_keys: Optional[Iterable[str]] = None,
                     expected_info: Optional[Mapping[str, Any]] = None) -> bool:
    """True if ``lmdb_path`` is a finished LMDB: meta_info.txt and the database hold the same keys, the key set equals
    ``expected_keys`` (when given) and prep_info.json contains ``expected_info`` (when given)."""
    path = Path(lmdb_path)
    if not (path / 'data.mdb').is_file() or not (path / META_INFO_NAME).is_file():
        return False
    try:
        meta_keys = [k for k, _ in read_meta_info(path)]
        stored = lmdb_keys(path)
    except (OSError, ValueError, lmdb.Error):
        return False
    if len(meta_keys) != len(set(meta_keys)) or set(meta_keys) != set(stored):
        return False
    if expected_keys is not None and set(expected_keys) != set(meta_keys):
        return False
    if expected_info is not None:
        info = read_prep_info(path)
        if info is None or any(info.get(k) != v for k, v in expected_info.items()):
            return False
    return True


def write_lmdb(lmdb_path: PathLike, items: Iterable[Tuple[str, ImageSource]], compress_level: int = 1,
               workers: int = 1, overwrite: bool = False, desc: Optional[str] = None,
               info: Optional[Mapping[str, Any]] = None) -> int:
    """Write (key, image path or BGR array) items to a BasicSR LMDB atomically; returns the number of images.

    Skips the work and returns the existing count when ``lmdb_path`` is already complete with the same keys and
    ``info``, unless ``overwrite``.
    """
    path = _check_lmdb_path(lmdb_path)
    _check_writer_arguments(compress_level, workers, overwrite, desc)
    if info is not None and not isinstance(info, Mapping):
        raise LmdbArgumentError(f'info: {info!r}; expected a mapping (stored in {PREP_INFO_NAME}) or None')
    items = list(items)
    keys = [check_key(k, _describe(src)) for k, src in items]
    for key, src in items:  # arrays are refused before any work; files are checked as they are read
        if isinstance(src, np.ndarray):
            check_storable(src, key, _describe(src))
    info = {'compress_level': compress_level, 'count': len(keys), 'sources': sources_digest(items), **dict(info or {})}
    if not overwrite and lmdb_is_complete(path, keys, info):
        logger.info('%s is complete; skipped (overwrite to rewrite it)', path)
        return len(keys)
    _note_leftovers(path)
    jobs = [(k, src, compress_level) for k, src in items]
    with atomic_output(path) as tmp:
        sink = _LmdbSink(tmp, compress_level)
        # closing: on Ctrl-C (raised here, outside the generator) the pool is stopped now, not at garbage collection
        with contextlib.closing(_parallel_map(_encode_single, jobs, workers)) as encoded:
            for key, data, shape in tqdm(encoded, total=len(jobs), desc=desc or path.name, unit='img',
                                         dynamic_ncols=True):
                sink.put(key, data, shape)
        sink.close(info)
    return len(keys)


def make_paired_lmdb(pairs: Sequence[Tuple[str, ImageSource, ImageSource]], input_lmdb: PathLike,
                     target_lmdb: PathLike, compress_level: int = 1, workers: int = 1, overwrite: bool = False,
                     crop_size: Optional[int] = None, step: Optional[int] = None, desc: Optional[str] = None) -> int:
    """Write (key, input, target) pairs to an input and a target LMDB with identical keys; returns the pair count.

    Each pair is read and checked in a worker (same shape, both readable: errors name both files). With ``crop_size``
    every image is cut on ``crop_boxes``' grid into keys ``<key>_s001``... Both LMDBs appear under their final
    names only when both are complete; complete outputs made from the same pairs and settings are skipped unless
    ``overwrite``.
    """
    input_path, target_path = _check_lmdb_path(input_lmdb), _check_lmdb_path(target_lmdb)
    _check_writer_arguments(compress_level, workers, overwrite, desc)
    check_crop_arguments(crop_size, step)
    pairs = sorted(pairs, key=lambda p: p[0])
    keys = [check_key(k, f'input {_describe(a)}, target {_describe(b)}') for k, a, b in pairs]
    if len(set(keys)) != len(keys):
        seen: dict = {}
        for k, a, b in pairs:
            if k in seen:
                raise LmdbKeyError(f'two pairs share the key {k!r}: input {_describe(seen[k])} and input '
                                   f'{_describe(a)}; keys must be unique')
            seen[k] = a
    info = {'compress_level': compress_level, 'pairs': len(keys), 'sources': sources_digest(pairs),
            'crop_size': crop_size, 'step': step}
    expected = None if crop_size is not None else keys  # crop keys depend on image sizes; prep_info covers them
    if not overwrite and all(lmdb_is_complete(p, expected, info) for p in (input_path, target_path)) \
            and set(lmdb_keys(input_path)) == set(lmdb_keys(target_path)):
        logger.info('%s and %s are complete; skipped (overwrite to rewrite them)', input_path, target_path.name)
        return len(keys)
    _note_leftovers(input_path)
    _note_leftovers(target_path)
    jobs = [(k, a, b, compress_level, crop_size, step) for k, a, b in pairs]
    with atomic_output(input_path) as tmp_in, atomic_output(target_path) as tmp_gt:
        sink_in, sink_gt = _LmdbSink(tmp_in, compress_level), _LmdbSink(tmp_gt, compress_level)
        encoded = _parallel_map(_encode_pair, jobs, workers)
        bar = tqdm(encoded, total=len(jobs), unit='pair', dynamic_ncols=True,
                   desc=desc or f'{input_path.parent.name}/{input_path.stem}+{target_path.stem}')
        with contextlib.closing(encoded):  # the pool stopped at once on Ctrl-C (see above)
            for parts in bar:
                for lq, gt in parts:
                    sink_in.put(*lq)
                    sink_gt.put(*gt)
        count = len(sink_in.keys)
        sink_in.close({**info, 'images': count})
        sink_gt.close({**info, 'images': count})
    return len(keys)
