"""MPRNet: Multi-Stage Progressive Image Restoration (Zamir et al., CVPR 2021).

The module tree and parameter names match the authors' checkpoints, so they load with ``strict=True``.
The forward pass is reorganised for speed without changing what it computes:

* the four stage-1 quarters run as one batch, and so do the two stage-2 halves (channel attention pools per sample,
  so batching keeps every patch independent);
* a 1x1 convolution without bias commutes with bilinear resizing, so up-sampling convolves first, at the low
  resolution, and bilinear 0.5x resizing of even sizes is exactly 2x2 average pooling;
* the model runs in ``channels_last`` memory format inside (configurable), which oneDNN and cuDNN convolve faster;
  callers pass and get ordinary tensors;
* conv -> PReLU and conv + residual run fused in CPU inference, the channel-attention gate and its residual are one
  ``addcmul``, and the shared PReLU has a fast CPU backward (``fused_ops``).
"""
from __future__ import annotations

import functools
from typing import List, Optional, Sequence, Tuple, Union

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from basicsr.utils.registry import ARCH_REGISTRY

from .descriptor import ArchDescriptor, register_descriptor
from .fused_ops import PReLU, conv_add, conv_prelu, set_module_fused_ops
from .mprnet_config import MPRNET_PRESETS, check_mprnet_arguments, infer_mprnet_config  # noqa: F401  (its API)
from .grad_checkpointing import checkpointable, parse_grad_checkpointing, run_checkpointed

# The whole network down-samples each quarter twice: height and width must be multiples of this.
SIZE_MULTIPLE = 8


