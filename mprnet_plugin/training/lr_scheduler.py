"""Learning-rate schedules the option files can name under ``train.scheduler.type``.

``LinearWarmupCosineLR`` is the authors' schedule (linear warm-up to the base lr, then cosine annealing to
``eta_min``), stepped once per iteration as BasicSR steps every scheduler. BasicSR's own ``MultiStepLR`` /
``MultiStepRestartLR`` and ``CosineAnnealingRestartLR`` are registered beside it and keep working.
"""
from __future__ import annotations

import math
from typing import Any, Dict, List, Mapping

from basicsr.models.lr_scheduler import CosineAnnealingRestartLR, MultiStepRestartLR
from basicsr.utils.registry import Registry
from torch.optim import Optimizer
from torch.optim.lr_scheduler import LRScheduler

SCHEDULER_REGISTRY = Registry('scheduler')
SCHEDULER_REGISTRY.register(MultiStepRestartLR)
SCHEDULER_REGISTRY.register(CosineAnnealingRestartLR)
# BasicSR accepts this second spelling for MultiStepRestartLR.
SCHEDULER_ALIASES = {'MultiStepLR': 'MultiStepRestartLR'}


def warmup_cosine_lr(iteration: int, base_lr: float, total_iter: int, warmup_iter: int, eta_min: float) -> float:
    """The learning rate of 1-based ``iteration``: ``base * t / warmup`` up to ``warmup_iter``, then a half cosine.

    After warm-up, ``eta_min + (base - eta_min) * (1 + cos(pi * (t - warmup) / (total - warmup))) / 2``, which
    reaches ``eta_min`` at ``total_iter`` and stays there if training runs longer.
    """
    if iteration <= warmup_iter:
        return base_lr * iteration / warmup_iter
    progress = min(1.0, (iteration - warmup_iter) / max(1, total_iter - warmup_iter))
    return eta_min + 0.5 * (base_lr - eta_min) * (1.0 + math.cos(math.pi * progress))


@SCHEDULER_REGISTRY.register()
class LinearWarmupCosineLR(LRScheduler):
    """Linear warm-up from 0 to the base lr over ``warmup_iter`` iterations, then cosine annealing to ``eta_min``.

    Args:
        optimizer: the optimizer whose groups' ``initial_lr`` are the base learning rates.
        total_iter: iteration at which the lr reaches ``eta_min`` (``train.total_iter`` when left out of the yml).
        warmup_iter: length of the linear warm-up; 0 starts straight at the base lr.
        eta_min: the final learning rate.
    """

    def __init__(self, optimizer: Optimizer, total_iter: int, warmup_iter: int = 0, eta_min: float = 1e-6,
                 last_epoch: int = -1) -> None:
        if total_iter <= 0:
            raise ValueError(f'LinearWarmupCosineLR: total_iter must be positive; got {total_iter}')
        if not 0 <= warmup_iter < total_iter:
            raise ValueError(f'LinearWarmupCosineLR: warmup_iter must be in [0, total_iter={total_iter}); '
                             f'got {warmup_iter}')
        self.total_iter, self.warmup_iter, self.eta_min = int(total_iter), int(warmup_iter), float(eta_min)
        super().__init__(optimizer, last_epoch)

    def get_lr(self) -> List[float]:
        # BasicSR steps the scheduler before every iteration but the first, so ``last_epoch`` is iteration - 1.
        return [warmup_cosine_lr(self.last_epoch + 1, base, self.total_iter, self.warmup_iter, self.eta_min)
                for base in self.base_lrs]


def build_scheduler(optimizer: Optimizer, scheduler_opt: Mapping[str, Any], total_iter: int) -> LRScheduler:
    """The scheduler named by ``scheduler_opt['type']``; LinearWarmupCosineLR's total defaults to ``total_iter``."""
    kwargs: Dict[str, Any] = dict(scheduler_opt)
    if 'type' not in kwargs:
        raise ValueError(f'train.scheduler needs a type; one of {sorted(SCHEDULER_REGISTRY.keys())}')
    name = kwargs.pop('type')
    name = SCHEDULER_ALIASES.get(name, name)
    if name not in SCHEDULER_REGISTRY:
        known = sorted([*SCHEDULER_REGISTRY.keys(), *SCHEDULER_ALIASES])
        raise ValueError(f'train.scheduler.type {name!r} is unknown; expected one of {known}')
    if name == 'LinearWarmupCosineLR':
        kwargs.setdefault('total_iter', total_iter)
    return SCHEDULER_REGISTRY.get(name)(optimizer, **kwargs)
