"""PlainUNet: the plain U-Net restoration baseline registered in BasicSR's ARCH_REGISTRY."""
import pytest
import torch

import mprnet_plugin  # noqa: F401  isort: skip  (host fixes before basicsr loads; registers the archs)
from basicsr.archs import build_network
from basicsr.utils.registry import ARCH_REGISTRY

from mprnet_plugin.archs.unet_arch import PlainUNet
from mprnet_plugin.inference.tiling import restore


def test_registered_and_built_from_options():
    assert ARCH_REGISTRY.get('PlainUNet') is PlainUNet
    net = build_network({'type': 'PlainUNet', 'base_channels': 8, 'depth': 2, 'blocks_per_level': 1})
    assert isinstance(net, PlainUNet) and net.size_multiple == 4
    out = net(torch.rand(2, 3, 16, 24))
    assert out.shape == (2, 3, 16, 24)


def test_parameter_count_follows_the_widths():
    c, depth, blocks = 8, 2, 1
    net = PlainUNet(base_channels=c, depth=depth, blocks_per_level=blocks)
    widths = [c, 2 * c, 4 * c]
    conv3 = lambda cin, cout: cin * cout * 9 + cout  # noqa: E731
    expected = conv3(3, c) + conv3(c, 3)  # head, tail
    expected += sum(blocks * conv3(w, w) for w in widths)  # encoders + bottleneck
    expected += sum(blocks * conv3(w, w) for w in widths[:-1])  # decoders
    expected += sum(conv3(w, 2 * w) for w in widths[:-1])  # strided downs
    expected += sum(2 * w * w * 4 + w for w in widths[:-1])  # transposed 2x2 ups
    expected += sum(2 * w * w + w for w in widths[:-1])  # 1x1 fuses
    assert sum(p.numel() for p in net.parameters()) == expected


def test_residual_output_is_the_input_when_the_tail_is_zero():
    net = PlainUNet(base_channels=4, depth=2)
    torch.nn.init.zeros_(net.tail.weight)
    torch.nn.init.zeros_(net.tail.bias)
    x = torch.rand(1, 3, 8, 8)
    assert torch.equal(net(x), x)
    plain = PlainUNet(base_channels=4, depth=2, residual=False)
    torch.nn.init.zeros_(plain.tail.weight)
    torch.nn.init.zeros_(plain.tail.bias)
    assert torch.count_nonzero(plain(x)) == 0


def test_bad_sizes_and_options_are_named():
    net = PlainUNet(base_channels=4, depth=3)
    with pytest.raises(ValueError, match='multiples of 8; got 12x16'):
        net(torch.rand(1, 3, 12, 16))
    with pytest.raises(ValueError, match=r'expects \(N, 3, H, W\)'):
        net(torch.rand(1, 1, 16, 16))
    with pytest.raises(ValueError, match='depth'):
        PlainUNet(depth=0)
    with pytest.raises(ValueError, match='in_c'):
        PlainUNet(in_c=1, out_c=3)


def test_restore_pads_to_the_network_multiple_and_crops_back():
    net = PlainUNet(base_channels=4, depth=3).eval()
    x = torch.rand(1, 3, 13, 21)
    with torch.no_grad():
        out = restore(net, x, multiple=net.size_multiple)
    assert out.shape == x.shape


def test_every_parameter_gets_a_gradient():
    net = PlainUNet(base_channels=4, depth=2)
    lq = torch.rand(2, 3, 16, 16)
    (net(lq) - 0.5 * lq).abs().mean().backward()
    silent = [name for name, p in net.named_parameters() if p.grad is None or not torch.any(p.grad != 0)]
    assert silent == []
