"""Device names as every tool takes them: ``auto``, ``cpu``, ``cuda`` or ``cuda:N``."""
from __future__ import annotations

from typing import Union

import torch


def resolve_device(device: Union[str, torch.device] = 'auto') -> torch.device:
    """``'auto'`` is the first CUDA device when there is one, else the CPU; CUDA asked for but absent is an error."""
    if isinstance(device, str) and device == 'auto':
        return torch.device('cuda' if torch.cuda.is_available() else 'cpu')
    try:
        resolved = torch.device(device)
    except (RuntimeError, TypeError) as exc:
        raise ValueError(f'device {device!r} is not a device name; expected auto, cpu, cuda or cuda:N') from exc
    if resolved.type == 'cuda' and not torch.cuda.is_available():
        raise ValueError(f'device {device!r} was asked for, but torch sees no CUDA device here '
                         f'(torch {torch.__version__}, CUDA build: {torch.version.cuda or "no"}); use cpu or auto')
    return resolved
