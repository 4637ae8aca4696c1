"""Peak memory of one real training step of an option file's network, and which training settings fit a memory size.

A step is: forward on one micro-batch, the option file's ``train.pixel_opt`` loss on every stage output, backward,
optimizer step. Its peak is measured, not estimated: on CUDA ``torch.cuda.max_memory_allocated``, on a CPU the peak
of live tensor memory from the profiler's allocation events, plus the tensors that were alive before the step.
What fits is then derived from measured per-sample figures: memory grows linearly with the micro-batch.
"""
from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Dict, List, Mapping, Optional, Tuple

import torch
from torch import Tensor, nn

from basicsr.utils.registry import ARCH_REGISTRY, LOSS_REGISTRY

from mprnet_plugin.archs.grad_checkpointing import parse_grad_checkpointing
from mprnet_plugin.config.loader import load_option_file
from mprnet_plugin.models.mprnet_training import DEFAULT_PIXEL_OPT
from mprnet_plugin.runtime.precision import AMP_DTYPES, AMP_OFF, CPU_AMP_PRECISIONS, autocast
from mprnet_plugin.training.accumulation import parse_grad_accumulation
from mprnet_plugin.training.optimizers import build_optimizer
from mprnet_plugin.training.step import training_step
from mprnet_plugin.tools.profiling import cpu_peak_bytes, synchronize

GIB = 1024 ** 3
LEVELS: Tuple[Optional[str], ...] = (None, 'cab', 'stage')
# The precisions a plan measures: float32 and bf16 autocast (on CUDA, or on the CPU, where bf16 autocast trains too).
PLAN_PRECISIONS: Tuple[Optional[str], ...] = (None, 'bf16')
# The GPU memory sizes (GiB) a plan covers when none is given: the common 12, 16, 24, 40 and 80 GB cards.
DEFAULT_GPU_MEMORY: Tuple[float, ...] = (12, 16, 24, 40, 80)
PAPER_TOTAL_BATCH = 16
# Share of a GPU's memory a plan may use: the rest is for the CUDA context, cuDNN workspaces and fragmentation.
USABLE_FRACTION = 0.9


@dataclass
class TrainSettings:
    """What one training step needs from an option file."""

    network_g: Dict[str, Any]
    pixel_opt: Dict[str, Any]
    optim_g: Dict[str, Any]
    gt_size: int
    batch: int
    accumulation: int
    amp: Optional[str]


def _need(mapping: Mapping[str, Any], key: str, where: str, path: Path) -> Any:
    if not isinstance(mapping, Mapping) or key not in mapping:
        raise ValueError(f'{path}: {where}{key} is missing')
    return mapping[key]


def _positive_int(value: Any, option: str, path: Path) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ValueError(f'{path}: {option} must be a positive integer; got {value!r}')
    return value


def read_train_settings(path: Path, batch: Optional[int] = None) -> TrainSettings:
    """Read the options a training step needs from a BasicSR training yml (nothing is created on disk)."""
    opt = load_option_file(path)
    network_g = dict(_need(opt, 'network_g', '', path))
    _need(network_g, 'type', 'network_g.', path)
    train = _need(opt, 'train', '', path)
    train_set = _need(_need(opt, 'datasets', '', path), 'train', 'datasets.', path)
    gt_size = _positive_int(_need(train_set, 'gt_size', 'datasets.train.', path), 'datasets.train.gt_size', path)
    if batch is None:
        batch = _need(train_set, 'batch_size_per_gpu', 'datasets.train.', path)
    batch = _positive_int(batch, 'datasets.train.batch_size_per_gpu', path)
    try:  # the training recipe's own rule
        accumulation = parse_grad_accumulation(train.get('grad_accumulation', 1), batch)
    except ValueError as exc:
        raise ValueError(f'{path}: {exc}') from None
    amp = train.get('amp')
    if amp in AMP_OFF:
        amp = None
    elif amp not in AMP_DTYPES:
        raise ValueError(f'{path}: train.amp {amp!r} is not supported; expected one of {sorted(AMP_DTYPES)} or none')
    parse_grad_checkpointing(network_g.get('grad_checkpointing', False), f'{path}: network_g.grad_checkpointing')
    return TrainSettings(network_g, dict(train.get('pixel_opt') or DEFAULT_PIXEL_OPT),
                         dict(_need(train, 'optim_g', 'train.', path)), gt_size, batch, accumulation, amp)


def build_network(network_g: Mapping[str, Any], **overrides: Any) -> nn.Module:
    """``network_g`` built through BasicSR's architecture registry, with ``overrides`` applied."""
    opt = {**network_g, **overrides}
    return ARCH_REGISTRY.get(opt.pop('type'))(**opt)


def build_pixel_loss(pixel_opt: Mapping[str, Any]) -> nn.Module:
    """``train.pixel_opt`` built through BasicSR's loss registry."""
    opt = dict(pixel_opt)
    return LOSS_REGISTRY.get(opt.pop('type'))(**opt)


def tensor_bytes(tensors: List[Tensor]) -> int:
    """Bytes of the distinct storages behind ``tensors``."""
    storages = {}
    for t in tensors:
        storages[t.untyped_storage().data_ptr()] = t.untyped_storage().nbytes()
    return sum(storages.values())


def optimizer_state_bytes(optimizer: torch.optim.Optimizer) -> int:
    """Bytes of the optimizer's state tensors (Adam: two per parameter)."""
    return tensor_bytes([v for state in optimizer.state.values() for v in state.values()
                         if isinstance(v, Tensor) and v.dim() > 0])


