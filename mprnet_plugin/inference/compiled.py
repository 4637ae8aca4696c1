"""Compiled inference: ``torch.compile`` with dynamic shapes, inductor's cache kept across runs, eager fall-back.

Used by ``Restorer(compile=True)`` (``mprnet-infer --compile``), ``val.compile`` (``mprnet-test``) and the MMEngine
test launcher's ``--compile``; training has its own switch (``train.compile``).

Shapes are compiled as dynamic (``dynamic=True``): one graph serves every image size, so a folder of mixed sizes
compiles once, and outputs equal the eager ones (no padding beyond the network's size multiple, which
``inference.tiling.restore`` already does). There are two buckets of sizes, not one: the CPU convolution backend
(oneDNN, or torch's own kernel for maps of at most 20,480 values at batch 1) is chosen by the feature map's size,
and the graph records that choice. With the published widths every image of more than about 6,900 pixels (83x83)
shares one graph; smaller images compile further ones. Tiles all have one size, so tiled restoration compiles once.
Inductor's compiled code is cached on disk (``TORCHINDUCTOR_CACHE_DIR``, by default under
``~/.cache/mprnet_plugin/inductor``), so the next run of the same network skips most of the compile time.
"""
from __future__ import annotations

import logging
import os
from pathlib import Path
from typing import Any, Callable, Optional

import torch
from torch import Tensor, nn

from mprnet_plugin.archs.descriptor import NetOutput, network_size_multiple
from mprnet_plugin.inference.tiling import is_out_of_memory

logger = logging.getLogger(__name__)

CACHE_VARIABLE = 'TORCHINDUCTOR_CACHE_DIR'
DEFAULT_CACHE_DIR = Path('~/.cache/mprnet_plugin/inductor')
COMPILE_NOTICE = ('compiling the network with torch.compile: the first image takes a while (minutes on a CPU); '
                  'later images of any size, and later runs (inductor cache in {cache}), reuse it')


def inductor_cache_dir() -> str:
    """Point inductor's on-disk cache at ``~/.cache/mprnet_plugin/inductor`` unless the user chose one; returns it."""
    # torch's own default is under /tmp, which is often wiped between sessions: a cache that survives saves minutes.
    if not os.environ.get(CACHE_VARIABLE):
        os.environ[CACHE_VARIABLE] = str(DEFAULT_CACHE_DIR.expanduser())
    return os.environ[CACHE_VARIABLE]


def describe(exc: BaseException) -> str:
    """``'TypeName: first line of the message'`` (compiler errors carry pages of context after it)."""
    text = str(exc).strip()
    return f'{type(exc).__name__}: {text.splitlines()[0][:300]}' if text else type(exc).__name__


class CompiledNetwork:
    """Call ``net`` through ``torch.compile(net, dynamic=True)``; falls back to eager, with a warning, if that fails.

    A failure of any compiled call except running out of memory (which the caller's tile fall-back handles) switches
    to eager mode for good and re-runs the call eagerly; an error that is the network's own then recurs there.
    ``module`` is the eager network; ``size_multiple`` is its own, for ``inference.tiling``.
    """

    def __init__(self, net: nn.Module, notify: Optional[Callable[[str], None]] = None,
                 inform: Optional[Callable[[str], None]] = None, **compile_kwargs: Any) -> None:
        self.module = net
        self.notify = notify or logger.warning
        self.failed: Optional[str] = None
        (inform or logger.info)(COMPILE_NOTICE.format(cache=inductor_cache_dir()))
        kwargs = dict(dynamic=True)
        kwargs.update(compile_kwargs)
        self.compiled: Optional[Callable[[Tensor], NetOutput]]
        try:
            self.compiled = torch.compile(net, **kwargs)
        except Exception as exc:  # noqa: BLE001 (a compiler that cannot start leaves eager mode, which works)
            self._give_up(describe(exc))

    @property
    def size_multiple(self) -> int:
        """The size the eager network's inputs must be multiples of (for ``inference.tiling``)."""
        return network_size_multiple(self.module)

    @property
    def active(self) -> bool:
        """Whether calls still go through the compiled network (False after a fall-back to eager)."""
        return self.compiled is not None

    def _give_up(self, failure: str) -> None:
        self.compiled = None
        self.failed = failure
        self.notify(f'torch.compile failed ({self.failed}); restoring in eager mode instead')

    def __call__(self, x: Tensor) -> NetOutput:
        """The network's output for ``x``, compiled when possible."""
        if self.compiled is None:
            return self.module(x)
        try:
            return self.compiled(x)
        except Exception as exc:  # noqa: BLE001 (compiler errors come in many types; a real one recurs in eager)
            if is_out_of_memory(exc):
                raise
            failure = describe(exc)
        # Outside the except block, so the failed attempt's tensors (held by the traceback) are freed first.
        self._give_up(failure)
        return self.module(x)

