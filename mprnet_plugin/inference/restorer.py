"""``Restorer``: restore images of any size with an MPRNet checkpoint, from Python.

    from mprnet_plugin import Restorer
    restorer = Restorer.from_checkpoint('model_deblurring.pth', device='auto', tile=512, precision='bf16')
    sharp = restorer(blurry)        # numpy H x W x C (uint8, uint16 or float in [0, 1], RGB) or a torch tensor

``precision='bf16'`` is the fast path on CUDA and on CPUs that compute bf16 natively (AVX512-BF16 / AMX);
``compile=True`` runs the network through ``torch.compile`` (``inference.compiled``).

Padding, cropping and tiling are ``inference.tiling``'s; array conversions are ``io.images``'s.
"""
from __future__ import annotations

import contextlib
import inspect
import logging
import os
from typing import Any, Callable, Dict, Iterable, Iterator, List, Mapping, Optional, Sequence, TypeVar, Union

import numpy as np
import torch
from torch import Tensor, nn

from mprnet_plugin.runtime.devices import resolve_device  # noqa: F401  (re-exported: part of the inference API)
from mprnet_plugin.archs.descriptor import bare_network, descriptor_for, network_size_multiple
from mprnet_plugin.archs.mprnet_local_arch import is_local, to_local
from mprnet_plugin.checkpoints import build_mprnet_from_checkpoint
from mprnet_plugin.io.images import array_to_tensor, from_model_channels, tensor_to_array, to_model_channels
from mprnet_plugin.runtime.precision import PRECISIONS, check_inference_precision
from mprnet_plugin.inference.compiled import CompiledNetwork
from mprnet_plugin.inference.self_ensemble import self_ensemble as ensemble_x8
from mprnet_plugin.inference.tiling import check_tile, restore_with_fallback

logger = logging.getLogger(__name__)

PathLike = Union[str, os.PathLike]
Image = Union[np.ndarray, Tensor]

# The smallest tile the out-of-memory fallback tries (restore_with_fallback's floor).
MIN_FALLBACK_TILE: int = inspect.signature(restore_with_fallback).parameters['min_tile'].default


class NonFiniteError(ValueError):
    """An image in or out of the network that holds NaN or infinite values."""


def check_finite(values: Union[np.ndarray, Tensor], what: str) -> None:
    """Raise ``NonFiniteError`` naming ``what`` when float ``values`` hold NaN or infinite entries."""
    if isinstance(values, Tensor):
        total, bad = values.numel(), int((~torch.isfinite(values)).sum()) if values.is_floating_point() else 0
    else:
        total, bad = values.size, int((~np.isfinite(values)).sum()) if values.dtype.kind == 'f' else 0
    if bad:
        raise NonFiniteError(f'{what} holds {bad} non-finite value(s) (NaN or infinity) of {total}')


class OutOfRangeError(ValueError):
    """A float image whose values are not in [0, 1] (0-255 floats, HDR data, normalised tensors)."""


# Float inputs may overshoot [0, 1] by resampling or rounding noise; 0-255, HDR or mean-subtracted data is far out.
FLOAT_INPUT_SLACK = 1e-3


def check_unit_range(values: Union[np.ndarray, Tensor], what: str) -> None:
    """Raise ``OutOfRangeError`` naming ``what`` and the range found when float ``values`` are not in [0, 1]."""
    if isinstance(values, Tensor):
        if not values.is_floating_point() or values.numel() == 0:
            return
        low, high = float(values.min()), float(values.max())
    else:
        if values.dtype.kind != 'f' or values.size == 0:
            return
        low, high = float(np.min(values)), float(np.max(values))
    if low >= -FLOAT_INPUT_SLACK and high <= 1 + FLOAT_INPUT_SLACK:
        return
    hint = ' (0-255 values: divide by 255, or pass the uint8 array)' if 1 < high <= 255 and low >= 0 else ''
    raise OutOfRangeError(f'{what} holds float values in [{low:g}, {high:g}]; expected float values in [0, 1]'
                          f'{hint}; uint8 and uint16 images are scaled by their type')


def check_image_size(shape: Sequence[int], what: str) -> None:
    """Raise ``ValueError`` when an image of ``shape`` (H, W first) has no pixels."""
    if len(shape) >= 2 and (shape[0] == 0 or shape[1] == 0):
        raise ValueError(f'{what} has size {shape[0]}x{shape[1]}; an image needs at least one pixel')


T = TypeVar('T')

def same_size_batches(items: Iterable[T], shape_of: Callable[[T], tuple], limit: int) -> Iterator[List[T]]:
    """Consecutive ``items`` of one shape, at most ``limit`` per batch, in their order (one forward pass each)."""
    group: List[T] = []
    for item in items:
        if group and (len(group) >= limit or shape_of(group[0]) != shape_of(item)):
            yield group
            group = []
        group.append(item)
    if group:
        yield group


