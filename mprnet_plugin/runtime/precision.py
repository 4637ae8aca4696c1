"""The one table of compute precisions: names as every option and flag takes them, and the autocast dtype of each."""
from __future__ import annotations

import contextlib
from typing import ContextManager, Dict, Optional, Tuple

import torch

from mprnet_plugin.errors import OptionError

# fp32 is plain float32 (no autocast); the others autocast the network, the losses staying in float32.
PRECISIONS: Dict[str, Optional[torch.dtype]] = {'fp32': None, 'bf16': torch.bfloat16, 'fp16': torch.float16}
# Mixed-precision training (``train.amp``, ``--amp``): the autocast precisions.
AMP_DTYPES: Dict[str, torch.dtype] = {name: dtype for name, dtype in PRECISIONS.items() if dtype is not None}
# The spellings of "no mixed precision" ``train.amp`` accepts.
AMP_OFF = (None, False, 'none', 'fp32', 'off')
# Mixed-precision training on the CPU: bf16 autocast needs no gradient scaler (float32's exponent range); fp16 would
# need one and gains nothing on a CPU (no fast fp16 convolutions there), so it stays CUDA-only.
CPU_AMP_PRECISIONS = ('bf16',)
# What a bf16 run on a CPU without native bf16 is told (the option schema, MPRNetModel and the MMEngine launcher).
EMULATED_BF16_WARNING = 'bf16 on this CPU is emulated and slow (no avx512_bf16 or amx_bf16): fp32 may well be faster'


def dtype_name(dtype: torch.dtype) -> str:
    """``torch.bfloat16`` -> ``'bfloat16'`` (MMEngine's AmpOptimWrapper takes the name)."""
    return str(dtype).rsplit('.', 1)[-1]


def autocast(device: torch.device, precision: str) -> ContextManager[None]:
    """Autocast on ``device`` in ``precision`` (a name of ``PRECISIONS``); a no-op for fp32."""
    dtype = PRECISIONS[precision]
    if dtype is None:
        return contextlib.nullcontext()
    return torch.autocast(device.type, dtype=dtype)


# CPU flags (Linux /proc/cpuinfo) that mean bf16 arithmetic runs natively: AVX512-BF16 and AMX on x86, BF16 on Arm.
NATIVE_BF16_FLAGS = ('avx512_bf16', 'amx_bf16', 'bf16')


def cpu_flags() -> Tuple[str, ...]:
    """The CPU's feature flags as Linux reports them (empty where /proc/cpuinfo is not there)."""
    try:
        with open('/proc/cpuinfo', encoding='utf-8') as fh:
            for line in fh:
                key, _, value = line.partition(':')
                if key.strip() in ('flags', 'Features'):
                    return tuple(value.split())
    except OSError:
        pass
    return ()


def cpu_has_native_bf16() -> bool:
    """Whether this CPU computes bf16 natively (otherwise bf16 autocast on the CPU runs, but slowly)."""
    flags = set(cpu_flags())
    return any(flag in flags for flag in NATIVE_BF16_FLAGS)


FP16_ON_CPU = ('{what} fp16 runs on CUDA only: fp16 autocast on the CPU is slow or unsupported. On the CPU use bf16 '
               '(fast where the CPU computes bf16 natively) or fp32')
SLOW_BF16 = ('{what} bf16 on a CPU without native bf16 arithmetic (no AVX512-BF16, AMX or Arm BF16 flag): it runs, '
             'but emulated, and likely slower than fp32')


def check_inference_precision(precision: str, device: torch.device, what: str = 'precision') -> Optional[str]:
    """Refuse an unknown precision, or fp16 on the CPU (``OptionError`` naming ``what``); returns a warning for bf16
    on a CPU that has no native bf16, else None."""
    if precision not in PRECISIONS:
        raise OptionError(f'{what} {precision!r} is not supported; expected one of {list(PRECISIONS)}')
    if device.type == 'cpu' and precision == 'fp16':
        raise OptionError(FP16_ON_CPU.format(what=what))
    if device.type == 'cpu' and precision == 'bf16' and not cpu_has_native_bf16():
        return SLOW_BF16.format(what=what)
    return None
