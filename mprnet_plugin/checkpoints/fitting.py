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

from mprnet_plugin.archs.mprnet_arch import MPRNet
from mprnet_plugin.archs.mprnet_config import infer_mprnet_config
from mprnet_plugin.checkpoints.reading import (
    WEIGHT_KEYS,
    CheckpointError,
    PathLike,
    describe_mismatch,
    extract_state_dict,
    load_state_dict_file,
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


def load_mprnet_checkpoint(model: nn.Module, path: PathLike, strict: bool = True,
                           key: Optional[str] = None) -> nn.Module:
    """Load MPRNet weights from any supported layout into ``model`` (the policy above); returns it."""
    fit_checkpoint(model, path, strict=strict, key=key)
    return model


def build_mprnet_from_checkpoint(path: PathLike, key: Optional[str] = None, **kwargs: object) -> MPRNet:
    """An MPRNet whose widths are inferred from the checkpoint, with its weights loaded strictly."""
    state = load_state_dict_file(path, key)
    try:
        config = infer_mprnet_config(state)
    except KeyError as exc:
        raise CheckpointError(f'checkpoint {os.fspath(path)!r} is not an MPRNet checkpoint: {exc.args[0]}') from exc
    model = MPRNet(**config, **kwargs)  # type: ignore[arg-type]
    fit_state_dict(model, state, strict=True, source=os.fspath(path))
    return model
