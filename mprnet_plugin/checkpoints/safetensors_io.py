"""State dicts as ``.safetensors`` files, with tensors shared under several keys (MPRNet's one PReLU) kept shared.

safetensors refuses tensors that share memory, and MPRNet's state dict lists its single PReLU weight under every
CAB's key. The writer stores each alias as its own copy, so any safetensors reader sees an ordinary state dict, and
records the alias groups in the file's metadata; this module's reader ties equal aliases back into one tensor.
"""
from __future__ import annotations

import json
import os
import struct
from typing import Dict, List, Optional, Tuple, Union

import torch
from torch import Tensor

PathLike = Union[str, os.PathLike]

# Metadata keys this package writes; safetensors metadata is a flat str -> str mapping.
SHARED_KEY = 'mprnet_plugin.shared'  # JSON list of key groups that are one tensor in the model
SOURCE_KEY = 'mprnet_plugin.source'  # JSON object: which file and key the weights came from
ORDER_KEY = 'mprnet_plugin.order'  # JSON list of the keys in state-dict order (safetensors stores them sorted)
HEADER_LIMIT = 100 * 1024 * 1024  # safetensors' own cap on the JSON header


class SafetensorsFormatError(ValueError):
    """A .safetensors file that cannot be read or whose shared keys disagree."""


def is_safetensors_file(path: PathLike) -> bool:
    """True when ``path`` starts like a safetensors file (8-byte header length, then a JSON object)."""
    with open(path, 'rb') as f:
        head = f.read(9)
    if len(head) < 9:
        return False
    (size,) = struct.unpack('<Q', head[:8])
    return 0 < size <= HEADER_LIMIT and head[8:9] == b'{'


def shared_groups(state: Dict[str, Tensor]) -> List[List[str]]:
    """Groups of two or more keys whose tensors share memory, in state-dict order."""
    by_storage: Dict[Tuple[int, int, Tuple[int, ...], Tuple[int, ...]], List[str]] = {}
    for key, value in state.items():
        if value.device.type == 'meta' or value.numel() == 0:
            continue
        ident = (value.untyped_storage().data_ptr(), value.storage_offset(), tuple(value.shape), value.stride())
        by_storage.setdefault(ident, []).append(key)
    return [keys for keys in by_storage.values() if len(keys) > 1]


def write_safetensors(state: Dict[str, Tensor], path: PathLike, metadata: Optional[Dict[str, str]] = None) -> None:
    """Write ``state`` to ``path``: aliases as separate copies, their groups in the metadata."""
    from safetensors.torch import save_file

    groups = shared_groups(state)
    copies = {k for group in groups for k in group[1:]}
    tensors = {k: (v.detach().cpu().clone() if k in copies else v.detach().cpu()).contiguous()
               for k, v in state.items()}
    meta = {'format': 'pt', ORDER_KEY: json.dumps(list(state)), **(metadata or {})}
    if groups:
        meta[SHARED_KEY] = json.dumps(groups)
    save_file(tensors, os.fspath(path), metadata=meta)


def read_safetensors(path: PathLike) -> Tuple[Dict[str, Tensor], Dict[str, str]]:
    """The state dict and metadata of a .safetensors file; recorded alias groups come back as one tensor."""
    from safetensors import SafetensorError, safe_open

    try:
        with safe_open(os.fspath(path), framework='pt', device='cpu') as f:
            metadata = dict(f.metadata() or {})
            state = {key: f.get_tensor(key) for key in f.keys()}
    except (SafetensorError, OSError, ValueError) as exc:
        raise SafetensorsFormatError(f'not a readable safetensors file: {exc}') from exc
    try:
        groups = json.loads(metadata.get(SHARED_KEY, '[]'))
        order = json.loads(metadata.get(ORDER_KEY, '[]'))
    except ValueError as exc:
        raise SafetensorsFormatError(f'metadata {SHARED_KEY} or {ORDER_KEY} is not JSON: {exc}') from exc
    if isinstance(order, list) and set(order) == set(state):
        state = {key: state[key] for key in order}
    for group in groups:
        present = [k for k in group if k in state]
        if not present:
            continue
        first = state[present[0]]
        for key in present[1:]:
            if state[key].shape != first.shape or not torch.equal(state[key], first):
                raise SafetensorsFormatError(f'keys {present[0]!r} and {key!r} are one shared tensor in the model '
                                             'but hold different values')
            state[key] = first
    return state, metadata
