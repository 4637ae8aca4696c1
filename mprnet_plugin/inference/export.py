"""Export an MPRNet to ONNX or TorchScript, and check the exported graph against PyTorch.

The exported graph takes an (N, 3, H, W) RGB float32 batch in [0, 1] with H and W multiples of 8 and returns the final
restored image only (not the intermediate stage outputs). It does not pad: callers pad to a multiple of 8 and crop
back, as ``mprnet_plugin.inference.tiling`` does.
"""
from __future__ import annotations

import math
import os
import warnings
from typing import Optional, Tuple, Union

import numpy as np
import torch
from torch import Tensor, nn

from mprnet_plugin.archs.descriptor import image_output, network_size_multiple
from mprnet_plugin.io.atomic import atomic_output

PathLike = Union[str, os.PathLike]
EXPORT_FORMATS = ('onnx', 'torchscript')
INPUT_NAME, OUTPUT_NAME = 'input', 'output'
DEFAULT_OPSET = 17


class ExportCheckError(RuntimeError):
    """An export whose outputs differ from PyTorch's beyond the tolerance (no file is left under its name)."""


def supported_opsets() -> Tuple[int, int]:
    """The ONNX opsets torch's TorchScript-based exporter writes (the one ``export_onnx`` uses)."""
    try:
        from torch.onnx import _constants
        return _constants.ONNX_MIN_OPSET, _constants.ONNX_TORCHSCRIPT_EXPORTER_MAX_OPSET
    except (ImportError, AttributeError):  # private names; torch 2.x has had them throughout
        return 7, 20


class FinalOutput(nn.Module):
    """Wraps a restoration network so that it returns only its final output (one graph output)."""

    def __init__(self, net: nn.Module) -> None:
        super().__init__()
        self.net = net

    def forward(self, x: Tensor) -> Tensor:
        return image_output(self.net(x))


def _example(height: int, width: int, multiple: int, batch: int = 1, seed: int = 0) -> Tensor:
    if height % multiple or width % multiple:
        raise ValueError(f'export size {height}x{width}: height and width must be multiples of {multiple}')
    generator = torch.Generator().manual_seed(seed)
    return torch.rand(batch, 3, height, width, generator=generator)


def check_size(height: int, width: int, dynamic: bool, multiple: int) -> Tuple[int, int]:
    """The input size the export is checked at: another size than the traced one when the graph is dynamic."""
    if not dynamic:
        return height, width
    return height + 2 * multiple, width + multiple


def _prepare(net: nn.Module) -> FinalOutput:
    return FinalOutput(net.float().cpu()).eval()


def export_onnx(net: nn.Module, path: PathLike, height: int = 256, width: int = 256, dynamic: bool = True,
                opset: int = DEFAULT_OPSET) -> None:
    """Write ``net`` as an ONNX graph; ``dynamic`` makes batch, height and width free (multiples of 8)."""
    model = _prepare(net)
    example = _example(height, width, network_size_multiple(net))
    axes = {0: 'batch', 2: 'height', 3: 'width'}
    with atomic_output(path) as tmp, torch.no_grad(), warnings.catch_warnings():
        # The tracer warns about the arch's Python shape checks; they hold for every multiple-of-8 input.
        warnings.simplefilter('ignore')
        # The TorchScript-based exporter handles the dynamic shapes without extra packages (the dynamo one needs
        # onnxscript); constant folding folds ORSNet's per-forward weight products into single initializers.
        torch.onnx.export(model, (example,), os.fspath(tmp), dynamo=False, opset_version=opset,
                          input_names=[INPUT_NAME], output_names=[OUTPUT_NAME], do_constant_folding=True,
                          dynamic_axes={INPUT_NAME: axes, OUTPUT_NAME: axes} if dynamic else None)


def export_torchscript(net: nn.Module, path: PathLike, height: int = 256, width: int = 256) -> None:
    """Write ``net`` as a traced TorchScript module (sizes are traced symbolically: any multiple of 8 runs)."""
    model = _prepare(net)
    example = _example(height, width, network_size_multiple(net))
    with torch.no_grad(), warnings.catch_warnings():
        warnings.simplefilter('ignore')
        traced = torch.jit.trace(model, example, check_trace=False)
    with atomic_output(path) as tmp:
        traced.save(os.fspath(tmp))


