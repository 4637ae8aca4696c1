"""A plain U-Net restoration baseline: the simplest encoder-decoder to compare MPRNet against.

Each level has ``blocks_per_level`` (3x3 conv, LeakyReLU) pairs; strided 3x3 convs halve the resolution and double
the width; transposed 2x2 convs go back up, and a 1x1 conv fuses each up-sampled map with its skip. The network
predicts a residual that is added to the input image, as MPRNet does.
"""
from __future__ import annotations

import torch
from basicsr.utils.registry import ARCH_REGISTRY
from torch import Tensor, nn

from mprnet_plugin.archs.descriptor import ArchDescriptor, register_descriptor


def _conv_stack(channels: int, count: int, negative_slope: float) -> nn.Sequential:
    layers = []
    for _ in range(count):
        layers += [nn.Conv2d(channels, channels, 3, padding=1), nn.LeakyReLU(negative_slope, inplace=True)]
    return nn.Sequential(*layers)


@ARCH_REGISTRY.register()
class PlainUNet(nn.Module):
    """Plain U-Net for image restoration; input height and width must be multiples of ``2 ** depth``.

    Args:
        in_c / out_c: image channels (equal when ``residual``).
        base_channels: width of the first level; each deeper level doubles it.
        depth: number of down-sampling steps.
        blocks_per_level: conv + LeakyReLU pairs at each level (and in the bottleneck).
        residual: add the input image to the output.
    """

    def __init__(self, in_c: int = 3, out_c: int = 3, base_channels: int = 32, depth: int = 3,
                 blocks_per_level: int = 2, residual: bool = True, negative_slope: float = 0.2) -> None:
        super().__init__()
        if depth < 1 or base_channels < 1 or blocks_per_level < 1:
            raise ValueError(f'PlainUNet: depth ({depth}), base_channels ({base_channels}) and blocks_per_level '
                             f'({blocks_per_level}) must all be >= 1')
        if residual and in_c != out_c:
            raise ValueError(f'PlainUNet: residual=True needs in_c ({in_c}) == out_c ({out_c})')
        self.in_c, self.residual = in_c, residual
        # The restore helpers read this to pad inputs: every level halves the size.
        self.size_multiple = 2 ** depth
        widths = [base_channels * 2 ** i for i in range(depth + 1)]
        self.head = nn.Sequential(nn.Conv2d(in_c, widths[0], 3, padding=1), nn.LeakyReLU(negative_slope, True))
        self.encoders = nn.ModuleList(_conv_stack(w, blocks_per_level, negative_slope) for w in widths[:-1])
        self.downs = nn.ModuleList(nn.Conv2d(w, 2 * w, 3, stride=2, padding=1) for w in widths[:-1])
        self.bottleneck = _conv_stack(widths[-1], blocks_per_level, negative_slope)
        self.ups = nn.ModuleList(nn.ConvTranspose2d(2 * w, w, 2, stride=2) for w in widths[:-1])
        self.fuses = nn.ModuleList(nn.Conv2d(2 * w, w, 1) for w in widths[:-1])
        self.decoders = nn.ModuleList(_conv_stack(w, blocks_per_level, negative_slope) for w in widths[:-1])
        self.tail = nn.Conv2d(widths[0], out_c, 3, padding=1)

    def check_input(self, x: Tensor) -> None:
        """Raise a ValueError naming the problem when ``x`` is not (N, in_c, H, W) with H, W multiples of 2**depth."""
        if x.dim() != 4 or x.shape[1] != self.in_c:
            raise ValueError(f'PlainUNet expects (N, {self.in_c}, H, W); got shape {tuple(x.shape)}')
        h, w = x.shape[-2:]
        if h % self.size_multiple or w % self.size_multiple:
            raise ValueError(f'PlainUNet needs height and width that are multiples of {self.size_multiple}; got '
                             f'{h}x{w}. Pad the input first (mprnet_plugin.restore pads and crops back).')

    def forward(self, x: Tensor) -> Tensor:
        self.check_input(x)
        feat = self.head(x)
        skips = []
        for encoder, down in zip(self.encoders, self.downs):
            feat = encoder(feat)
            skips.append(feat)
            feat = down(feat)
        feat = self.bottleneck(feat)
        for up, fuse, decoder, skip in zip(reversed(self.ups), reversed(self.fuses), reversed(self.decoders),
                                           reversed(skips)):
            feat = decoder(fuse(torch.cat([up(feat), skip], dim=1)))
        out = self.tail(feat)
        return out + x if self.residual else out



register_descriptor(ArchDescriptor('PlainUNet', size_multiple=lambda args: 2 ** int(args.get('depth', 3))))
