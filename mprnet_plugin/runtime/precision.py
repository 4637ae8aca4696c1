"""The one table of compute precisions: names as every option and flag takes them, and the autocast dtype of each."""
from __future__ import annotations

import contextlib
from typing import ContextManager, Dict, Optional

import torch

# fp32 is plain float32 (no autocast); the others autocast the network, the losses staying in float32.
PRECISIONS: Dict[str, Optional[torch.dtype]] = {'fp32': None, 'bf16': torch.bfloat16, 'fp16': torch.float16}
# Mixed-precision training (``train.amp``, ``--amp``): the autocast precisions.
AMP_DTYPES: Dict[str, torch.dtype] = {name: dtype for name, dtype in PRECISIONS.items() if dtype is not None}
# The spellings of "no mixed precision" ``train.amp`` accepts.
AMP_OFF = (None, False, 'none', 'fp32', 'off')


def dtype_name(dtype: torch.dtype) -> str:
    """``torch.bfloat16`` -> ``'bfloat16'`` (MMEngine's AmpOptimWrapper takes the name)."""
    return str(dtype).rsplit('.', 1)[-1]


def autocast(device: torch.device, precision: str) -> ContextManager[None]:
    """Autocast on ``device`` in ``precision`` (a name of ``PRECISIONS``); a no-op for fp32."""
    dtype = PRECISIONS[precision]
    if dtype is None:
        return contextlib.nullcontext()
    return torch.autocast(device.type, dtype=dtype)
