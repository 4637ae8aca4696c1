"""Parsing and checking of the BasicSR option-file entries that MPRNetModel reads; errors name the option."""
from __future__ import annotations

from typing import Any, Dict, Mapping, Optional, Tuple

import torch

from mprnet_plugin.archs.mprnet_arch import SIZE_MULTIPLE
from mprnet_plugin.inference.tiling import check_tile
from mprnet_plugin.runtime.precision import AMP_DTYPES, AMP_OFF, CPU_AMP_PRECISIONS, check_inference_precision
from mprnet_plugin.training.accumulation import parse_grad_accumulation




def parse_amp_option(value: Any, device: torch.device) -> Optional[torch.dtype]:
    """The autocast dtype for ``train.amp`` (None when off); on the CPU only bf16."""
    if value in AMP_OFF:
        return None
    if value not in AMP_DTYPES:
        raise ValueError(f'train.amp: {value!r} is not supported; expected one of {sorted(AMP_DTYPES)} or none')
    if device.type != 'cuda' and value not in CPU_AMP_PRECISIONS:
        raise ValueError(f'train.amp: {value} needs a CUDA device, but this run is on the CPU (num_gpu: 0 or no GPU '
                         'visible); use train.amp: bf16 (or none) on the CPU.')
    return AMP_DTYPES[value]


def parse_val_precision_option(value: Any, device: torch.device) -> Tuple[str, Optional[str]]:
    """``val.precision`` (absent: fp32) and the warning to give (bf16 on a CPU without native bf16), if any."""
    precision = 'fp32' if value is None else value
    if not isinstance(precision, str):
        raise ValueError(f'val.precision: expected fp32, bf16 or fp16; got {value!r}')
    return precision, check_inference_precision(precision, device, 'val.precision:')


def parse_val_compile_option(value: Any) -> bool:
    """``val.compile``: whether validation and testing run the network through ``torch.compile``."""
    if value is None:
        return False
    if not isinstance(value, bool):
        raise ValueError(f'val.compile: expected true or false; got {value!r}')
    return value


def parse_tile_option(value: Any) -> Tuple[Optional[int], int]:
    """``(tile size, overlap)`` from ``val.tile``: null (whole images), an int size, or ``{size, overlap}``."""
    if value is None or value is False:
        return None, 0
    if isinstance(value, int):
        size, overlap = value, 32
    elif isinstance(value, Mapping) and 'size' in value:
        size, overlap = value['size'], value.get('overlap', 32)
    else:
        raise ValueError(f'val.tile: expected null, a tile size or {{size: N, overlap: M}}; got {value!r}')
    check_tile(size, overlap, SIZE_MULTIPLE, 'val.tile.size', 'val.tile.overlap')
    return size, overlap


def parse_self_ensemble_option(value: Any) -> bool:
    """``val.self_ensemble``: true or false (absent or null: false); text such as 'no' is refused."""
    if value is None:
        return False
    if not isinstance(value, bool):
        raise ValueError(f'val.self_ensemble must be true or false; got {value!r}')
    return value


def parse_grad_clip_option(value: Any) -> float:
    """``train.grad_clip``: the max global gradient norm, 0 (or null) for off."""
    value = value or 0
    if isinstance(value, bool) or not isinstance(value, (int, float)) or value < 0:
        raise ValueError(f'train.grad_clip must be a non-negative max gradient norm (0 or null: off); got {value!r}')
    return float(value)


def parse_grad_accumulation_option(opt: Mapping[str, Any]) -> int:
    """``train.grad_accumulation`` checked against ``datasets.train.batch_size_per_gpu`` when the file has one."""
    train_set: Dict[str, Any] = dict((opt.get('datasets') or {}).get('train') or {})
    return parse_grad_accumulation(opt['train'].get('grad_accumulation'), train_set.get('batch_size_per_gpu'))


def parse_compile_option(value: Any) -> Optional[Dict[str, Any]]:
    """``train.compile``: None when off, else the keyword arguments for ``torch.compile`` (``true``: none)."""
    if not value:
        return None
    return dict(value) if isinstance(value, Mapping) else {}