@dataclass
class StepMeasurement:
    """One measured training step (all byte counts measured).

    ``peak_bytes`` is the peak of all tensor memory during forward, loss and backward: weights, data, activations
    and gradients, plus the optimizer state of a later step (created by the first one, it exists throughout).
    ``optimizer_peak_bytes`` is the peak of the optimizer step itself.
    """

    peak_bytes: int
    optimizer_peak_bytes: int
    seconds: float
    micro_batch: int
    parameter_bytes: int
    optimizer_state_bytes: int

    @property
    def step_peak_bytes(self) -> int:
        """The peak of a whole training step after the first one."""
        return max(self.peak_bytes, self.optimizer_peak_bytes)

    @property
    def per_sample_bytes(self) -> int:
        """What one more sample in the micro-batch costs (an upper bound: the gradients are counted as if per sample).

        The forward-backward peak without weights and optimizer state; divided by the micro-batch.
        """
        return (self.peak_bytes - self.parameter_bytes - self.optimizer_state_bytes) // self.micro_batch

    def need_bytes(self, micro_batch: int) -> int:
        """A training step's peak at ``micro_batch`` (derived: weights and state plus per-sample bytes each)."""
        forward_backward = self.parameter_bytes + self.optimizer_state_bytes + micro_batch * self.per_sample_bytes
        return max(forward_backward, self.optimizer_peak_bytes)


def _peak(fn: Callable[[], object], device: torch.device) -> int:
    """Peak bytes of tensor memory while ``fn`` runs, above what was allocated before it."""
    if device.type == 'cuda':
        synchronize(device)
        torch.cuda.reset_peak_memory_stats(device)
        base = torch.cuda.memory_allocated(device)
        fn()
        synchronize(device)
        return int(torch.cuda.max_memory_allocated(device) - base)
    return cpu_peak_bytes(fn)


def measure_training_step(net: nn.Module, loss: nn.Module, optim_g: Mapping[str, Any], micro_batch: int,
                          size: int, device: torch.device, amp: Optional[str] = None) -> StepMeasurement:
    """Peak memory and time of one training step of ``net`` (fresh optimizer) on random ``size`` patches."""
    net = net.to(device).train()
    loss = loss.to(device)
    optim_opt = dict(optim_g)
    optimizer = build_optimizer(optim_opt.pop('type'), [p for p in net.parameters() if p.requires_grad],
                                float(optim_opt.pop('lr')), **optim_opt)
    channels = getattr(net, 'in_c', 3)
    lq = torch.rand(micro_batch, channels, size, size, device=device)
    gt = torch.rand(micro_batch, channels, size, size, device=device)
    if amp is not None and device.type != 'cuda' and amp not in CPU_AMP_PRECISIONS:
        raise ValueError(f'train.amp {amp} trains on CUDA only; measure it with --device cuda (or bf16 on the CPU)')
    cast = (lambda: autocast(device, amp)) if amp else None

    def forward_backward() -> None:
        # The recipe's own step: autocast (on CUDA or the CPU), stage outputs, the loss on each of them, backward.
        training_step(net, lq, gt, loss, autocast=cast)

    optimizer.zero_grad(set_to_none=True)
    params = list(net.parameters())
    before = tensor_bytes(params + list(net.buffers()) + list(loss.buffers()) + [lq, gt])
    synchronize(device)
    start = time.perf_counter()
    fb_peak = _peak(forward_backward, device)
    after_backward = before + tensor_bytes([p.grad for p in params if p.grad is not None])
    opt_peak = _peak(optimizer.step, device)
    seconds = time.perf_counter() - start
    state = optimizer_state_bytes(optimizer)
    return StepMeasurement(before + fb_peak + state, after_backward + opt_peak, seconds, micro_batch,
                           tensor_bytes(params), state)


def measured_precision(amp: Optional[str], device: torch.device) -> Optional[str]:
    """The autocast precision a step of ``train.amp: amp`` is measured in on ``device``.

    fp16 runs on CUDA only; on the CPU its step is measured under bf16 autocast, whose activations take the same two
    bytes per element (the memory, not the speed, is what carries over).
    """
    if amp is None or device.type == 'cuda' or amp in CPU_AMP_PRECISIONS:
        return amp
    return CPU_AMP_PRECISIONS[0]


@dataclass
class Plan:
    """One combination of settings for a total batch, and the memory it needs (derived from measured figures)."""

    level: Optional[str]
    amp: Optional[str]
    accumulation: int
    micro_batch: int
    need_bytes: int
    time_factor: float  # measured step time of this level and precision over the fastest one, per sample


def plan_fits(measured: Mapping[Tuple[Optional[str], Optional[str]], StepMeasurement], total_batch: int,
              memory_bytes: int, rank_by_time: bool = False) -> List[Plan]:
    """For each measured (level, amp), the fewest micro-batches whose derived need fits; best first.

    ``measured`` holds batch-1 steps keyed by (grad_checkpointing level, amp). A plan fits when its need is within
    ``USABLE_FRACTION`` of ``memory_bytes``. Plans are ranked by measured step time when ``rank_by_time`` (timings
    worth comparing, e.g. warmed-up CUDA steps), else by how much each level recomputes (none < cab < stage); then
    by the number of micro-batches.
    """
    fastest = min(m.seconds for m in measured.values())
    plans = []
    for (level, amp), m in measured.items():
        for accumulation in (n for n in range(1, total_batch + 1) if total_batch % n == 0):
            micro = total_batch // accumulation
            need = m.need_bytes(micro)
            if need <= USABLE_FRACTION * memory_bytes:
                plans.append(Plan(level, amp, accumulation, micro, need, m.seconds / fastest))
                break

    def rank(plan: Plan) -> Tuple[float, int, int]:
        cost = plan.time_factor if rank_by_time else float(LEVELS.index(plan.level))
        return cost, plan.accumulation, plan.amp is None
    return sorted(plans, key=rank)
