"""Read every MPRNet checkpoint layout: the authors', BasicSR's, MMEngine's, bare state dicts and safetensors."""
from __future__ import annotations

import os
import pickle
import zipfile
from typing import Dict, List, Optional, Tuple, Union

import torch
from torch import Tensor, nn

from mprnet_plugin.checkpoints.safe_loading import RefusedGlobal, mmengine_weights_safe_globals
from mprnet_plugin.checkpoints.safetensors_io import is_safetensors_file, read_safetensors

PathLike = Union[str, os.PathLike]

# Where each layout keeps the weights, in the order we look: EMA weights first, as BasicSR's own inference does.
WEIGHT_KEYS = ('params_ema', 'params', 'state_dict', 'model')
# Prefixes that wrappers add: DataParallel/DDP, and our MMEngine model's attribute.
WRAPPER_PREFIXES = ('module.', 'generator.')


class CheckpointError(RuntimeError):
    """A checkpoint file that cannot be read or does not fit the model."""


def read_checkpoint(path: PathLike) -> Dict[str, object]:
    """Load a ``.pth`` (``weights_only=True``) or ``.safetensors`` checkpoint; errors name the file.

    Weights a user hands in never get ``getattr`` or other callables: an MMEngine checkpoint's log buffers are read
    as inert stand-ins (``safe_loading.mmengine_weights_safe_globals``); only MMEngine's resume of its own run
    loads them for real (``mprnet_plugin.mmengine.runner``).
    """
    path = os.fspath(path)
    if os.path.isdir(path):
        raise CheckpointError(f'checkpoint {path!r} is a directory; expected a checkpoint file (.pth or .safetensors)')
    if not os.path.isfile(path):
        raise CheckpointError(f'checkpoint {path!r} does not exist')
    if os.path.getsize(path) == 0:
        raise CheckpointError(f'checkpoint {path!r} is empty (0 bytes); expected a .pth or .safetensors file')
    if is_safetensors_file(path):
        try:
            return dict(read_safetensors(path)[0])
        except Exception as exc:  # safetensors raises its own types for truncated or inconsistent files
            raise CheckpointError(f'cannot read checkpoint {path!r}: {type(exc).__name__}: {short_reason(exc)}') \
                from exc
    foreign = foreign_format(path)
    if foreign is not None:
        raise CheckpointError(f'{path!r} is not a checkpoint ({foreign}); {EXPECTED_FILES}')
    try:
        try:
            obj = torch.load(path, map_location='cpu', weights_only=True)
        except pickle.UnpicklingError:
            # MMEngine checkpoints also pickle log buffers (which reference getattr) and numpy scalars: retry with
            # numpy's types and inert stand-ins for the buffers; getattr itself is never admitted.
            with torch.serialization.safe_globals(mmengine_weights_safe_globals()):
                obj = torch.load(path, map_location='cpu', weights_only=True)
    except RefusedGlobal as exc:
        raise CheckpointError(f'checkpoint {path!r} refused: {exc}') from exc
    except pickle.UnpicklingError as exc:
        reason = short_reason(exc)
        if reason.startswith('Unsupported operand'):
            # The file is a pickle that torch.save never writes (another protocol, or another program's data).
            raise CheckpointError(f'{path!r} is not a checkpoint (a pickle torch.save does not write: {reason}); '
                                  f'{EXPECTED_FILES}') from exc
        raise CheckpointError(f'cannot read checkpoint {path!r}: {type(exc).__name__}: {reason}') from exc
    except Exception as exc:  # torch raises several types for truncated, foreign or unsafe files
        raise CheckpointError(f'cannot read checkpoint {path!r}: {type(exc).__name__}: {short_reason(exc)}') from exc
    if not isinstance(obj, dict):
        raise CheckpointError(f'checkpoint {path!r} holds a {type(obj).__name__}, expected a dict of weights')
    return obj


def short_reason(exc: BaseException) -> str:
    """The informative line of torch's multi-paragraph weights-only error (what it refused), else the message.

    Never torch's advice to re-run with ``weights_only=False``: for a file a user hands in it is unsafe, and for a
    file that is not a checkpoint it is wrong.
    """
    text = str(exc)
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    for line in lines:
        if 'Unsupported global' in line or 'unrecognized function' in line or line.startswith('Unsupported operand'):
            return line
    if 'WeightsUnpickler error:' in text:
        # The reason follows torch's marker, on the same line or the next non-empty one.
        after = text.split('WeightsUnpickler error:', 1)[1].strip().splitlines()
        if after and after[0].strip():
            return after[0].strip()
    useful = [line for line in lines if 'weights_only' not in line and 'Weights only load failed' not in line]
    first = useful[0] if useful else type(exc).__name__
    if 'internal miniz error' in first:  # torch's paragraph about a damaged archive: its first sentence says it
        first = first.split('. ', 1)[0] + ' (the file is truncated or corrupt)'
    return first


# What the first bytes of common non-checkpoint files look like, for "is not a checkpoint (found ...)".
MAGIC_NUMBERS = (
    (b'\x89PNG\r\n\x1a\n', 'a PNG image'),
    (b'\xff\xd8\xff', 'a JPEG image'),
    (b'II*\x00', 'a TIFF image'),
    (b'MM\x00*', 'a TIFF image'),
    (b'GIF8', 'a GIF image'),
    (b'BM', 'a BMP image'),
    (b'\x93NUMPY', 'a numpy .npy array'),
    (b'\x89HDF', 'an HDF5 file (Keras .h5?)'),
    (b'\x1f\x8b', 'a gzip archive'),
    (b'%PDF', 'a PDF document'),
    (b'\x7fELF', 'an executable'),
)
EXPECTED_FILES = 'expected a .pth file written by torch.save or a .safetensors file'
ZIP_MAGIC = b'PK\x03\x04'
PICKLE_PROTO = b'\x80'