class Restorer:
    """Restore images with an MPRNet: any size (reflect-padded to a multiple of 8 and cropped back), whole or tiled.

    Args:
        net: the network (its first output is the restored image).
        device: ``'auto'``, ``'cpu'``, ``'cuda'`` or ``'cuda:N'``.
        tile: tile size in pixels (a multiple of 8), or None to restore whole images; tiling is an approximation
            (channel attention pools over what it sees), so use the largest tile that fits.
        overlap: pixels shared by neighbouring tiles, blended with a raised-cosine window.
        precision: ``'fp32'``, ``'bf16'`` or ``'fp16'`` (autocast; the result is always float32). bf16 runs on CUDA
            and on the CPU (fast where it computes bf16 natively; elsewhere with a warning that it is slow); fp16
            on CUDA only.
        batch: images of the same size per forward pass, or tiles per forward pass when tiling.
        fallback_tile: when a whole image runs out of memory, the tile size tried first (then halved).
        self_ensemble: average the outputs of the 8 flips/rotations of each image (8x the time; usually a little
            closer to the target for a network trained with flip/rotation augmentation).
        notify: receives the warnings: out-of-memory retries, slow bf16, compile fall-back (default: this
            module's logger).
        compile: run the network through ``torch.compile`` with dynamic shapes (the first image takes a while;
            later images of other sizes reuse the graph, except that images under about 83x83 pixels compile
            further ones), falling back to eager mode with a warning if compiling fails.
    """

    def __init__(self, net: nn.Module, device: Union[str, torch.device] = 'auto', tile: Optional[int] = None,
                 overlap: int = 32, precision: str = 'fp32', batch: int = 1, fallback_tile: int = 512,
                 notify: Optional[Callable[[str], None]] = None, compile: bool = False,
                 self_ensemble: bool = False) -> None:
        if precision not in PRECISIONS:
            raise ValueError(f'precision {precision!r} is not supported; expected one of {list(PRECISIONS)}')
        multiple = network_size_multiple(net)
        if tile is not None and tile > 0:
            check_tile(tile, overlap, multiple)
        if batch < 1:
            raise ValueError(f'batch must be at least 1; got {batch}')
        if not isinstance(self_ensemble, bool):
            raise ValueError(f'self_ensemble must be True or False; got {self_ensemble!r}')
        if fallback_tile % multiple or fallback_tile < MIN_FALLBACK_TILE:
            raise ValueError(f'fallback tile {fallback_tile} must be a multiple of {multiple} and at least '
                             f'{MIN_FALLBACK_TILE}, the smallest tile the out-of-memory retry tries')
        self.device = resolve_device(device)
        self.tile = tile if tile else None
        self.overlap, self.precision, self.batch, self.fallback_tile = overlap, precision, batch, fallback_tile
        self.self_ensemble = self_ensemble
        self.notify = notify or logger.warning
        warning = check_inference_precision(precision, self.device)
        if warning:
            self.notify(warning)
        self.net = net.eval().to(self.device)
        for param in self.net.parameters():
            param.requires_grad_(False)
        self.multiple = multiple
        # What restores: the network itself, or its compiled form (which falls back to it).
        self.forward: Callable[[Tensor], Any] = CompiledNetwork(self.net, self.notify) if compile else self.net

    @property
    def compiled(self) -> bool:
        """Whether images go through the compiled network (False without ``compile`` or after a fall-back)."""
        return isinstance(self.forward, CompiledNetwork) and self.forward.active

    @classmethod
    def from_checkpoint(cls, path: PathLike, device: Union[str, torch.device] = 'auto', tile: Optional[int] = None,
                        overlap: int = 32, precision: str = 'fp32', batch: int = 1, key: Optional[str] = None,
                        local: Union[bool, Mapping[str, Any]] = False, **kwargs: object) -> 'Restorer':
        """A Restorer for any MPRNet checkpoint (authors', BasicSR, MMEngine or bare); widths come from its shapes.

        ``local``: True, or ``to_local``'s arguments (``train_size``, ``base_size``, ``fast_imp``), runs the network
        as MPRNet-Local (TLC's test-time local pooling; default windows: 256 training patches, 384 base).
        """
        net = build_mprnet_from_checkpoint(path, key)
        if local:
            to_local(net, **(dict(local) if isinstance(local, Mapping) else {}))
        return cls(net, device=device, tile=tile, overlap=overlap, precision=precision, batch=batch,
                   **kwargs)  # type: ignore[arg-type]

    @property
    def local(self) -> bool:
        """Whether the network pools its channel attention locally (MPRNet-Local)."""
        return is_local(self.net)

    @property
    def preset(self) -> Optional[str]:
        """The published preset whose widths the network has (its architecture's descriptor), or None."""
        found = descriptor_for(type(bare_network(self.net)).__name__)
        return found.matching_preset(self.config) if found is not None else None

    @property
    def config(self) -> Dict[str, object]:
        """The network's constructor arguments, when it has them (MPRNet does)."""
        return dict(getattr(self.net, 'config', {}))

    @contextlib.contextmanager
    def _compute(self) -> Iterator[None]:
        dtype = PRECISIONS[self.precision]
        with torch.no_grad(), torch.autocast(self.device.type, dtype=dtype or torch.float32,
                                                    enabled=dtype is not None):
            yield

    def restore_tensor(self, x: Tensor) -> Tensor:
        """Restore a (N, 3, H, W) RGB float batch in [0, 1]; returns float32 on ``x``'s device, not clamped.

        Non-finite values in ``x`` or in the result raise ``NonFiniteError`` (a NaN spreads to the whole output);
        values outside [0, 1] raise ``OutOfRangeError``.
        """
        if x.dim() != 4 or x.shape[1] != 3:
            raise ValueError(f'restore_tensor expects an (N, 3, H, W) RGB batch; got shape {tuple(x.shape)}')
        check_image_size(tuple(x.shape[2:]), 'the input batch')
        check_finite(x, 'the input')
        check_unit_range(x, 'the input')

        def one_pass(batch: Tensor) -> Tensor:
            return restore_with_fallback(self.forward, batch, self.tile, self.overlap, self.multiple, self.batch,
                                         self.fallback_tile, notify=self.notify)

        with self._compute():
            x_device = x.to(self.device, torch.float32)
            out = ensemble_x8(one_pass, x_device) if self.self_ensemble else one_pass(x_device)
        check_finite(out, 'the restored output')
        return out.float().to(x.device)

    def restore_array(self, img: np.ndarray, bgr: bool = False) -> np.ndarray:
        """Restore one H x W (x C) array; the result has its shape and dtype (uint8, uint16 or float in [0, 1])."""
        return self.restore_arrays([img], bgr)[0]

    def restore_arrays(self, images: Sequence[np.ndarray], bgr: bool = False) -> List[np.ndarray]:
        """Restore several arrays, running up to ``batch`` consecutive same-size images per forward pass."""
        def checked(index: int, img: np.ndarray) -> tuple:
            img = np.asarray(img)
            what = 'the input image' if len(images) == 1 else f'input image {index}'
            check_image_size(img.shape, what)
            check_finite(img, what)
            check_unit_range(img, what)
            return array_to_tensor(img, bgr=bgr)

        tensors = [checked(i, img) for i, img in enumerate(images)]  # every input checked before any work
        results: List[np.ndarray] = []
        for group in same_size_batches(tensors, lambda item: tuple(item[0].shape), self.batch):
            out = self.restore_tensor(torch.cat([t for t, _ in group], dim=0))
            results.extend(tensor_to_array(o, layout) for o, (_, layout) in zip(out, group))
        return results

    def restore_image_tensor(self, image: Tensor) -> Tensor:
        """Restore a (C, H, W) or (N, C, H, W) tensor (C: 1 gray, 2 gray+alpha, 3 RGB, 4 RGBA; float in [0, 1] or
        uint8); the result has its shape, dtype and device, with any alpha channel passed through."""
        if image.dim() not in (3, 4):
            raise ValueError(f'expected a (C, H, W) or (N, C, H, W) image tensor; got shape {tuple(image.shape)}')
        batched = image.dim() == 4
        x = image if batched else image[None]
        if x.dtype == torch.uint8:
            values = x.float() / 255
        elif x.is_floating_point():
            values = x.float()
        else:
            raise ValueError(f'expected a float tensor in [0, 1] or a uint8 tensor; got {x.dtype}')
        colour, alpha, gray = to_model_channels(values)
        out = from_model_channels(self.restore_tensor(colour).clamp_(0, 1), alpha, gray)
        out = (out * 255).round_().to(torch.uint8) if x.dtype == torch.uint8 else out.to(x.dtype)
        if alpha is not None:
            out[:, -1:] = x[:, -1:]  # untouched, bit for bit
        return out if batched else out[0]

    def __call__(self, image: Image, bgr: bool = False) -> Image:
        """Restore a numpy array (H x W x C, RGB unless ``bgr``) or a torch tensor ((N,) C, H, W), returning the same
        kind, shape and dtype."""
        if isinstance(image, Tensor):
            return self.restore_image_tensor(image)
        if isinstance(image, np.ndarray):
            return self.restore_array(image, bgr=bgr)
        raise TypeError(f'Restorer expects a numpy array or a torch tensor; got {type(image).__name__}')
