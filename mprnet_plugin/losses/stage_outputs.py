"""Any network's output as a list of stage outputs, and the loss terms over them: the one place both hosts use.

MPRNet returns ``[final, stage2, stage1]``; most restorers return one tensor. Iterating over a tensor would walk its
batch dimension (and a loss would then pair every sample with the whole batch's targets by broadcasting), so a
tensor is always one stage.
"""
from __future__ import annotations

from typing import Any, Dict, List

import torch
from torch import Tensor, nn


def stage_outputs(output: Any) -> List[Tensor]:
    """``[output]`` for a tensor, the list of a list or tuple of tensors; stage 0 is the final output."""
    if isinstance(output, Tensor):
        return [output]
    if isinstance(output, (list, tuple)) and output and all(isinstance(o, Tensor) for o in output):
        return list(output)
    kind = type(output).__name__ if not isinstance(output, (list, tuple)) else \
        f'{type(output).__name__} of {[type(o).__name__ for o in output]}'
    raise TypeError(f'a network output must be a tensor or a non-empty list/tuple of tensors; got a {kind}')


def full_precision(tensor: Tensor) -> Tensor:
    """``tensor`` in float32 when it is in a lower precision (float16, bfloat16, integers); float64 stays."""
    return tensor if tensor.dtype in (torch.float32, torch.float64) else tensor.float()


def stage_loss_terms(loss: nn.Module, output: Any, target: Tensor) -> Dict[str, Tensor]:
    """Each stage's weighted loss terms: ``loss.terms`` (MPRNetLoss) or, for a plain loss, ``l_pix_<stage>``.

    The losses run in float32, outside autocast, whatever precision the network ran in.
    """
    preds = [full_precision(pred) for pred in stage_outputs(output)]
    target = full_precision(target)
    with torch.autocast(device_type=target.device.type, enabled=False):
        if hasattr(loss, 'terms'):
            return dict(loss.terms(preds, target))
        return {f'l_pix_{i}': loss(pred, target) for i, pred in enumerate(preds)}