def foreign_format(path: PathLike) -> Optional[str]:
    """What ``path`` is when its first bytes show it is not a torch file (zip or pickle); None when it may be one."""
    with open(path, 'rb') as f:
        head = f.read(512)
    if head.startswith(ZIP_MAGIC):
        try:
            with zipfile.ZipFile(path) as archive:
                names = archive.namelist()
        except (zipfile.BadZipFile, OSError):
            return None  # a truncated torch file: torch's own message says the archive is corrupt
        # torch.save's archive always holds <name>/data.pkl; any other zip is someone else's.
        return None if any(n.endswith('data.pkl') for n in names) else 'found a zip archive without data.pkl'
    if head.startswith(PICKLE_PROTO):
        return None  # torch.save's legacy format is a pickle: let torch decide
    if head.startswith(b'RIFF') and head[8:12] == b'WEBP':
        return 'found a WebP image'
    for magic, what in MAGIC_NUMBERS:
        if head.startswith(magic):
            return f'found {what}'
    try:
        text = head.decode('utf-8')
    except UnicodeDecodeError as exc:
        # 512 bytes may end inside a multi-byte character; anything earlier is not text.
        text = head[:exc.start].decode('utf-8') if exc.start >= len(head) - 3 else '\x00'
    if '\x00' in text:
        return f'found binary data starting {head[:8]!r}'
    first = next((line.strip() for line in text.splitlines() if line.strip()), '')
    return f'found text starting {first[:40]!r}'


def extract_state_dict(obj: Dict[str, object], key: Optional[str] = None,
                       source: str = '<checkpoint>') -> Tuple[Dict[str, Tensor], str]:
    """Pick the weights out of a loaded checkpoint and strip wrapper prefixes; returns them and the key used."""
    used = ''
    if key is not None:
        if key not in obj:
            raise CheckpointError(f'checkpoint {source!r} has no key {key!r}; its top-level keys are {sorted(obj)}')
        obj, used = obj[key], key  # type: ignore[assignment]
    elif not all(isinstance(v, Tensor) for v in obj.values()):
        for candidate in WEIGHT_KEYS:
            if isinstance(obj.get(candidate), dict):
                obj, used = obj[candidate], candidate  # type: ignore[assignment]
                break
        else:
            raise CheckpointError(f'checkpoint {source!r} has no weights under any of {list(WEIGHT_KEYS)}; '
                                  f'its top-level keys are {sorted(obj)}')
    state = {k: v for k, v in obj.items() if isinstance(v, Tensor)}
    if not state:
        raise CheckpointError(f'checkpoint {source!r} holds no tensors under {used or "its top level"!r}')
    for prefix in WRAPPER_PREFIXES:
        if all(k.startswith(prefix) for k in state):
            state = {k[len(prefix):]: v for k, v in state.items()}
        elif any(k.startswith(prefix) for k in state) and prefix == 'generator.':
            # An MMEngine model checkpoint also holds the loss's and preprocessor's entries: keep the network's.
            state = {k[len(prefix):]: v for k, v in state.items() if k.startswith(prefix)}
    # Checked here, where every loader passes, so NaN or integer weights never reach a network or a written file.
    problem = unusable_tensor(state)
    if problem:
        raise CheckpointError(f'checkpoint {source!r}: {problem}; expected finite floating-point weights')
    return state, used


# Integer buffers a network may legitimately hold (BatchNorm's step counter); any other integer tensor is not a weight.
INTEGER_BUFFER_SUFFIXES = ('num_batches_tracked',)


def unusable_tensor(state: Dict[str, Tensor]) -> Optional[str]:
    """What is wrong with the first tensor that is no usable weight (integer-typed, NaN or infinite), else None."""
    for key, value in state.items():
        if value.is_floating_point() or value.is_complex():
            if value.device.type == 'meta' or value.numel() == 0:
                continue
            finite = torch.isfinite(value)
            if not bool(finite.all()):
                bad = value[~finite]
                kinds = [name for name, hit in (('NaN', bool(torch.isnan(bad).any())),
                                                ('infinite', bool(torch.isinf(bad).any()))) if hit]
                return (f'tensor {key!r} holds {" and ".join(kinds)} values ({int(bad.numel())} of '
                        f'{value.numel()})')
        elif not key.endswith(INTEGER_BUFFER_SUFFIXES):
            return f'tensor {key!r} is {str(value.dtype).replace("torch.", "")}, not floating point'
    return None


def load_state_dict_file(path: PathLike, key: Optional[str] = None) -> Dict[str, Tensor]:
    """The network weights stored in ``path``, whatever the layout."""
    return extract_state_dict(read_checkpoint(path), key, os.fspath(path))[0]


def describe_mismatch(model: nn.Module, state: Dict[str, Tensor], limit: int = 5) -> List[str]:
    """Human-readable lines for the first missing, unexpected and wrongly shaped keys."""
    own = model.state_dict()
    missing = [k for k in own if k not in state]
    unexpected = [k for k in state if k not in own]
    shapes = [f'{k}: checkpoint {tuple(state[k].shape)}, model {tuple(own[k].shape)}'
              for k in own if k in state and state[k].shape != own[k].shape]
    lines = []
    for title, items in (('missing keys', missing), ('unexpected keys', unexpected), ('shape mismatches', shapes)):
        if items:
            more = f' (and {len(items) - limit} more)' if len(items) > limit else ''
            lines.append(f'{len(items)} {title}: {", ".join(items[:limit])}{more}')
    return lines
