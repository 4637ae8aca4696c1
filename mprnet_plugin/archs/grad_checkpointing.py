"""Activation checkpointing for MPRNet's blocks: recompute a block's activations in the backward pass.

A checkpointed block keeps only its inputs during the forward pass and runs its forward again when the backward pass
reaches it (``torch.utils.checkpoint`` without re-entrancy, so nesting, DDP, autocast and ``torch.compile`` work).
It computes the same operations on the same values, so outputs and gradients are unchanged. Outside training mode
or without autograd nothing is checkpointed: inference and validation run exactly as without it.

Levels: ``'cab'`` (or ``True``) recomputes every channel-attention block and the transitions between stages (SAM,
shallow features and their fusion); ``'stage'`` also recomputes each encoder, decoder and original-resolution
block, nesting the CAB checkpoints inside them.
"""
from __future__ import annotations

import functools
from typing import Any, Callable, Optional, TypeVar

import torch
from torch import nn
from torch.utils.checkpoint import checkpoint

GRAD_CHECKPOINTING_LEVELS = ('cab', 'stage')
ALLOWED_VALUES = "false, true, 'cab' or 'stage'"

F = TypeVar('F', bound=Callable[..., Any])


def parse_grad_checkpointing(value: Any, option: str = 'grad_checkpointing') -> Optional[str]:
    """``None`` (off), ``'cab'`` or ``'stage'`` from ``false | null | true | 'cab' | 'stage'``; else a ValueError."""
    if value is None or value is False:
        return None
    if value is True:
        return 'cab'
    if isinstance(value, str) and value in GRAD_CHECKPOINTING_LEVELS:
        return value
    raise ValueError(f'{option}: expected {ALLOWED_VALUES}; got {value!r}')


def recording_autograd(module: nn.Module) -> bool:
    """Whether checkpointing ``module`` could save anything: training mode with autograd recording."""
    return module.training and torch.is_grad_enabled()


def run_checkpointed(enabled: bool, fn: Callable[..., Any], *args: Any) -> Any:
    """``fn(*args)``, through ``torch.utils.checkpoint`` when ``enabled`` and autograd is recording."""
    if enabled and torch.is_grad_enabled():
        return checkpoint(fn, *args, use_reentrant=False)
    return fn(*args)


def checkpointable(forward: F) -> F:
    """Decorate a module's ``forward``: it is checkpointed while the module's ``grad_checkpointing`` is true."""
    @functools.wraps(forward)
    def wrapper(self: nn.Module, *args: Any, **kwargs: Any) -> Any:
        if getattr(self, 'grad_checkpointing', False) and recording_autograd(self):
            return checkpoint(forward, self, *args, use_reentrant=False, **kwargs)
        return forward(self, *args, **kwargs)
    return wrapper  # type: ignore[return-value]
