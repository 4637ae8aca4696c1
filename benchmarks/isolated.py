"""Time variants round-robin, each in its own process.

Variants that share a process share its heap: glibc adapts its mmap and trim thresholds to the allocations it has
seen, so one model's allocations change how often the other's large tensors page-fault. On 2 CPU cores that moved
a forward's time by 15-25% depending on which model ran before it. Giving each variant its own process measures
each as a user runs it (one model per process), while the round-robin order (A, B, C, A, B, C, ...) still lets
machine noise hit all of them alike.

A variant is a builder: a module-level function (so a spawned process can import it) that builds the model, warms
it up, and returns ``(call, info)``, where ``call()`` runs one timed repetition and ``info`` is a small picklable
dict (a warm-up time, say) passed back to the caller.
"""
from __future__ import annotations

import multiprocessing as mp
import time
from typing import Any, Callable, Dict, List, Optional, Tuple

import torch

from mprnet_plugin.tools.profiling import synchronize

Builder = Callable[..., Tuple[Callable[[], object], Dict[str, Any]]]


def _serve(conn, builder: Builder, kwargs: Dict[str, Any], threads: Optional[int], device: str) -> None:
    """Worker: build the variant, report its info, then time one call per 'run' message until 'stop'."""
    try:
        if threads:
            torch.set_num_threads(threads)
        dev = torch.device(device)
        call, info = builder(**kwargs)
        conn.send(('ready', info))
        while conn.recv() == 'run':
            synchronize(dev)
            start = time.perf_counter()
            call()
            synchronize(dev)
            conn.send(('time', time.perf_counter() - start))
    except Exception as exc:  # report, so the parent fails with the variant's own error
        conn.send(('error', f'{type(exc).__name__}: {exc}'))
    finally:
        conn.close()


def round_robin_isolated(variants: Dict[str, Tuple[Builder, Dict[str, Any]]], repeats: int,
                         threads: Optional[int] = None, device: str = 'cpu'
                         ) -> Tuple[Dict[str, List[float]], Dict[str, Dict[str, Any]]]:
    """Seconds per call of each variant (each in its own process, timed in turn), and each variant's info."""
    ctx = mp.get_context('spawn')
    workers, infos = {}, {}
    try:
        # Build one at a time, so no build competes for the cores with another.
        for name, (builder, kwargs) in variants.items():
            parent, child = ctx.Pipe()
            proc = ctx.Process(target=_serve, args=(child, builder, kwargs, threads, device), daemon=True)
            proc.start()
            child.close()
            workers[name] = (proc, parent)
            infos[name] = _expect(name, parent, 'ready')
        times: Dict[str, List[float]] = {name: [] for name in workers}
        for _ in range(repeats):
            for name, (_, conn) in workers.items():
                conn.send('run')
                times[name].append(_expect(name, conn, 'time'))
        return times, infos
    finally:
        for proc, conn in workers.values():
            try:
                conn.send('stop')
            except (BrokenPipeError, OSError):
                pass  # the worker has already exited (it reported an error); join it below
            proc.join(timeout=30)
            if proc.is_alive():
                proc.kill()


def _expect(name: str, conn, kind: str) -> Any:
    try:
        got, value = conn.recv()
    except EOFError:
        raise RuntimeError(f'benchmark variant {name!r}: its process exited without a result') from None
    if got == 'error':
        raise RuntimeError(f'benchmark variant {name!r} failed: {value}')
    if got != kind:
        raise RuntimeError(f'benchmark variant {name!r}: expected {kind!r} from its process, got {got!r}')
    return value
