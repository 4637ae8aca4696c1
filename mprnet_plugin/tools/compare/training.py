"""Training each architecture of a comparison through BasicSR's ``MPRNetModel``: the recipe users train with.

The model gets an option dict built as an option file would give it (``network_g``, ``path.pretrain_network_g``,
the whole ``train`` section: ``pixel_opt``, ``optim_g``, ``scheduler``, ``ema_decay``, ``grad_clip``, ``amp``,
``saturation_jitter``, ``mixup``, ``identity_init``, ``compile``, ...) and is driven as ``train_pipeline`` drives it
(``update_learning_rate``, ``feed_data``, ``optimize_parameters``). Only the batches are the comparison's own: one
seeded loader, so every architecture sees the same crops in the same order.
"""
from __future__ import annotations

import copy
import math
import random
import time
from dataclasses import asdict, dataclass
from typing import Any, Dict, Iterator, List, Optional, Tuple

import numpy as np
import torch
from torch import nn
from torch.utils.data import DataLoader, Dataset
from tqdm import tqdm


def _seed_worker(worker_id: int) -> None:
    # Each worker's torch seed derives from the loader's generator; crops and flips use Python's and numpy's RNGs.
    seed = torch.initial_seed() % 2 ** 32
    random.seed(seed)
    np.random.seed(seed)


def make_train_loader(dataset: Dataset, batch_size: int, num_workers: int, seed: int) -> DataLoader:
    """A shuffling loader whose batch order and crops depend only on ``seed``, the same for every architecture."""
    if len(dataset) < batch_size:
        raise ValueError(f'the training set has {len(dataset)} pairs, fewer than batch_size_per_gpu={batch_size}')
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


def model_options(arch: Dict[str, Any], device: torch.device, work_dir: str) -> Dict[str, Any]:
    """The BasicSR option dict ``MPRNetModel`` takes for one architecture of a parsed comparison."""
    train = {k: copy.deepcopy(v) for k, v in arch['train'].items() if k != 'log_every'}
    train['total_iter'] = arch['total_iter']
    path = dict(arch['path'])
    path.update(experiments_root=work_dir, models=work_dir, training_states=work_dir, visualization=work_dir,
                log=work_dir)
    return {
        'name': f"compare_{arch['slug']}", 'model_type': 'MPRNetModel', 'is_train': True, 'dist': False,
        'rank': 0, 'world_size': 1, 'num_gpu': 1 if device.type == 'cuda' else 0, 'scale': 1,
        'network_g': copy.deepcopy(arch['network']), 'path': path, 'train': train,
    }


def evaluated_network(model: Any) -> nn.Module:
    """The network the model validates with: the EMA copy when ``ema_decay`` is set, else net_g."""
    return model.net_g_ema if hasattr(model, 'net_g_ema') else model.get_bare_model(model.net_g)


def build_recipe_model(arch: Dict[str, Any], device: torch.device, train: bool, work_dir: str) -> Any:
    """``MPRNetModel`` for ``arch`` (pretrained weights loaded by the model's own policy); training set up if asked.

    ``work_dir`` fills the folders BasicSR's options name; the comparison saves nothing through the model.
    """
    from basicsr.models import build_model

    opt = model_options(arch, device, work_dir)
    opt['is_train'] = train
    return build_model(opt)


def train_model(model: Any, loader: DataLoader, total_iter: int, seed: int = 0, log_every: int = 50,
                desc: str = 'train') -> TrainStats:
    """Train ``model`` for ``total_iter`` iterations on ``loader``'s batches, as BasicSR's ``train_pipeline`` does.

    Python's and numpy's RNGs are seeded so that in-process crops repeat across architectures.
    """
    if total_iter <= 0:
        return TrainStats(0, 0.0, None, [])
    random.seed(seed)
    np.random.seed(seed)
    warmup_iter = model.opt['train'].get('warmup_iter', -1)
    curve: List[float] = []
    window: List[float] = []
    batches = _batches(loader)
    start = time.perf_counter()
    progress = tqdm(range(1, total_iter + 1), desc=desc, unit='it', dynamic_ncols=True, leave=False)
    for it in progress:
        model.update_learning_rate(it, warmup_iter=warmup_iter)
        model.feed_data(next(batches))
        model.optimize_parameters(it)
        value = float(model.log_dict['l_total'])
        if not math.isfinite(value):
            raise FloatingPointError(f'{desc}: the loss became {value} at iteration {it}; lower train.optim_g.lr')
        window.append(value)
        if it % log_every == 0 or it == total_iter:
            curve.append(sum(window) / len(window))
            progress.set_postfix(loss=f'{curve[-1]:.4f}')
            window = []
    seconds = time.perf_counter() - start
    progress.close()
    return TrainStats(total_iter, seconds, curve[-1] if curve else None, curve)


def train_architecture(arch: Dict[str, Any], device: torch.device, loader: Optional[DataLoader], seed: int,
                       work_dir: str) -> Tuple[nn.Module, TrainStats]:
    """Build (with pretrained weights if any) and train one architecture; returns the network to evaluate."""
    training = arch['total_iter'] > 0
    model = build_recipe_model(arch, device, training, work_dir)
    if not training:
        return evaluated_network(model), TrainStats(0, 0.0, None, [])
    stats = train_model(model, loader, arch['total_iter'], seed=seed, log_every=arch['train']['log_every'],
                        desc=f"train {arch['name']}")
    return evaluated_network(model), stats
