"""A straightforward per-patch MPRNet, for comparison only (benchmarks and equivalence tests).

It follows the authors' per-patch formulation (MPRNet, CVPR 2021) literally: stage 1 splits the image into four
quarters and stage 2 into two halves, every quarter and half runs on its own, every resize is ``F.interpolate``
followed by its 1x1 conv, every injection is computed at full resolution, in contiguous NCHW. Its state_dict has
the same keys as ``mprnet_plugin.MPRNet``, so the same weights load into both. Its cell blocks (CAB, channel
attention, SAM) are written out literally too, with torch's own ``nn.PReLU``: the product's fused forms of them
are part of what the comparison measures.
"""
from __future__ import annotations

from typing import List, Optional, Sequence

import torch
from torch import Tensor, nn

from mprnet_plugin.archs.mprnet_arch import conv


class PlainCA(nn.Module):
    def __init__(self, c: int, r: int, bias: bool) -> None:
        super().__init__()
        self.avg_pool = nn.AdaptiveAvgPool2d(1)
        self.conv_du = nn.Sequential(nn.Conv2d(c, c // r, 1, bias=bias), nn.ReLU(inplace=True),
                                     nn.Conv2d(c // r, c, 1, bias=bias), nn.Sigmoid())

    def forward(self, x: Tensor) -> Tensor:
        return x * self.conv_du(self.avg_pool(x))


class ChannelAttentionBlock(nn.Module):
    def __init__(self, c: int, k: int, r: int, bias: bool, act: nn.Module) -> None:
        super().__init__()
        self.body = nn.Sequential(conv(c, c, k, bias), act, conv(c, c, k, bias))
        self.CA = PlainCA(c, r, bias)

    def forward(self, x: Tensor) -> Tensor:
        return self.CA(self.body(x)) + x


class SupervisedAttention(nn.Module):
    def __init__(self, c: int, image_channels: int, bias: bool) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(c, c, 1, bias=bias)
        self.conv2 = nn.Conv2d(c, image_channels, 1, bias=bias)
        self.conv3 = nn.Conv2d(image_channels, c, 1, bias=bias)

    def forward(self, x: Tensor, x_img: Tensor) -> tuple:
        img = self.conv2(x) + x_img
        return self.conv1(x) * torch.sigmoid(self.conv3(img)) + x, img


class PlainDown(nn.Module):
    def __init__(self, c: int, s: int) -> None:
        super().__init__()
        self.down = nn.Sequential(nn.Upsample(scale_factor=0.5, mode='bilinear', align_corners=False),
                                  nn.Conv2d(c, c + s, 1, bias=False))

    def forward(self, x: Tensor) -> Tensor:
        return self.down(x)


class PlainUp(nn.Module):
    def __init__(self, c: int, s: int) -> None:
        super().__init__()
        self.up = nn.Sequential(nn.Upsample(scale_factor=2, mode='bilinear', align_corners=False),
                                nn.Conv2d(c + s, c, 1, bias=False))

    def forward(self, x: Tensor, skip: Optional[Tensor] = None) -> Tensor:
        x = self.up(x)
        return x if skip is None else x + skip


def _cabs(c: int, count: int, k: int, r: int, bias: bool, act: nn.Module) -> nn.Sequential:
    return nn.Sequential(*[ChannelAttentionBlock(c, k, r, bias, act) for _ in range(count)])


class PlainEncoder(nn.Module):
    def __init__(self, n: int, k: int, r: int, act: nn.Module, bias: bool, s: int, csff: bool) -> None:
        super().__init__()
        self.encoder_level1 = _cabs(n, 2, k, r, bias, act)
        self.encoder_level2 = _cabs(n + s, 2, k, r, bias, act)
        self.encoder_level3 = _cabs(n + 2 * s, 2, k, r, bias, act)
        self.down12, self.down23 = PlainDown(n, s), PlainDown(n + s, s)
        if csff:
            for i, w in enumerate((n, n + s, n + 2 * s), start=1):
                setattr(self, f'csff_enc{i}', nn.Conv2d(w, w, 1, bias=bias))
                setattr(self, f'csff_dec{i}', nn.Conv2d(w, w, 1, bias=bias))

    def forward(self, x: Tensor, enc: Optional[Sequence[Tensor]] = None,
                dec: Optional[Sequence[Tensor]] = None) -> List[Tensor]:
        fuse = enc is not None and dec is not None
        e1 = self.encoder_level1(x)
        if fuse:
            e1 = e1 + self.csff_enc1(enc[0]) + self.csff_dec1(dec[0])
        e2 = self.encoder_level2(self.down12(e1))
        if fuse:
            e2 = e2 + self.csff_enc2(enc[1]) + self.csff_dec2(dec[1])
        e3 = self.encoder_level3(self.down23(e2))
        if fuse:
            e3 = e3 + self.csff_enc3(enc[2]) + self.csff_dec3(dec[2])
        return [e1, e2, e3]


class PlainDecoder(nn.Module):
    def __init__(self, n: int, k: int, r: int, act: nn.Module, bias: bool, s: int) -> None:
        super().__init__()
        self.decoder_level1 = _cabs(n, 2, k, r, bias, act)
        self.decoder_level2 = _cabs(n + s, 2, k, r, bias, act)
        self.decoder_level3 = _cabs(n + 2 * s, 2, k, r, bias, act)
        self.skip_attn1 = ChannelAttentionBlock(n, k, r, bias, act)
        self.skip_attn2 = ChannelAttentionBlock(n + s, k, r, bias, act)
        self.up21, self.up32 = PlainUp(n, s), PlainUp(n + s, s)

    def forward(self, feats: Sequence[Tensor]) -> List[Tensor]:
        e1, e2, e3 = feats
        d3 = self.decoder_level3(e3)
        d2 = self.decoder_level2(self.up32(d3, self.skip_attn2(e2)))
        d1 = self.decoder_level1(self.up21(d2, self.skip_attn1(e1)))
        return [d1, d2, d3]


class PlainORB(nn.Module):
    def __init__(self, c: int, k: int, r: int, act: nn.Module, bias: bool, num_cab: int) -> None:
        super().__init__()
        self.body = nn.Sequential(*_cabs(c, num_cab, k, r, bias, act), conv(c, c, k, bias=False))

    def forward(self, x: Tensor) -> Tensor:
        return self.body(x) + x


class PlainORSNet(nn.Module):
    def __init__(self, n: int, o: int, k: int, r: int, act: nn.Module, bias: bool, s: int, num_cab: int) -> None:
        super().__init__()
        self.orb1, self.orb2, self.orb3 = (PlainORB(n + o, k, r, act, bias, num_cab) for _ in range(3))
        self.up_enc1, self.up_dec1 = PlainUp(n, s), PlainUp(n, s)
        self.up_enc2 = nn.Sequential(PlainUp(n + s, s), PlainUp(n, s))
        self.up_dec2 = nn.Sequential(PlainUp(n + s, s), PlainUp(n, s))
        for name in ('conv_enc1', 'conv_enc2', 'conv_enc3', 'conv_dec1', 'conv_dec2', 'conv_dec3'):
            setattr(self, name, nn.Conv2d(n, n + o, 1, bias=bias))

    def forward(self, x: Tensor, enc: Sequence[Tensor], dec: Sequence[Tensor]) -> Tensor:
        x = self.orb1(x) + self.conv_enc1(enc[0]) + self.conv_dec1(dec[0])
        x = self.orb2(x) + self.conv_enc2(self.up_enc1(enc[1])) + self.conv_dec2(self.up_dec1(dec[1]))
        x = self.orb3(x) + self.conv_enc3(self.up_enc2(enc[2])) + self.conv_dec3(self.up_dec2(dec[2]))
        return x


class PerPatchMPRNet(nn.Module):
    """MPRNet computed patch by patch, exactly in the order the paper describes."""

    def __init__(self, in_c: int = 3, out_c: int = 3, n_feat: int = 96, scale_unetfeats: int = 48,
                 scale_orsnetfeats: int = 32, num_cab: int = 8, kernel_size: int = 3, reduction: int = 4,
                 bias: bool = False) -> None:
        super().__init__()
        n, s, o, k, r = n_feat, scale_unetfeats, scale_orsnetfeats, kernel_size, reduction
        act = nn.PReLU()
        for i in (1, 2, 3):
            setattr(self, f'shallow_feat{i}',
                    nn.Sequential(conv(in_c, n, k, bias), ChannelAttentionBlock(n, k, r, bias, act)))
        self.stage1_encoder = PlainEncoder(n, k, r, act, bias, s, csff=False)
        self.stage1_decoder = PlainDecoder(n, k, r, act, bias, s)
        self.stage2_encoder = PlainEncoder(n, k, r, act, bias, s, csff=True)
        self.stage2_decoder = PlainDecoder(n, k, r, act, bias, s)
        self.stage3_orsnet = PlainORSNet(n, o, k, r, act, bias, s, num_cab)
        self.sam12, self.sam23 = SupervisedAttention(n, in_c, bias), SupervisedAttention(n, in_c, bias)
        self.concat12 = conv(2 * n, n, k, bias)
        self.concat23 = conv(2 * n, n + o, k, bias)
        self.tail = conv(n + o, out_c, k, bias)

    def forward(self, x: Tensor) -> List[Tensor]:
        h, w = x.shape[-2] // 2, x.shape[-1] // 2
        top, bot = x[..., :h, :], x[..., h:, :]
        quarters = [top[..., :w], top[..., w:], bot[..., :w], bot[..., w:]]
        f = [self.stage1_encoder(self.shallow_feat1(q)) for q in quarters]
        f_top = [torch.cat([a, b], 3) for a, b in zip(f[0], f[1])]
        f_bot = [torch.cat([a, b], 3) for a, b in zip(f[2], f[3])]
        r_top, r_bot = self.stage1_decoder(f_top), self.stage1_decoder(f_bot)
        a_top, img_top = self.sam12(r_top[0], top)
        a_bot, img_bot = self.sam12(r_bot[0], bot)
        stage1_img = torch.cat([img_top, img_bot], 2)
        t = self.concat12(torch.cat([self.shallow_feat2(top), a_top], 1))
        b = self.concat12(torch.cat([self.shallow_feat2(bot), a_bot], 1))
        g_top = self.stage2_encoder(t, f_top, r_top)
        g_bot = self.stage2_encoder(b, f_bot, r_bot)
        g = [torch.cat([a, c], 2) for a, c in zip(g_top, g_bot)]
        r2 = self.stage2_decoder(g)
        a3, stage2_img = self.sam23(r2[0], x)
        z = self.concat23(torch.cat([self.shallow_feat3(x), a3], 1))
        z = self.stage3_orsnet(z, g, r2)
        return [self.tail(z) + x, stage2_img, stage1_img]
