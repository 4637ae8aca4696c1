"""Padding, cropping and tiled restoration on a 1000x700 image, seams, and the out-of-memory fallback."""
import math

import numpy as np
import pytest
import torch
from torch import nn

from mprnet_plugin.archs.mprnet_arch import MPRNet
from mprnet_plugin.inference.tiling import (crop_to, is_out_of_memory, pad_to_multiple, restore, restore_tiled,
                                   restore_with_fallback, tile_starts)

# Smaller still than TINY_MPRNET: the 1000x700 passes must stay quick on two shared cores.
MICRO_MPRNET = dict(n_feat=4, scale_unetfeats=2, scale_orsnetfeats=2, num_cab=1)
HEIGHT, WIDTH = 700, 1000  # 700 is not a multiple of 8
TILE, OVERLAP = 256, 32


def psnr(a: torch.Tensor, b: torch.Tensor) -> float:
    return 10 * math.log10(1.0 / (a - b).pow(2).mean().item())


def smooth_image(height: int, width: int) -> torch.Tensor:
    yy, xx = torch.meshgrid(torch.linspace(0, 1, height), torch.linspace(0, 1, width), indexing='ij')
    return torch.stack([0.2 + 0.6 * xx, 0.3 + 0.4 * yy, 0.5 + 0.3 * torch.sin(3 * xx + 2 * yy)])[None]


def textured_image(height: int, width: int) -> torch.Tensor:
    yy, xx = torch.meshgrid(torch.linspace(0, 1, height), torch.linspace(0, 1, width), indexing='ij')
    texture = 0.1 * torch.sin(40 * xx) * torch.cos(30 * yy) + 0.05 * torch.rand(1, 3, height, width)
    return (smooth_image(height, width) + texture).clamp(0, 1)


def small_weights(net: nn.Module, std: float = 0.02) -> nn.Module:
    """Random weights drawn small, so the network adds a modest residual to its input, as trained restorers do."""
    for module in net.modules():
        if isinstance(module, nn.Conv2d):
            nn.init.normal_(module.weight, std=std)
    return net


@pytest.fixture(scope='module')
def image() -> torch.Tensor:
    torch.manual_seed(1)
    return textured_image(HEIGHT, WIDTH)


@pytest.fixture(scope='module')
def default_net() -> MPRNet:  # PyTorch's default initialisation
    torch.manual_seed(0)
    return MPRNet(**MICRO_MPRNET).eval()


@pytest.fixture(scope='module')
def small_net() -> MPRNet:
    torch.manual_seed(0)
    return small_weights(MPRNet(**MICRO_MPRNET)).eval()


@pytest.fixture(scope='module')
def small_whole(image, small_net) -> torch.Tensor:
    with torch.no_grad():
        return restore(small_net, image)


@pytest.mark.slow
@torch.no_grad()
def test_any_size_equals_model_on_reflect_padded_image(image, small_net, small_whole):
    assert small_whole.shape == image.shape
    # The authors' recipe, written out independently: reflect-pad right and bottom to a multiple of 8, crop back.
    padded = np.pad(image.numpy(), ((0, 0), (0, 0), (0, 4), (0, 0)), mode='reflect')
    assert padded.shape[-2:] == (704, 1000)
    expected = small_net(torch.from_numpy(padded))[0][..., :HEIGHT, :WIDTH]
    torch.testing.assert_close(small_whole, expected, rtol=0, atol=1e-6)


@pytest.mark.slow
@torch.no_grad()
def test_tiled_close_to_whole_with_small_random_weights(image, small_net, small_whole):
    tiled = restore(small_net, image, tile=TILE, overlap=OVERLAP, tile_batch=2)
    assert tiled.shape == image.shape
    assert psnr(small_whole, tiled) > 50