def run_onnx(path: PathLike, x: np.ndarray) -> np.ndarray:
    """Run an exported ONNX graph on CPU with ONNX Runtime."""
    try:
        import onnxruntime as ort
    except ImportError as exc:
        raise ImportError('checking an ONNX export needs onnxruntime: pip install "mprnet_plugin[export]"') from exc
    session = ort.InferenceSession(os.fspath(path), providers=['CPUExecutionProvider'])
    return session.run(None, {INPUT_NAME: x.astype(np.float32)})[0]


def run_torchscript(path: PathLike, x: Tensor) -> Tensor:
    """Run a saved TorchScript module on CPU."""
    with warnings.catch_warnings():
        warnings.simplefilter('ignore', FutureWarning)  # TorchScript is deprecated in favour of torch.export
        module = torch.jit.load(os.fspath(path), map_location='cpu')
    with torch.no_grad():
        return module(x)


def verify_export(net: nn.Module, path: PathLike, fmt: str, height: int, width: int, seed: int = 1) -> float:
    """Max absolute difference between the exported file and PyTorch on a random (1, 3, height, width) input."""
    model = _prepare(net)
    x = _example(height, width, network_size_multiple(net), seed=seed)
    with torch.no_grad():
        expected = model(x).numpy()
    if fmt == 'onnx':
        got = run_onnx(path, x.numpy())
    elif fmt == 'torchscript':
        got = run_torchscript(path, x).numpy()
    else:
        raise ValueError(f'unknown export format {fmt!r}; expected one of {list(EXPORT_FORMATS)}')
    if got.shape != expected.shape:
        raise RuntimeError(f'exported {fmt} model returned shape {got.shape} for input {tuple(x.shape)}, '
                           f'PyTorch {expected.shape}')
    return float(np.abs(got - expected).max())


def export(net: nn.Module, path: PathLike, fmt: str, height: int = 256, width: int = 256, dynamic: bool = True,
           opset: int = DEFAULT_OPSET, verify: bool = True, tolerance: Optional[float] = None) -> Optional[float]:
    """Export ``net`` in ``fmt`` and, with ``verify``, return the max abs difference from PyTorch.

    The file is checked under a temporary name; with ``tolerance``, a larger difference raises ``ExportCheckError``
    and nothing is left at ``path``.
    """
    if fmt not in EXPORT_FORMATS:
        raise ValueError(f'unknown export format {fmt!r}; expected one of {list(EXPORT_FORMATS)}')
    low, high = supported_opsets()
    if fmt == 'onnx' and not low <= opset <= high:
        raise ValueError(f'ONNX opset {opset} is not supported by torch {torch.__version__}; expected {low}-{high}')
    if tolerance is not None and not tolerance >= 0:
        raise ValueError(f'tolerance must be a number >= 0; got {tolerance}')
    with atomic_output(path) as tmp:
        if fmt == 'onnx':
            export_onnx(net, tmp, height, width, dynamic, opset)
        else:
            export_torchscript(net, tmp, height, width)
        if not verify:
            return None
        # TorchScript traces sizes symbolically, so it is always checked at another size than the traced one.
        size = check_size(height, width, dynamic or fmt == 'torchscript', network_size_multiple(net))
        diff = verify_export(net, tmp, fmt, *size)
        if not math.isfinite(diff):
            # NaN compares false with any tolerance: without this, NaN outputs would pass the check.
            raise ExportCheckError(f'the {fmt} export cannot be verified: the outputs on a random input are not '
                                   f'finite (max abs difference {diff}); nothing was written to {os.fspath(path)!r}')
        if tolerance is not None and diff > tolerance:
            raise ExportCheckError(f'the {fmt} export differs from PyTorch by {diff:.3g} > tolerance {tolerance:g}; '
                                   f'nothing was written to {os.fspath(path)!r}')
    return diff
