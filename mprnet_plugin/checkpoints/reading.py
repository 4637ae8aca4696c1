"""Read every MPRNet checkpoint layout: the authors', BasicSR's, MMEngine's, bare state dicts and safetensors."""
from __future__ import annotations

import os
import pickle
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
    try:
        if is_safetensors_file(path):
            return dict(read_safetensors(path)[0])
        try:
            obj = torch.load(path, map_location='cpu', weights_only=True)
        except pickle.UnpicklingError:
            # MMEngine checkpoints also pickle log buffers (which reference getattr) and numpy scalars: retry with
            # numpy's types and inert stand-ins for the buffers; getattr itself is never admitted.
            with torch.serialization.safe_globals(mmengine_weights_safe_globals()):
                obj = torch.load(path, map_location='cpu', weights_only=True)
    except RefusedGlobal as exc:
        raise CheckpointError(f'checkpoint {path!r} refused: {exc}') from exc
    except Exception as exc:  # torch raises several types for truncated, foreign or unsafe files
        raise CheckpointError(f'cannot read checkpoint {path!r}: {type(exc).__name__}: {short_reason(exc)}') from exc
    if not isinstance(obj, dict):
        raise CheckpointError(f'checkpoint {path!r} holds a {type(obj).__name__}, expected a dict of weights')
    return obj


def short_reason(exc: BaseException) -> str:
    """The informative line of torch's multi-paragraph weights-only error (the refused global), else the message."""
    text = str(exc)
    for line in text.splitlines():
        if 'Unsupported global' in line or 'unrecognized function' in line:
            return line.strip()
    return text.strip().splitlines()[0] if text.strip() else repr(exc)


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
    return state, used


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
