"""Gradient accumulation: one optimizer step over N equal micro-batches, with the whole batch's gradients.

Every loss of this package (Charbonnier, edge, MPRNetLoss) and BasicSR's default reduction is a mean over all
elements of the batch, and the edge loss filters each image on its own. For N equal micro-batches the whole batch's
loss is then the mean of the micro-batches' losses, so scaling each by 1/N makes the summed gradients those of the
whole batch (a ``reduction: sum`` loss is the plain sum, scale 1). Under DDP only the last micro-batch all-reduces.
"""
from __future__ import annotations

import contextlib
from typing import Any, Iterator, List, Optional, Sequence, Tuple

from torch import Tensor, nn
from torch.nn.parallel import DistributedDataParallel

OPTION = 'train.grad_accumulation'


def parse_grad_accumulation(value: Any, batch_size: Optional[int] = None, option: str = OPTION) -> int:
    """The number of micro-batches (1: off); refuses a non-positive or non-integer N, or one that does not divide."""
    if value is None:
        return 1
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ValueError(f'{option}: expected a positive integer number of micro-batches (1 = off); got {value!r}')
    if batch_size is not None and batch_size % value:
        raise ValueError(f'{option}: {value} micro-batches do not divide the batch of {batch_size} '
                         f'(datasets.train.batch_size_per_gpu); use a divisor of the batch size')
    return value


def split_batch(tensors: Sequence[Tensor], count: int, option: str = OPTION) -> List[Tuple[Tensor, ...]]:
    """``count`` equal micro-batches of each tensor (split along dim 0), as one tuple per micro-batch."""
    size = tensors[0].shape[0]
    if any(t.shape[0] != size for t in tensors):
        raise ValueError(f'{option}: the tensors of one batch have different batch sizes '
                         f'{[t.shape[0] for t in tensors]}')
    if size % count:
        raise ValueError(f'{option}: {count} micro-batches do not divide a batch of {size}')
    if count == 1:
        return [tuple(tensors)]
    return list(zip(*(t.split(size // count) for t in tensors)))


def micro_batch_loss_scale(loss: nn.Module, count: int) -> float:
    """The factor on each micro-batch's loss: 1/count for mean-reduced losses, 1 for ``reduction='sum'``."""
    return 1.0 if getattr(loss, 'reduction', 'mean') == 'sum' else 1.0 / count


@contextlib.contextmanager
def gradient_sync(net: nn.Module, sync: bool) -> Iterator[None]:
    """DDP's ``no_sync()`` around a micro-batch's forward and backward unless ``sync``; nothing for other modules."""
    module = getattr(net, '_orig_mod', net)  # through torch.compile's wrapper to the DDP module it compiled
    if sync or not isinstance(module, DistributedDataParallel):
        yield
        return
    with module.no_sync():
        yield
