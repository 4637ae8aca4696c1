"""What a network costs: parameters, multiply-accumulates, latency and peak memory of one forward pass.

MACs come from ``torch.utils.flop_counter.FlopCounterMode`` (convolutions and matrix products; one MAC is two FLOPs).
Counting runs on a ``meta`` copy of the model by default, so even the full-width MPRNet at 256x256 costs no compute.
"""
from __future__ import annotations

import copy
import logging
import statistics
import time
from dataclasses import asdict, dataclass
from typing import Callable, Dict, List, Optional, Sequence

import torch
from torch import Tensor, nn
from torch.utils.flop_counter import FlopCounterMode

logger = logging.getLogger(__name__)


def count_parameters(model: nn.Module, trainable_only: bool = False) -> int:
    """Unique parameters of ``model`` (a tensor shared by several modules counts once)."""
    return sum(p.numel() for p in model.parameters() if p.requires_grad or not trainable_only)


def _model_device(model: nn.Module) -> torch.device:
    for tensor in list(model.parameters()) + list(model.buffers()):
        return tensor.device
    return torch.device('cpu')


def _model_dtype(model: nn.Module) -> torch.dtype:
    for tensor in model.parameters():
        if tensor.is_floating_point():
            return tensor.dtype
    return torch.float32


def _count_flops(model: nn.Module, x: Tensor) -> Dict[str, int]:
    counter = FlopCounterMode(display=False)
    was_training = model.training
    model.eval()
    try:
        with counter, torch.no_grad():
            model(x)
    finally:
        model.train(was_training)
    return {str(op): int(n) for op, n in counter.get_flop_counts()['Global'].items()}


def count_macs_by_op(model: nn.Module, input_shape: Sequence[int], use_meta: bool = True) -> Dict[str, int]:
    """MACs of one forward pass on a ``input_shape`` input, per counted operator (e.g. ``aten.convolution``).

    With ``use_meta`` the count runs on a ``meta`` copy of the model (no arithmetic, no memory); a model that cannot
    run on the meta device (for instance one holding plain tensor attributes) is counted on its own device instead.
    """
    shape = tuple(int(s) for s in input_shape)
    device, dtype = _model_device(model), _model_dtype(model)
    if device.type == 'meta':
        flops = _count_flops(model, torch.empty(shape, device='meta', dtype=dtype))
    else:
        flops = None
        if use_meta:
            try:
                meta_model = copy.deepcopy(model).to('meta')
                flops = _count_flops(meta_model, torch.empty(shape, device='meta', dtype=dtype))
            except (RuntimeError, NotImplementedError, TypeError, ValueError) as exc:
                logger.info('%s cannot run on the meta device (%s: %s); counting MACs with a real forward pass',
                            type(model).__name__, type(exc).__name__, str(exc).splitlines()[0] if str(exc) else '')
        if flops is None:
            flops = _count_flops(model, torch.zeros(shape, device=device, dtype=dtype))
    return {op: n // 2 for op, n in flops.items()}


def count_macs(model: nn.Module, input_shape: Sequence[int], use_meta: bool = True) -> int:
    """Total multiply-accumulates of one forward pass on an input of ``input_shape`` (N, C, H, W)."""
    return sum(count_macs_by_op(model, input_shape, use_meta).values())


def synchronize(device: torch.device) -> None:
    """Wait for queued work on ``device`` (a no-op on CPU), so that timings cover it."""
    if device.type == 'cuda':
        torch.cuda.synchronize(device)


@dataclass
class Timing:
    """Seconds per call: median, minimum, and every repeat."""

    median: float
    min: float
    samples: List[float]


def time_calls(fn: Callable[[], object], device: torch.device, repeats: int = 5, warmup: int = 1) -> Timing:
    """Time ``fn()`` ``repeats`` times after ``warmup`` untimed calls."""
    if repeats < 1:
        raise ValueError(f'repeats must be >= 1; got {repeats}')
    for _ in range(warmup):
        fn()
    samples = []
    for _ in range(repeats):
        synchronize(device)
        start = time.perf_counter()
        fn()
        synchronize(device)
        samples.append(time.perf_counter() - start)
    return Timing(statistics.median(samples), min(samples), samples)


def measure_latency(model: nn.Module, x: Tensor, repeats: int = 5, warmup: int = 1) -> Timing:
    """Seconds per inference forward pass of ``model`` on ``x`` (eval mode, ``torch.inference_mode``)."""
    was_training = model.training
    model.eval()
    try:
        with torch.inference_mode():
            return time_calls(lambda: model(x), x.device, repeats, warmup)
    finally:
        model.train(was_training)


def cpu_peak_bytes(fn: Callable[[], object]) -> int:
    """Peak of tensor memory allocated and not yet freed while ``fn`` runs on CPU, from the profiler's events."""
    from torch.profiler import ProfilerActivity, profile
    with profile(activities=[ProfilerActivity.CPU], profile_memory=True) as prof:
        fn()
    events = [(e.start_ns(), e.nbytes()) for e in prof.profiler.kineto_results.events() if e.name() == '[memory]']
    held = peak = 0
    for _, nbytes in sorted(events):
        held += nbytes
        peak = max(peak, held)
    return peak


def measure_peak_memory(model: nn.Module, x: Tensor) -> int:
    """Bytes of tensor memory one inference forward pass needs beyond the weights and the input."""
    was_training = model.training
    model.eval()
    try:
        with torch.inference_mode():
            if x.device.type == 'cuda':
                synchronize(x.device)
                torch.cuda.reset_peak_memory_stats(x.device)
                base = torch.cuda.memory_allocated(x.device)
                model(x)
                synchronize(x.device)
                return int(torch.cuda.max_memory_allocated(x.device) - base)
            return cpu_peak_bytes(lambda: model(x))
    finally:
        model.train(was_training)


@dataclass
class ModelProfile:
    """One network's cost at one input size."""

    parameters: int
    macs: int
    input_shape: List[int]
    latency_s: Optional[float]
    latency_min_s: Optional[float]
    peak_memory_bytes: Optional[int]
    device: str

    def as_dict(self) -> Dict[str, object]:
        """Plain-data form for JSON."""
        return asdict(self)


def profile_model(model: nn.Module, input_shape: Sequence[int], repeats: int = 5, warmup: int = 1,
                  timing: bool = True) -> ModelProfile:
    """Parameters, MACs, and (with ``timing``) latency and peak memory on the model's own device."""
    device, dtype = _model_device(model), _model_dtype(model)
    shape = [int(s) for s in input_shape]
    latency = latency_min = peak = None
    if timing:
        x = torch.rand(shape, device=device, dtype=dtype)
        measured = measure_latency(model, x, repeats, warmup)
        latency, latency_min = measured.median, measured.min
        peak = measure_peak_memory(model, x)
    return ModelProfile(count_parameters(model), count_macs(model, shape), shape, latency, latency_min, peak,
                        str(device))