def conv(in_channels: int, out_channels: int, kernel_size: int, bias: bool = False) -> nn.Conv2d:
    """A same-size, stride-1 convolution."""
    return nn.Conv2d(in_channels, out_channels, kernel_size, padding=kernel_size // 2, bias=bias)


class ChannelAttention(nn.Module):
    """Squeeze-and-excitation channel attention (key ``CA``): pool, reduce, expand, sigmoid gate."""

    def __init__(self, channels: int, reduction: int = 4, bias: bool = False) -> None:
        super().__init__()
        self.conv_du = nn.Sequential(
            nn.Conv2d(channels, channels // reduction, 1, bias=bias),
            nn.ReLU(inplace=True),
            nn.Conv2d(channels // reduction, channels, 1, bias=bias),
            nn.Sigmoid(),
        )

    def forward(self, x: Tensor, residual: Optional[Tensor] = None) -> Tensor:
        """``x`` gated per channel, plus ``residual`` when given (one pass instead of two)."""
        gate = self.conv_du(global_mean(x))
        return x * gate if residual is None else torch.addcmul(residual, x, gate)


def global_mean(x: Tensor) -> Tensor:
    """Per-channel mean over height and width, (N, C, 1, 1); bf16/fp16 maps are summed in float32.

    Summing a half-precision map into float32 is both more accurate and, on a CPU, about 4x faster than torch's
    half-precision reduction of a channels_last map; float32 and float64 maps take the plain mean, unchanged.
    """
    if x.dtype in (torch.bfloat16, torch.float16):
        return x.mean((2, 3), keepdim=True, dtype=torch.float32)
    return x.mean((2, 3), keepdim=True)


class ChannelAttentionBlock(nn.Module):
    """CAB: conv, activation, conv, channel attention, plus the input."""

    def __init__(self, channels: int, kernel_size: int, reduction: int, bias: bool, act: nn.Module) -> None:
        super().__init__()
        # ``act`` is the network's one shared PReLU, registered here as body.1 like the authors' checkpoints.
        self.body = nn.Sequential(conv(channels, channels, kernel_size, bias), act,
                                  conv(channels, channels, kernel_size, bias))
        self.CA = ChannelAttention(channels, reduction, bias)

    @checkpointable
    def forward(self, x: Tensor) -> Tensor:
        conv1, act, conv2 = self.body
        return self.CA(conv2(conv_prelu(conv1, act, x)), residual=x)


class SupervisedAttention(nn.Module):
    """SAM: predicts a stage image (supervised by the loss) and gates the features with it."""

    def __init__(self, channels: int, image_channels: int = 3, bias: bool = False) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(channels, channels, 1, bias=bias)
        self.conv2 = nn.Conv2d(channels, image_channels, 1, bias=bias)
        self.conv3 = nn.Conv2d(image_channels, channels, 1, bias=bias)

    def forward(self, x: Tensor, x_img: Tensor) -> Tuple[Tensor, Tensor]:
        img = conv_add(self.conv2, x, x_img)
        feat = torch.addcmul(x, self.conv1(x), torch.sigmoid(self.conv3(img)))
        return feat, img


class DownSample(nn.Module):
    """Bilinear 0.5x resize, then a 1x1 conv ``C -> C+s`` (key ``down.1``, never a bias)."""

    def __init__(self, channels: int, extra: int) -> None:
        super().__init__()
        self.down = nn.Sequential(nn.Identity(), nn.Conv2d(channels, channels + extra, 1, bias=False))

    def forward(self, x: Tensor) -> Tensor:
        # Bilinear 0.5x with align_corners=False averages each 2x2 block when the size is even.
        if x.shape[-2] % 2 == 0 and x.shape[-1] % 2 == 0:
            x = F.avg_pool2d(x, 2)
        else:
            x = F.interpolate(x, scale_factor=0.5, mode='bilinear', align_corners=False)
        return self.down[1](x)


class UpSample(nn.Module):
    """Bilinear 2x resize, then a 1x1 conv ``C+s -> C`` (key ``up.1``, never a bias)."""

    def __init__(self, channels: int, extra: int) -> None:
        super().__init__()
        self.up = nn.Sequential(nn.Identity(), nn.Conv2d(channels + extra, channels, 1, bias=False))

    def forward(self, x: Tensor) -> Tensor:
        # A bias-free 1x1 conv commutes with bilinear resizing: convolve at the low resolution, on fewer pixels.
        return upsample2x(self.up[1](x))


class SkipUpSample(UpSample):
    """UpSample, then add the skip tensor."""

    def forward(self, x: Tensor, skip: Tensor) -> Tensor:  # type: ignore[override]
        return super().forward(x) + skip


def upsample2x(x: Tensor) -> Tensor:
    """Bilinear 2x resize with ``align_corners=False``, as the network's UpSample uses."""
    return F.interpolate(x, scale_factor=2, mode='bilinear', align_corners=False)


def _cabs(channels: int, count: int, kernel_size: int, reduction: int, bias: bool, act: nn.Module) -> nn.Sequential:
    return nn.Sequential(*[ChannelAttentionBlock(channels, kernel_size, reduction, bias, act) for _ in range(count)])


class Encoder(nn.Module):
    """Three-level U-Net encoder; with ``csff`` it fuses the previous stage's encoder and decoder features."""

    def __init__(self, n_feat: int, kernel_size: int, reduction: int, act: nn.Module, bias: bool,
                 scale_unetfeats: int, csff: bool) -> None:
        super().__init__()
        widths = [n_feat + i * scale_unetfeats for i in range(3)]
        self.encoder_level1 = _cabs(widths[0], 2, kernel_size, reduction, bias, act)
        self.encoder_level2 = _cabs(widths[1], 2, kernel_size, reduction, bias, act)
        self.encoder_level3 = _cabs(widths[2], 2, kernel_size, reduction, bias, act)
        self.down12 = DownSample(n_feat, scale_unetfeats)
        self.down23 = DownSample(n_feat + scale_unetfeats, scale_unetfeats)
        self.csff = csff
        if csff:
            for i, w in enumerate(widths, start=1):
                setattr(self, f'csff_enc{i}', nn.Conv2d(w, w, 1, bias=bias))
                setattr(self, f'csff_dec{i}', nn.Conv2d(w, w, 1, bias=bias))

    def _fuse(self, level: int, x: Tensor, enc: Optional[Sequence[Tensor]],
              dec: Optional[Sequence[Tensor]]) -> Tensor:
        if enc is None or dec is None:
            return x
        i = level + 1
        x = conv_add(getattr(self, f'csff_enc{i}'), enc[level], x)
        return conv_add(getattr(self, f'csff_dec{i}'), dec[level], x)

    @checkpointable
    def forward(self, x: Tensor, enc: Optional[Sequence[Tensor]] = None,
                dec: Optional[Sequence[Tensor]] = None) -> List[Tensor]:
        e1 = self._fuse(0, self.encoder_level1(x), enc, dec)
        e2 = self._fuse(1, self.encoder_level2(self.down12(e1)), enc, dec)
        e3 = self._fuse(2, self.encoder_level3(self.down23(e2)), enc, dec)
        return [e1, e2, e3]


class Decoder(nn.Module):
    """Three-level U-Net decoder with channel-attention skip connections."""

    def __init__(self, n_feat: int, kernel_size: int, reduction: int, act: nn.Module, bias: bool,
                 scale_unetfeats: int) -> None:
        super().__init__()
        n, s = n_feat, scale_unetfeats
        self.decoder_level1 = _cabs(n, 2, kernel_size, reduction, bias, act)
        self.decoder_level2 = _cabs(n + s, 2, kernel_size, reduction, bias, act)
        self.decoder_level3 = _cabs(n + 2 * s, 2, kernel_size, reduction, bias, act)
        self.skip_attn1 = ChannelAttentionBlock(n, kernel_size, reduction, bias, act)
        self.skip_attn2 = ChannelAttentionBlock(n + s, kernel_size, reduction, bias, act)
        self.up21 = SkipUpSample(n, s)
        self.up32 = SkipUpSample(n + s, s)

    @checkpointable
    def forward(self, feats: Sequence[Tensor]) -> List[Tensor]:
        e1, e2, e3 = feats
        d3 = self.decoder_level3(e3)
        d2 = self.decoder_level2(self.up32(d3, self.skip_attn2(e2)))
        d1 = self.decoder_level1(self.up21(d2, self.skip_attn1(e1)))
        return [d1, d2, d3]


class OriginalResolutionBlock(nn.Module):
    """ORB: ``num_cab`` CABs and a bias-free conv, plus the input."""

    def __init__(self, channels: int, kernel_size: int, reduction: int, act: nn.Module, bias: bool,
                 num_cab: int) -> None:
        super().__init__()
        self.body = nn.Sequential(*_cabs(channels, num_cab, kernel_size, reduction, bias, act),
                                  conv(channels, channels, kernel_size, bias=False))

    @checkpointable
    def forward(self, x: Tensor) -> Tensor:
        *cabs, last = self.body
        y = x
        for cab in cabs:
            y = cab(y)
        return conv_add(last, y, x)


class OriginalResolutionSubnet(nn.Module):
    """ORSNet, the full-resolution last stage, fed with stage-2 encoder and decoder features."""

    def __init__(self, n_feat: int, scale_orsnetfeats: int, kernel_size: int, reduction: int, act: nn.Module,
                 bias: bool, scale_unetfeats: int, num_cab: int) -> None:
        super().__init__()
        n, s, w = n_feat, scale_unetfeats, n_feat + scale_orsnetfeats
        self.orb1 = OriginalResolutionBlock(w, kernel_size, reduction, act, bias, num_cab)
        self.orb2 = OriginalResolutionBlock(w, kernel_size, reduction, act, bias, num_cab)
        self.orb3 = OriginalResolutionBlock(w, kernel_size, reduction, act, bias, num_cab)
        self.up_enc1 = UpSample(n, s)
        self.up_dec1 = UpSample(n, s)
        self.up_enc2 = nn.Sequential(UpSample(n + s, s), UpSample(n, s))
        self.up_dec2 = nn.Sequential(UpSample(n + s, s), UpSample(n, s))
        for name in ('conv_enc1', 'conv_enc2', 'conv_enc3', 'conv_dec1', 'conv_dec2', 'conv_dec3'):
            setattr(self, name, nn.Conv2d(n, w, 1, bias=bias))

    def _injection(self, level: int, enc: Tensor, dec: Tensor) -> Tensor:
        """``conv_enc(up_enc(enc)) + conv_dec(up_dec(dec))`` at one level, computed at the features' resolution.

        The up-sampling convs and the injection convs are all 1x1; with no bias before the resize they fold into one
        matrix per branch, and the two branches into one conv on ``cat(enc, dec)``, which then resizes once.
        """
        conv_enc, conv_dec = getattr(self, f'conv_enc{level + 1}'), getattr(self, f'conv_dec{level + 1}')
        if level == 0:
            return conv_enc(enc) + conv_dec(dec)
        w_enc, w_dec = conv_enc.weight.flatten(1), conv_dec.weight.flatten(1)
        ups_enc = [self.up_enc1] if level == 1 else list(self.up_enc2)
        ups_dec = [self.up_dec1] if level == 1 else list(self.up_dec2)
        for up in reversed(ups_enc):  # the last conv applied is the leftmost factor
            w_enc = w_enc @ up.up[1].weight.flatten(1)
        for up in reversed(ups_dec):
            w_dec = w_dec @ up.up[1].weight.flatten(1)
        weight = torch.cat([w_enc, w_dec], dim=1)[:, :, None, None]
        y = F.conv2d(torch.cat([enc, dec], dim=1), weight)
        for _ in range(level):
            y = upsample2x(y)
        bias = None
        if conv_enc.bias is not None:
            bias = conv_enc.bias + conv_dec.bias
        # Bilinear weights sum to one, so a bias added after the resize equals one added before.
        return y if bias is None else y + bias[None, :, None, None]

    def forward(self, x: Tensor, enc: Sequence[Tensor], dec: Sequence[Tensor]) -> Tensor:
        x = self.orb1(x) + self._injection(0, enc[0], dec[0])
        x = self.orb2(x) + self._injection(1, enc[1], dec[1])
        x = self.orb3(x) + self._injection(2, enc[2], dec[2])
        return x


def _split_quarters(x: Tensor) -> Tensor:
    """(N, C, H, W) -> (4N, C, H/2, W/2), ordered top-left, top-right, bottom-left, bottom-right."""
    h, w = x.shape[-2] // 2, x.shape[-1] // 2
    return torch.cat([x[..., :h, :w], x[..., :h, w:], x[..., h:, :w], x[..., h:, w:]], dim=0)


def _split_halves(x: Tensor) -> Tensor:
    """(N, C, H, W) -> (2N, C, H/2, W), top half first."""
    h = x.shape[-2] // 2
    return torch.cat([x[..., :h, :], x[..., h:, :]], dim=0)


def _join_width(x: Tensor) -> Tensor:
    """(4N, ...) quarters -> (2N, ...) halves: each left quarter joined to its right one."""
    tl, tr, bl, br = x.chunk(4, dim=0)
    return torch.cat([torch.cat([tl, tr], dim=3), torch.cat([bl, br], dim=3)], dim=0)


def _join_height(x: Tensor) -> Tensor:
    """(2N, ...) halves -> (N, ...) images: top joined above bottom."""
    top, bottom = x.chunk(2, dim=0)
    return torch.cat([top, bottom], dim=2)


@ARCH_REGISTRY.register()
class MPRNet(nn.Module):
    """MPRNet with three stages; ``forward`` returns ``[final, stage2, stage1]`` at full size.

    Args:
        in_c / out_c: image channels (they must be equal: every stage adds its input image).
        n_feat, scale_unetfeats, scale_orsnetfeats: widths; ``None`` takes them from ``preset``.
        num_cab, kernel_size, reduction, bias: as in the paper.
        preset: ``'deblurring'``, ``'denoising'`` or ``'deraining'``, the published widths.
        channels_last: run the convolutions in channels_last memory format (faster on CPU and GPU).
        grad_checkpointing: ``False``, ``True`` / ``'cab'`` (recompute each channel-attention block and each
            transition between stages in the backward pass) or ``'stage'`` (also each encoder, decoder and ORB):
            less training memory for more compute, the same gradients; nothing changes in eval mode or without
            autograd.
        fused_ops: run the fused CPU forms (``archs.fused_ops``; the same outputs); ``False`` keeps the plain ops.
    """

    # Inputs must be multiples of this (read by restore, validation, inference and export).
    size_multiple = SIZE_MULTIPLE

    def __init__(self, in_c: int = 3, out_c: int = 3, n_feat: Optional[int] = None,
                 scale_unetfeats: Optional[int] = None, scale_orsnetfeats: Optional[int] = None, num_cab: int = 8,
                 kernel_size: int = 3, reduction: int = 4, bias: bool = False, preset: str = 'deblurring',
                 channels_last: bool = True, grad_checkpointing: Union[bool, str] = False,
                 fused_ops: bool = True) -> None:
        widths = check_mprnet_arguments(in_c, out_c, n_feat, scale_unetfeats, scale_orsnetfeats, num_cab, kernel_size,
                                        reduction, bias, preset, channels_last, grad_checkpointing, fused_ops)
        super().__init__()
        level = parse_grad_checkpointing(grad_checkpointing, 'MPRNet: grad_checkpointing')
        n, s, o = widths['n_feat'], widths['scale_unetfeats'], widths['scale_orsnetfeats']
        self.in_c, self.out_c, self.channels_last = in_c, out_c, channels_last
        self.config = dict(in_c=in_c, out_c=out_c, n_feat=n, scale_unetfeats=s, scale_orsnetfeats=o,
                           num_cab=num_cab, kernel_size=kernel_size, reduction=reduction, bias=bias)
        k, r = kernel_size, reduction
        act = PReLU()  # one activation shared by every CAB of every stage
        self.shallow_feat1 = nn.Sequential(conv(in_c, n, k, bias), ChannelAttentionBlock(n, k, r, bias, act))
        self.shallow_feat2 = nn.Sequential(conv(in_c, n, k, bias), ChannelAttentionBlock(n, k, r, bias, act))
        self.shallow_feat3 = nn.Sequential(conv(in_c, n, k, bias), ChannelAttentionBlock(n, k, r, bias, act))
        self.stage1_encoder = Encoder(n, k, r, act, bias, s, csff=False)
        self.stage1_decoder = Decoder(n, k, r, act, bias, s)
        self.stage2_encoder = Encoder(n, k, r, act, bias, s, csff=True)
        self.stage2_decoder = Decoder(n, k, r, act, bias, s)
        self.stage3_orsnet = OriginalResolutionSubnet(n, o, k, r, act, bias, s, num_cab)
        self.sam12 = SupervisedAttention(n, in_c, bias)
        self.sam23 = SupervisedAttention(n, in_c, bias)
        self.concat12 = conv(2 * n, n, k, bias)
        self.concat23 = conv(2 * n, n + o, k, bias)
        self.tail = conv(n + o, out_c, k, bias)
        self.set_grad_checkpointing(level)
        self.set_fused_ops(fused_ops)

    def set_fused_ops(self, enabled: bool = True) -> None:
        """Allow (default) or forbid the fused CPU forms in this network; outputs are the same either way."""
        set_module_fused_ops(self, enabled)

    def set_grad_checkpointing(self, enable: Union[bool, str, None] = True) -> None:
        """Turn activation checkpointing on (``True`` = ``'cab'``, or ``'stage'``) or off (``False``), timm-style."""
        level = parse_grad_checkpointing(enable, 'MPRNet.set_grad_checkpointing')
        self.grad_checkpointing = level
        for module in self.modules():
            if isinstance(module, ChannelAttentionBlock):
                module.grad_checkpointing = level is not None
            elif isinstance(module, (Encoder, Decoder, OriginalResolutionBlock)):
                module.grad_checkpointing = level == 'stage'

    def check_input(self, x: Tensor) -> None:
        """Raise a ValueError naming the problem when ``x`` is not (N, in_c, 8k, 8m)."""
        if x.dim() != 4:
            raise ValueError(f'MPRNet expects a 4-D (N, C, H, W) tensor; got shape {tuple(x.shape)}')
        if x.shape[1] != self.in_c:
            raise ValueError(f'MPRNet was built for {self.in_c} input channels; got {x.shape[1]} '
                             f'(shape {tuple(x.shape)}). Convert the image or build MPRNet(in_c={x.shape[1]}, ...).')
        h, w = x.shape[-2:]
        if h % self.size_multiple or w % self.size_multiple:
            raise ValueError(
                f'MPRNet needs height and width that are multiples of {self.size_multiple}; got {h}x{w}. '
                'Pad the input first (mprnet_plugin.restore(net, x) pads and crops back), or use MPRNetModel, '
                'mprnet-infer or Restorer, which pad and crop back for you.')

    def forward(self, x: Tensor) -> List[Tensor]:
        self.check_input(x)
        if self.channels_last:
            x = x.contiguous(memory_format=torch.channels_last)
        quarters, halves = _split_quarters(x), _split_halves(x)

        # With checkpointing the transitions between stages (SAM, shallow features, fusion) are recomputed too:
        # cheap 1x1 convs and one 3x3 conv, whose saved tensors are as large as two CABs' inputs each.
        transition = functools.partial(run_checkpointed, self.grad_checkpointing is not None and self.training)

        # Stage 1: four quarters as one batch through the encoder, halves through the decoder.
        feats1 = [_join_width(f) for f in self.stage1_encoder(self.shallow_feat1(quarters))]
        res1 = self.stage1_decoder(feats1)

        # Stage 2: two halves as one batch, fused with stage 1 (CSFF), then the decoder on whole images.
        x2, stage1_img = transition(self._next_stage_input, 2, res1[0], halves)
        feats2 = [_join_height(f) for f in self.stage2_encoder(x2, feats1, res1)]
        res2 = self.stage2_decoder(feats2)

        # Stage 3: full resolution.
        x3, stage2_img = transition(self._next_stage_input, 3, res2[0], x)
        x3 = self.stage3_orsnet(x3, feats2, res2)
        out = conv_add(self.tail, x3, x)
        outputs = [out, stage2_img, _join_height(stage1_img)]
        return [o.contiguous() for o in outputs]

    def _next_stage_input(self, stage: int, features: Tensor, image: Tensor) -> Tuple[Tensor, Tensor]:
        """Stage ``stage``'s input (the previous SAM's gated features fused with its shallow features), SAM's image."""
        sam, shallow, concat = ((self.sam12, self.shallow_feat2, self.concat12) if stage == 2 else
                                (self.sam23, self.shallow_feat3, self.concat23))
        sam_feats, stage_img = sam(features, image)
        return concat(torch.cat([shallow(image), sam_feats], dim=1)), stage_img


MPRNET_DESCRIPTOR = register_descriptor(ArchDescriptor(
    'MPRNet', size_multiple=lambda args: SIZE_MULTIPLE, has_stages=True, presets=MPRNET_PRESETS,
    infer_config=infer_mprnet_config))
