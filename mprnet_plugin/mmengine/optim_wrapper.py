"""An MMEngine optimizer wrapper that trains under bf16 autocast on the CPU.

MMEngine 0.10.7's ``AmpOptimWrapper`` asserts a CUDA, NPU, MLU or MUSA device in its ``__init__`` and always builds a
gradient scaler, so it cannot train on a CPU. bf16 has float32's exponent range and needs no loss scaling, so this
wrapper is ``OptimWrapper`` (gradient accumulation and clipping included) with a CPU autocast around the forward.
The losses still run in float32: ``MPRNetRestorer.loss_terms`` computes them outside autocast.
"""
from __future__ import annotations

from contextlib import contextmanager
from typing import Any, Iterator, Union

import torch
from mmengine.optim import OptimWrapper
from mmengine.registry import OPTIM_WRAPPERS
from torch import nn

from mprnet_plugin.runtime.precision import dtype_name


@OPTIM_WRAPPERS.register_module()
class CPUAutocastOptimWrapper(OptimWrapper):
    """``OptimWrapper`` whose ``optim_context`` autocasts on the CPU to ``dtype`` (bfloat16); no loss scaling."""

    def __init__(self, dtype: Union[str, torch.dtype] = 'bfloat16', **kwargs: Any) -> None:
        cast = getattr(torch, dtype, None) if isinstance(dtype, str) else dtype
        if cast is not torch.bfloat16:
            # fp16 would need a gradient scaler (its range is too narrow for unscaled gradients); bf16 does not.
            name = dtype if isinstance(dtype, str) else dtype_name(dtype)
            raise ValueError(f'CPUAutocastOptimWrapper: dtype {name!r} is not supported; expected bfloat16')
        super().__init__(**kwargs)
        self.cast_dtype = cast

    @contextmanager
    def optim_context(self, model: nn.Module) -> Iterator[None]:
        """OptimWrapper's context (no gradient sync while accumulating) plus bf16 autocast on the CPU."""
        with super().optim_context(model), torch.autocast(device_type='cpu', dtype=self.cast_dtype):
            yield