class LocalNet(nn.Module):
    """Three 3x3 convolutions: every output pixel depends only on a 7x7 neighbourhood, so overlap makes tiling exact."""

    def __init__(self) -> None:
        super().__init__()
        self.body = nn.Sequential(nn.Conv2d(3, 8, 3, padding=1), nn.ReLU(), nn.Conv2d(8, 8, 3, padding=1), nn.ReLU(),
                                  nn.Conv2d(8, 3, 3, padding=1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.body(x) + x


@torch.no_grad()
def test_blending_is_exact_for_a_local_network():
    torch.manual_seed(0)
    net = LocalNet().eval()
    x = torch.rand(2, 3, 203, 317)
    whole = restore(net, x)
    for tile, overlap, batch in ((64, 16, 1), (96, 24, 3), (128, 16, 4)):
        torch.testing.assert_close(restore(net, x, tile=tile, overlap=overlap, tile_batch=batch), whole,
                                   rtol=0, atol=2e-6)


def border_step_ratio(out: torch.Tensor, borders, axis: int) -> float:
    """Largest jump across a tile border, relative to the median jump of the columns (rows) around it."""
    diff = out.diff(dim=axis).abs().mean(dim=tuple(d for d in range(4) if d != axis))  # diff[c-1]: from c-1 to c
    ratios = []
    for c in borders:
        local = torch.cat([diff[c - 10:c - 2], diff[c + 1:c + 9]]).median()
        ratios.append((diff[c - 1] / local).item())
    return max(ratios)


def tile_borders(length: int, tile: int, overlap: int):
    starts = tile_starts(length, tile, overlap)
    return sorted({s for s in starts if s > 0} | {s + tile for s in starts if s + tile < length})


@pytest.mark.slow
@torch.no_grad()
def test_no_step_at_tile_borders_on_a_smooth_image(default_net):
    img, tile = smooth_image(320, 400), 128
    whole = restore(default_net, img)
    blended = restore(default_net, img, tile=tile, overlap=OVERLAP, tile_batch=4)
    hard = restore(default_net, img, tile=tile, overlap=0, tile_batch=4)  # abutting tiles: the check must see seams
    for axis, length in ((3, 400), (2, 320)):
        assert border_step_ratio(hard, tile_borders(length, tile, 0), axis) > 5
        assert border_step_ratio(blended, tile_borders(length, tile, OVERLAP), axis) < 2
    # Default-init random features exaggerate MPRNet's own boundary effects (stage 1 works on quarters, stage 2 on
    # halves, channel attention pools per tile), so tiles differ from the whole more than with small or trained
    # weights; it must still be the same picture.
    assert psnr(whole, blended) > 30


def test_tile_starts_cover_the_length():
    for length, tile, overlap in ((1000, 256, 32), (704, 256, 32), (256, 256, 32), (100, 256, 32), (513, 64, 0)):
        starts = tile_starts(length, tile, overlap)
        covered = np.zeros(length, bool)
        for s in starts:
            covered[s:s + tile] = True
        assert covered.all() and starts[-1] + min(tile, length) == length
        assert all(b - a <= tile - overlap for a, b in zip(starts, starts[1:]))


def test_pad_and_crop_round_trip_and_tiny_images():
    x = torch.rand(1, 3, 5, 3)
    padded, size = pad_to_multiple(x)
    assert padded.shape[-2:] == (8, 8) and size == (5, 3)  # too small to reflect: replicated instead
    assert torch.equal(crop_to(padded, size), x)


def test_tile_arguments_are_checked():
    net = LocalNet()
    x = torch.rand(1, 3, 64, 64)
    with pytest.raises(ValueError, match='multiple of 8'):
        restore_tiled(net, x, tile=60)
    with pytest.raises(ValueError, match='overlap'):
        restore_tiled(net, x, tile=32, overlap=32)
    with pytest.raises(ValueError, match='4-D'):
        restore(net, x[0])


class MemoryLimitedNet(nn.Module):
    """A network that raises CUDA's out-of-memory error on inputs above a number of pixels (batch included)."""

    def __init__(self, net: nn.Module, max_pixels: int) -> None:
        super().__init__()
        self.net, self.max_pixels, self.calls = net, max_pixels, []

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        self.calls.append(tuple(x.shape))
        if x.shape[0] * x.shape[-2] * x.shape[-1] > self.max_pixels:
            raise torch.OutOfMemoryError('CUDA out of memory. Tried to allocate 2.00 GiB')
        return self.net(x)


@torch.no_grad()
def test_out_of_memory_falls_back_to_tiles():
    torch.manual_seed(0)
    local = LocalNet().eval()
    x = torch.rand(1, 3, 300, 500)
    messages = []
    limited = MemoryLimitedNet(local, max_pixels=128 * 128)
    out = restore_with_fallback(limited, x, overlap=16, fallback_tile=256, notify=messages.append)
    # Whole (304x504) fails, 256 tiles fail, 128 tiles run.
    assert limited.calls[0] == (1, 3, 304, 504) and limited.calls[1] == (1, 3, 256, 256)
    assert len(messages) == 2 and 'retrying with 256px tiles' in messages[0] and '128px' in messages[1]
    torch.testing.assert_close(out, restore(local, x, tile=128, overlap=16), rtol=0, atol=0)
    torch.testing.assert_close(out, restore(local, x), rtol=0, atol=2e-6)


@torch.no_grad()
def test_out_of_memory_with_tile_batches_first_shrinks_the_batch():
    local = LocalNet().eval()
    x = torch.rand(1, 3, 128, 128)
    messages = []
    limited = MemoryLimitedNet(local, max_pixels=2 * 64 * 64)
    restore_with_fallback(limited, x, tile=64, overlap=16, tile_batch=4, notify=messages.append)
    assert messages == ['out of memory restoring a 128x128 image in 64px tiles; retrying with 2 tiles at a time']


def test_out_of_memory_gives_up_below_the_smallest_tile_and_other_errors_pass_through():
    x = torch.rand(1, 3, 128, 128)
    with pytest.raises(MemoryError, match='128x128 image'):
        restore_with_fallback(MemoryLimitedNet(LocalNet(), max_pixels=10), x, overlap=16, min_tile=64)

    class Broken(nn.Module):
        def forward(self, x):
            raise RuntimeError('shape mismatch')

    with pytest.raises(RuntimeError, match='shape mismatch'):
        restore_with_fallback(Broken(), x)
    assert is_out_of_memory(RuntimeError("DefaultCPUAllocator: can't allocate memory: you tried to allocate 9 GB"))
    assert not is_out_of_memory(ValueError('out of memory'))
