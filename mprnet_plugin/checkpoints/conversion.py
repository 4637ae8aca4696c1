"""Convert MPRNet weights between the authors', BasicSR, MMEngine, bare and safetensors layouts."""
from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Dict, Optional, Tuple, Union

import torch
from torch import Tensor

from mprnet_plugin.checkpoints.reading import CheckpointError, extract_state_dict, read_checkpoint
from mprnet_plugin.io.atomic import atomic_output
from mprnet_plugin.checkpoints.safetensors_io import SOURCE_KEY, write_safetensors

PathLike = Union[str, os.PathLike]

LAYOUTS = ('authors', 'basicsr', 'mmengine', 'bare', 'safetensors')
SAFETENSORS_SUFFIX = '.safetensors'


def layout_for(path: PathLike, to: Optional[str]) -> str:
    """The layout to write ``path`` in: ``to`` when given, else safetensors for ``*.safetensors``, else basicsr."""
    is_st = Path(path).suffix.lower() == SAFETENSORS_SUFFIX
    if to is None:
        return 'safetensors' if is_st else 'basicsr'
    if to not in LAYOUTS:
        raise ValueError(f'--to {to!r} is not a layout; expected one of {", ".join(LAYOUTS)}')
    if is_st != (to == 'safetensors'):
        raise ValueError(f'output {os.fspath(path)!r} and --to {to} disagree: a .safetensors name holds the '
                         'safetensors layout, any other name one of the torch layouts')
    return to


def pack(state: Dict[str, Tensor], layout: str) -> Dict[str, object]:
    """``state`` in a torch layout: authors' ``state_dict``, BasicSR's ``params``, MMEngine's, or bare."""
    if layout == 'authors':
        return {'state_dict': state}
    if layout == 'basicsr':
        return {'params': state}
    if layout == 'mmengine':
        # MMEngine's model keeps the network as ``generator`` (mprnet_plugin.mmengine.model.MPRNetRestorer).
        return {'meta': {'converted_by': 'mprnet-convert'},
                'state_dict': {f'generator.{k}': v for k, v in state.items()}}
    if layout == 'bare':
        return dict(state)
    raise ValueError(f'layout {layout!r} is not a torch layout; expected authors, basicsr, mmengine or bare')


def write_weights(state: Dict[str, Tensor], path: PathLike, layout: str,
                  metadata: Optional[Dict[str, str]] = None) -> None:
    """Write ``state`` to ``path`` (a temporary name: callers rename) in ``layout``."""
    if layout == 'safetensors':
        write_safetensors(state, path, metadata)
    else:
        torch.save(pack(state, layout), path)


def same_weights(a: Dict[str, Tensor], b: Dict[str, Tensor]) -> Optional[str]:
    """None when ``a`` and ``b`` hold the same keys (in any order) with identical tensors, else the first difference."""
    if set(a) != set(b):
        return f'keys differ (missing {sorted(set(a) - set(b))[:3]}, unexpected {sorted(set(b) - set(a))[:3]})'
    for key, value in a.items():
        other = b[key]
        if value.dtype != other.dtype or value.shape != other.shape or not torch.equal(value, other):
            return f'tensor {key!r} differs'
    return None


def convert_checkpoint(src: PathLike, dst: PathLike, to: Optional[str] = None, key: Optional[str] = None,
                       force: bool = False) -> Tuple[str, str, int]:
    """Write the weights of ``src`` to ``dst`` in another layout and check they read back bit for bit.

    Returns (layout written, key the weights came from, number of tensors). ``dst`` appears only when the check
    passes; an existing ``dst`` file is replaced only with ``force``, a directory never.
    """
    src, dst = os.fspath(src), os.fspath(dst)
    layout = layout_for(dst, to)
    if os.path.isdir(dst):
        raise CheckpointError(f'output {dst!r} is a directory; expected a file name')
    if os.path.exists(dst) and os.path.samefile(src, dst):
        raise CheckpointError(f'output {dst!r} is the input file; write the converted weights elsewhere')
    if os.path.exists(dst) and not force:
        raise CheckpointError(f'output {dst!r} already exists; pass --force to replace it')
    state, used = extract_state_dict(read_checkpoint(src), key, src)
    source = json.dumps({'file': os.path.basename(src), 'key': used or None})
    with atomic_output(dst) as tmp:
        write_weights(state, tmp, layout, {SOURCE_KEY: source})
        back, _ = extract_state_dict(read_checkpoint(tmp), None, dst)
        problem = same_weights(state, back)
        if problem:
            raise CheckpointError(f'converted {src!r} to {layout}, but reading it back: {problem}; nothing written')
    return layout, used, len(state)


def save_safetensors_copy(save_dict: Dict[str, Dict[str, Tensor]], path: PathLike, option: object) -> bool:
    """With ``logger.save_safetensors: true``, also write the weights BasicSR just saved as ``path`` (.safetensors).

    The copy holds the weights inference uses: ``params_ema`` when the run keeps an EMA copy, else ``params``
    (the .pth beside it keeps both, and the training state, for resuming). Returns True when a copy was written.
    """
    if option in (None, False):
        return False
    if option is not True:
        raise ValueError(f'logger.save_safetensors must be true or false; got {option!r}')
    key = next(k for k in ('params_ema', 'params', *save_dict) if k in save_dict)
    with atomic_output(path) as tmp:
        write_safetensors(save_dict[key], tmp, {SOURCE_KEY: json.dumps({'file': Path(path).name, 'key': key})})
    return True
