"""One training step's forward and backward, host-neutral: autocast, stage outputs, loss terms, the fp16 grad
scaler and gradient accumulation. The optimizer step, clipping and EMA stay with the caller (once per batch)."""
from __future__ import annotations

import contextlib
from collections import OrderedDict
from typing import Callable, Dict, Optional

import torch
from torch import Tensor, nn

from mprnet_plugin.losses.stage_outputs import stage_loss_terms
from mprnet_plugin.training.accumulation import gradient_sync, micro_batch_loss_scale, split_batch


def training_step(net: nn.Module, lq: Tensor, gt: Tensor, loss: nn.Module, accumulation: int = 1,
                  autocast: Optional[Callable[[], contextlib.AbstractContextManager]] = None,
                  scaler: Optional[torch.amp.GradScaler] = None) -> Dict[str, Tensor]:
    """Forward and backward of ``net`` on the batch in ``accumulation`` equal micro-batches, one after the other.

    Gradients add up to those of the whole batch; under DDP only the last micro-batch all-reduces. Returns the whole
    batch's loss terms (detached): ``l_total`` first, then each stage's.
    """
    micro_batches = split_batch((lq, gt), accumulation)
    scale = micro_batch_loss_scale(loss, accumulation)
    totals: Dict[str, Tensor] = {}
    for index, (micro_lq, micro_gt) in enumerate(micro_batches):
        with gradient_sync(net, sync=index == len(micro_batches) - 1):
            with autocast() if autocast is not None else contextlib.nullcontext():
                output = net(micro_lq)
            terms = stage_loss_terms(loss, output, micro_gt)
            if accumulation > 1:
                terms = {name: value * scale for name, value in terms.items()}
            l_total = torch.stack(list(terms.values())).sum()
            (scaler.scale(l_total) if scaler is not None else l_total).backward()
        for name, value in (('l_total', l_total), *terms.items()):
            totals[name] = totals[name] + value.detach() if name in totals else value.detach()
    return OrderedDict(totals)
