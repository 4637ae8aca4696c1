"""The one policy that fits checkpoint weights into a network, used by the BasicSR model, the MMEngine model and
``load_mprnet_checkpoint``.

* strict: every key present with its shape, or a ``CheckpointError`` naming the file and the first bad keys;
* not strict: the weights that fit are loaded, and one warning names what was skipped (missing, unexpected and
  wrongly shaped keys);
* a standard weight key the file lacks (``params_ema``, ``params``, ``state_dict``, ``model``) falls back to the
  weights the file does hold, e.g. ``params_ema`` on the authors' ``{'state_dict': ...}`` files.
"""
from __future__ import annotations

import os
import warnings
from typing import Callable, Dict, List, Mapping, Optional

from torch import Tensor, nn

from mprnet_plugin.checkpoint import (
    WEIGHT_KEYS,
    CheckpointError,
    PathLike,
    describe_mismatch,
    extract_state_dict,
    read_checkpoint,
)

Warn = Callable[[str], None]


def fit_state_dict(model: nn.Module, state: Mapping[str, Tensor], strict: bool = True,
                   source: str = '<state dict>', warn: Optional[Warn] = None) -> List[str]:
    """Load ``state`` into ``model`` under the policy above; returns the mismatch lines (empty when all fit)."""
    problems = describe_mismatch(model, dict(state))
    if problems and strict:
        raise CheckpointError(f'checkpoint {source!r} does not fit {type(model).__name__}: ' + '; '.join(problems))
    if problems:
        own = model.state_dict()
        state = {k: v for k, v in state.items() if k in own and v.shape == own[k].shape}
        message = f'checkpoint {source!r} loaded non-strictly into {type(model).__name__}, skipped: ' \
            + '; '.join(problems)
        (warn or (lambda text: warnings.warn(text, stacklevel=3)))(message)
    model.load_state_dict(dict(state), strict=strict)
    return problems


def resolve_weight_key(checkpoint: Dict[str, object], key: Optional[str]) -> Optional[str]:
    """``key``, or None (the weights the file holds) when ``key`` is a standard weight key this file lacks."""
    if key is not None and key not in checkpoint and key in WEIGHT_KEYS:
        return None
    return key


def fit_checkpoint(model: nn.Module, path: PathLike, strict: bool = True, key: Optional[str] = None,
                   warn: Optional[Warn] = None) -> str:
    """Load the weights of the checkpoint file ``path`` into ``model``; returns the key used ('' for the top level)."""
    source = os.fspath(path)
    checkpoint = read_checkpoint(source)
    state, used = extract_state_dict(checkpoint, resolve_weight_key(checkpoint, key), source)
    fit_state_dict(model, state, strict, source, warn)
    return used
