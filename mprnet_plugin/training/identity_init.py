"""Identity initialisation: zero the layers that add each stage's residual, so training starts at the input image."""
from __future__ import annotations

from typing import Sequence, Tuple

import torch
from torch import nn

# MPRNet's layers that add each stage's residual to its input image.
RESIDUAL_OUTPUT_LAYERS = ('tail', 'sam12.conv2', 'sam23.conv2')


def zero_residual_outputs(net: nn.Module, layers: Sequence[str] = RESIDUAL_OUTPUT_LAYERS) -> Tuple[str, ...]:
    """Zero the parameters of ``layers`` in ``net``; returns the names zeroed.

    Every output then equals the input at iteration 0 instead of a random perturbation of it, which short schedules
    (and small data) would otherwise spend their first iterations undoing.
    """
    modules = []
    for name in layers:
        try:
            modules.append(net.get_submodule(name))
        except AttributeError as exc:
            raise ValueError(f'identity_init: {type(net).__name__} has no layer {name!r}; identity_init needs '
                             f'the residual output layers {list(layers)} (MPRNet has them)') from exc
    with torch.no_grad():
        for module in modules:
            for param in module.parameters():
                param.zero_()
    return tuple(layers)
