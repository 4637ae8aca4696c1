"""Optimizers the option files can name under ``train.optim_g.type`` (BasicSR 1.4.2 itself accepts only Adam)."""
from __future__ import annotations

from typing import Any, Dict, Iterable, Type

import torch
from torch import Tensor
from torch.optim import Optimizer

# Presets as data: the yml name and the torch class it builds. Extra yml keys go to the constructor unchanged.
OPTIMIZERS: Dict[str, Type[Optimizer]] = {
    'Adam': torch.optim.Adam,
    'AdamW': torch.optim.AdamW,
    'SGD': torch.optim.SGD,
    'RMSprop': torch.optim.RMSprop,
    'NAdam': torch.optim.NAdam,
    'RAdam': torch.optim.RAdam,
}


def build_optimizer(optim_type: str, params: Iterable[Tensor], lr: float, **kwargs: Any) -> Optimizer:
    """The optimizer named ``optim_type`` over ``params``; unknown names and arguments get a clear error."""
    if optim_type not in OPTIMIZERS:
        raise ValueError(f'train.optim_g.type {optim_type!r} is not supported; expected one of {sorted(OPTIMIZERS)}')
    if 'betas' in kwargs:
        kwargs['betas'] = tuple(kwargs['betas'])  # yml gives a list
    try:
        return OPTIMIZERS[optim_type](params, lr=lr, **kwargs)
    except TypeError as exc:
        raise ValueError(f'train.optim_g: {optim_type} does not accept these options {sorted(kwargs)}: {exc}') from exc
