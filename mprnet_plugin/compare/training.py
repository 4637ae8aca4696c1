"""A short, identical training run for every architecture of a comparison: same batches, optimiser and schedule."""
from __future__ import annotations

import math
import random
import time
from dataclasses import asdict, dataclass
from typing import Any, Dict, Iterator, List, Optional

import numpy as np
import torch
from torch import nn
from torch.utils.data import DataLoader, Dataset
from tqdm import tqdm

from mprnet_plugin.losses.mprnet_loss import MPRNetLoss
from mprnet_plugin.restore import first_output


def _seed_worker(worker_id: int) -> None:
    # Each worker's torch seed derives from the loader's generator; crops and flips use Python's and numpy's RNGs.
    seed = torch.initial_seed() % 2 ** 32
    random.seed(seed)
    np.random.seed(seed)


def make_train_loader(dataset: Dataset, batch_size: int, num_workers: int, seed: int) -> DataLoader:
    """A shuffling loader whose batch order and crops depend only on ``seed``, the same for every architecture."""
    if len(dataset) < batch_size:
        raise ValueError(f'the training set has {len(dataset)} pairs, fewer than batch_size={batch_size}')
    return DataLoader(dataset, batch_size=batch_size, shuffle=True, drop_last=True, num_workers=num_workers,
                      generator=torch.Generator().manual_seed(seed), worker_init_fn=_seed_worker,
                      persistent_workers=num_workers > 0)


def _batches(loader: DataLoader) -> Iterator[Dict[str, Any]]:
    while True:
        yield from loader


@dataclass
class TrainStats:
    """What a training run did: iterations, wall time, and the loss at the end."""

    iterations: int
    seconds: float
    final_loss: Optional[float]
    loss_curve: List[float]

    def as_dict(self) -> Dict[str, Any]:
        """Plain-data form for JSON."""
        return asdict(self)


def train_network(net: nn.Module, loss_fn: nn.Module, loader: DataLoader, total_iter: int, device: torch.device,
                  lr: float = 2e-4, eta_min: float = 1e-6, betas: tuple = (0.9, 0.999), weight_decay: float = 0.0,
                  seed: int = 0, log_every: int = 50, desc: str = 'train') -> TrainStats:
    """Train ``net`` for ``total_iter`` steps of Adam with cosine annealing from ``lr`` to ``eta_min``.

    ``MPRNetLoss`` sees every output of a multi-output network (MPRNet's three stages); any other loss sees the
    final output only. Python's and numpy's RNGs are seeded so that in-process crops repeat across architectures.
    """
    if total_iter <= 0:
        return TrainStats(0, 0.0, None, [])
    random.seed(seed)
    np.random.seed(seed)
    optimizer = torch.optim.Adam([p for p in net.parameters() if p.requires_grad], lr=lr, betas=tuple(betas),
                                 weight_decay=weight_decay)
    scheduler = torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=total_iter, eta_min=eta_min)
    all_outputs = isinstance(loss_fn, MPRNetLoss)
    net.train()
    curve: List[float] = []
    window: List[float] = []
    batches = _batches(loader)
    start = time.perf_counter()
    progress = tqdm(range(1, total_iter + 1), desc=desc, unit='it', dynamic_ncols=True, leave=False)
    for it in progress:
        batch = next(batches)
        lq, gt = batch['lq'].to(device, non_blocking=True), batch['gt'].to(device, non_blocking=True)
        out = net(lq)
        loss = loss_fn(out if all_outputs else first_output(out), gt)
        value = loss.item()
        if not math.isfinite(value):
            raise FloatingPointError(f'{desc}: the loss became {value} at iteration {it}; lower train.lr')
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        scheduler.step()
        window.append(value)
        if it % log_every == 0 or it == total_iter:
            curve.append(sum(window) / len(window))
            progress.set_postfix(loss=f'{curve[-1]:.4f}')
            window = []
    seconds = time.perf_counter() - start
    progress.close()
    return TrainStats(total_iter, seconds, curve[-1] if curve else None, curve)
