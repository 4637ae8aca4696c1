"""MPRNet-Local (TLC's test-time local converter) against brute-force computations and plain MPRNet."""
import pytest
import torch
import torch.nn.functional as F
from tests.helpers.settings import TINY_MPRNET
from torch import nn

import mprnet_plugin  # noqa: F401  isort: skip  (host fixes before basicsr loads)
from basicsr.archs import build_network

from mprnet_plugin.archs.local_pool import covers, fast_local_mean, local_mean, pad_centred
from mprnet_plugin.archs.mprnet_arch import ChannelAttention, MPRNet
from mprnet_plugin.archs.mprnet_local_arch import (LocalChannelAttention, MPRNetLocal, is_local, local_windows,
                                                   resolve_sizes, to_global, to_local)


def brute_force_local_mean(x, k1, k2):
    """The mean of every k1 x k2 window that fits, by explicit loops over positions (float64)."""
    n, c, h, w = x.shape
    out = torch.empty(n, c, h - k1 + 1, w - k2 + 1, dtype=torch.float64)
    for i in range(h - k1 + 1):
        for j in range(w - k2 + 1):
            out[:, :, i, j] = x[:, :, i:i + k1, j:j + k2].double().mean((2, 3))
    return out


def brute_force_replicate(gate, h, w):
    """Each output position takes the gate of its nearest valid window start, centred as TLC pads."""
    top, left = (h - gate.shape[-2]) // 2, (w - gate.shape[-1]) // 2
    rows = [min(max(i - top, 0), gate.shape[-2] - 1) for i in range(h)]
    cols = [min(max(j - left, 0), gate.shape[-1] - 1) for j in range(w)]
    return gate[:, :, rows][:, :, :, cols]


class BruteForceAttention(nn.Module):
    """A local channel attention computed the slow way: loops for the pooling, index lists for the padding."""

    def __init__(self, local):
        super().__init__()
        self.conv_du, self.window = local.conv_du, local.window

    def forward(self, x, residual=None):
        h, w = x.shape[-2:]
        k1, k2 = min(h, self.window[0]), min(w, self.window[1])
        pooled = brute_force_local_mean(x, k1, k2).to(x.dtype)
        gate = brute_force_replicate(self.conv_du(pooled), h, w)
        out = x * gate
        return out if residual is None else out + residual


@pytest.mark.parametrize('window', [(3, 3), (4, 2), (5, 9), (1, 1), (20, 3)])
def test_local_mean_matches_loops(window):
    x = torch.randn(2, 3, 7, 9) + 2
    k1, k2 = min(7, window[0]), min(9, window[1])
    got = local_mean(x, window)
    assert got.shape == (2, 3, 7 - k1 + 1, 9 - k2 + 1)
    torch.testing.assert_close(got.double(), brute_force_local_mean(x, k1, k2), rtol=0, atol=1e-6)
    # an independent library computation too: stride-1 average pooling without padding
    torch.testing.assert_close(got, F.avg_pool2d(x, (k1, k2), stride=1), rtol=0, atol=1e-6)


def test_covering_window_is_the_global_mean():
    x = torch.randn(1, 4, 6, 10)
    torch.testing.assert_close(local_mean(x, (6, 10)), x.mean((2, 3), keepdim=True), rtol=0, atol=1e-6)
    torch.testing.assert_close(local_mean(x, (50, 70)), x.mean((2, 3), keepdim=True), rtol=0, atol=1e-6)


@pytest.mark.parametrize('size', [(7, 9), (8, 8), (6, 11)])
def test_replicate_padding_is_centred_as_tlc(size):
    gate = torch.randn(1, 2, 3, 4)
    torch.testing.assert_close(pad_centred(gate, *size), brute_force_replicate(gate, *size), rtol=0, atol=0)


def test_fast_variant_is_the_subsampled_mean_upsampled():
    x = torch.randn(1, 2, 20, 30)
    got = fast_local_mean(x, (8, 12))  # factors 5 and 5: windows 1 x 2 on the 4 x 6 sub-sampled map
    small = x[..., ::5, ::5]
    expected = F.avg_pool2d(small, (1, 2), stride=1).repeat_interleave(5, -2).repeat_interleave(5, -1)
    torch.testing.assert_close(got, expected, rtol=0, atol=1e-6)
    assert torch.equal(fast_local_mean(x, (40, 40)), x.mean((2, 3), keepdim=True))


def _large_map(dtype=torch.float32):
    """A 4K-sized map with a large offset, the case a naive integral image gets wrong."""
    gen = torch.Generator().manual_seed(0)
    return (torch.randn(1, 2, 2160, 3840, generator=gen) + 20).to(dtype)


def _reference_4k(x, window):
    # TLC's formula in float64: integral image over both axes, zero-padded, four corners.
    s = F.pad(x.double().cumsum(-1).cumsum(-2), (1, 0, 1, 0))
    k1, k2 = window
    return (s[..., k1:, k2:] + s[..., :-k1, :-k2] - s[..., :-k1, k2:] - s[..., k1:, :-k2]) / (k1 * k2)


@pytest.mark.slow
def test_integral_image_is_accurate_on_a_4k_map_in_fp32():
    x, window = _large_map(), (384, 576)
    expected = _reference_4k(x, window)
    error = (local_mean(x, window).double() - expected).abs().max()
    assert error < 1e-5  # half a float32 step at ~20 is 1e-6
    s = F.pad(x.cumsum(-1).cumsum(-2), (1, 0, 1, 0))  # the same formula accumulated in float32 fails this bound
    k1, k2 = window
    naive = (s[..., k1:, k2:] + s[..., :-k1, :-k2] - s[..., :-k1, k2:] - s[..., k1:, :-k2]) / (k1 * k2)
    assert (naive.double() - expected).abs().max() > 20 * error


@pytest.mark.slow
def test_integral_image_is_accurate_under_bf16_autocast():
    x, window = _large_map(torch.bfloat16), (384, 576)
    expected = _reference_4k(x, window)
    with torch.autocast('cpu', dtype=torch.bfloat16):
        got = local_mean(x, window)
    assert got.dtype == torch.bfloat16
    # only the final rounding to bf16 (8 bits of mantissa) remains: half a bf16 step at values near 20
    assert (got.double() - expected).abs().max() <= 20 * 2 ** -8 / 2 + 1e-6


def _tiny(**kwargs):
    return _sensitive(MPRNet(**TINY_MPRNET, **kwargs).eval())


def _sensitive(net):
    """Steeper gates than PyTorch's initialisation gives, so that where each window sits shows in the output."""
    with torch.no_grad():
        for name, param in net.named_parameters():
            if '.CA.conv_du.0.' in name:
                param.mul_(30)
    return net


@pytest.mark.slow
def test_windows_follow_each_module_feature_size():
    net = _tiny()
    square = local_windows(net, 256, 384)
    assert square['shallow_feat1.1.CA'] == (192, 192)  # stage-1 quarters: 128 x 128 at 256
    assert square['stage1_encoder.encoder_level3.0.CA'] == (48, 48)  # quarter at 1/4 resolution: 32
    assert square['stage1_decoder.decoder_level1.0.CA'] == (192, 384)  # stage-1 decoder: halves, 128 x 256
    assert square['shallow_feat2.1.CA'] == (192, 384)
    assert square['stage2_decoder.decoder_level2.0.CA'] == (192, 192)  # whole image at 1/2: 128
    assert square['stage3_orsnet.orb1.body.0.CA'] == (384, 384)
    # non-square training patch and window: every side follows its own ratio (integer division)
    odd = local_windows(net, [64, 96], [100, 150])
    assert odd['shallow_feat1.1.CA'] == (32 * 100 // 64, 48 * 150 // 96)
    assert odd['stage1_encoder.encoder_level2.0.CA'] == (16 * 100 // 64, 24 * 150 // 96)
    assert odd['stage3_orsnet.orb1.body.0.CA'] == (100, 150)
    assert set(square) == {n for n, m in net.named_modules() if type(m).__name__ == 'ChannelAttention'}


def test_size_arguments():
    assert resolve_sizes(256, None) == ((256, 256), (384, 384))
    assert resolve_sizes([1, 3, 256, 128], 384) == ((256, 128), (384, 384))
    assert resolve_sizes([64, 96], [90, 100]) == ((64, 96), (90, 100))
    for bad in ([1, 2, 3], 'a', 0, True):
        with pytest.raises(ValueError, match='train_size'):
            resolve_sizes(bad, None)
    with pytest.raises(ValueError, match='multiples of 8'):
        resolve_sizes(60, None)
    with pytest.raises(ValueError, match='base_size'):
        resolve_sizes(64, -3)


@pytest.mark.slow
@pytest.mark.parametrize('size', [(32, 32), (24, 32), (16, 8)])
def test_equals_mprnet_at_and_below_the_training_size(size):
    net = _tiny()
    local = MPRNetLocal(**TINY_MPRNET, train_size=32).eval()
    local.load_state_dict(net.state_dict(), strict=True)
    x = torch.rand(1, 3, *size)
    with torch.no_grad():
        for a, b in zip(local(x), net(x)):
            assert torch.equal(a, b)


@pytest.mark.slow
@pytest.mark.parametrize('train_size, base_size', [(16, 24), ([16, 24], [24, 40])])
def test_network_matches_brute_force_pooling(train_size, base_size):
    local = _sensitive(MPRNetLocal(**TINY_MPRNET, train_size=train_size, base_size=base_size).eval())
    reference = MPRNetLocal(**TINY_MPRNET, train_size=train_size, base_size=base_size).eval()
    reference.load_state_dict(local.state_dict())
    for name, module in list(reference.named_modules()):
        if isinstance(module, LocalChannelAttention):
            owner, _, attr = name.rpartition('.')
            setattr(reference.get_submodule(owner), attr, BruteForceAttention(module))
    x = torch.rand(1, 3, 40, 56)
    with torch.no_grad():
        got, expected, plain = local(x)[0], reference(x)[0], to_global(local)(x)[0]
    torch.testing.assert_close(got, expected, rtol=0, atol=2e-5)
    assert (got - plain).abs().max() > 1e-3  # the local pooling changed the output


@pytest.mark.slow
def test_state_dict_is_the_authors_layout(reference_dir):
    from tests.archs.test_mprnet_arch import read_listing

    listing = read_listing(reference_dir / 'mprnet_deblurring_state_dict.txt')
    with torch.device('meta'):
        local = MPRNetLocal(preset='deblurring', base_size=384)
    assert {k: tuple(v.shape) for k, v in local.state_dict().items()} == listing
    state = {k: torch.zeros(shape) for k, shape in read_listing(
        reference_dir / 'mprnet_deraining_state_dict.txt').items()}
    net = MPRNetLocal(preset='deraining', train_size=[1, 3, 256, 256], base_size=384)
    result = net.load_state_dict(state, strict=True)
    assert not result.missing_keys and not result.unexpected_keys


@pytest.mark.slow
def test_tlc_option_file_builds_through_basicsr():
    # TLC's options/test/GoPro/MPRNetLocal-GoPro.yml: network_g is {type: MPRNetLocal, base_size: 384}
    with torch.device('meta'):
        tlc = build_network(dict(type='MPRNetLocal', base_size=384))
    assert tlc.config['n_feat'] == 96 and tlc.train_size == (256, 256) and tlc.base_size == (384, 384)
    assert tlc.stage3_orsnet.orb1.body[0].CA.window == (384, 384)
    net = build_network(dict(type='MPRNetLocal', in_c=3, out_c=3, n_feat=8, scale_unetfeats=4, scale_orsnetfeats=4,
                             num_cab=1, kernel_size=3, reduction=4, bias=False, base_size=384,
                             train_size=[1, 3, 256, 256], fast_imp=False))
    assert isinstance(net, MPRNetLocal) and is_local(net)
    assert net.stage3_orsnet.orb1.body[0].CA.window == (384, 384)


@pytest.mark.slow
def test_conversion_and_back_shares_weights_and_restores_outputs():
    net = _tiny()
    params = {n: p.data_ptr() for n, p in net.named_parameters()}
    x = torch.rand(1, 3, 64, 48)
    with torch.no_grad():
        before = net(x)[0]
        assert to_local(net, train_size=16, base_size=24) is net and is_local(net)
        assert {n: p.data_ptr() for n, p in net.named_parameters()} == params
        converted = net(x)[0]
        assert (converted - before).abs().max() > 1e-3
        reference = MPRNetLocal(**TINY_MPRNET, train_size=16, base_size=24).eval()
        reference.load_state_dict(net.state_dict(), strict=True)
        assert torch.equal(reference(x)[0], converted)
        assert to_global(net) is net and not is_local(net)
        assert {n: p.data_ptr() for n, p in net.named_parameters()} == params
        assert torch.equal(net(x)[0], before)
    with pytest.raises(TypeError, match='no MPRNet'):
        to_local(nn.Conv2d(3, 3, 1))


@pytest.mark.slow
def test_fast_variant_runs_and_stays_close():
    exact = MPRNetLocal(**TINY_MPRNET, train_size=16).eval()
    fast = MPRNetLocal(**TINY_MPRNET, train_size=16, fast_imp=True).eval()
    fast.load_state_dict(exact.state_dict())
    x = torch.rand(1, 3, 40, 40)
    with torch.no_grad():
        a, b = exact(x)[0], fast(x)[0]
    assert a.shape == b.shape and 0 < (a - b).abs().max() < 0.5


@pytest.mark.slow
def test_converter_keeps_training_unchanged_at_the_training_size():
    net, local = _tiny(), MPRNetLocal(**TINY_MPRNET, train_size=32)
    local.load_state_dict(net.state_dict())
    x = torch.rand(2, 3, 32, 32)
    net(x)[0].sum().backward()
    local(x)[0].sum().backward()
    for (name, a), b in zip(net.named_parameters(), local.parameters()):
        assert torch.equal(a.grad, b.grad), name


@pytest.mark.slow
def test_macs_are_counted_on_the_meta_device(caplog):
    from mprnet_plugin.tools.profiling import count_macs

    local = MPRNetLocal(**TINY_MPRNET, train_size=16)
    with caplog.at_level('INFO', logger='mprnet_plugin.tools.profiling'):
        local_macs = count_macs(local, (1, 3, 64, 64))
    assert 'cannot run on the meta device' not in caplog.text
    # the gates run on every window position instead of once per map: slightly more than MPRNet
    assert count_macs(MPRNet(**TINY_MPRNET), (1, 3, 64, 64)) < local_macs


def unfold_local_mean(x, k1, k2):
    """The mean of every k1 x k2 window that fits, by unfolding the windows (differentiable, any dtype)."""
    n, c, h, w = x.shape
    windows = F.unfold(x, (k1, k2)).view(n, c, k1 * k2, -1)
    return windows.mean(2).view(n, c, h - k1 + 1, w - k2 + 1)


@pytest.mark.parametrize('window', [(3, 4), (7, 2), (1, 1), (20, 30)])
def test_local_mean_gradients_match_the_windowed_mean(window):
    x = (torch.randn(2, 3, 7, 9, dtype=torch.float64) + 3).requires_grad_()
    k1, k2 = min(7, window[0]), min(9, window[1])
    assert torch.autograd.gradcheck(lambda t: local_mean(t, window), (x,))
    upstream = torch.randn(2, 3, 7 - k1 + 1, 9 - k2 + 1, dtype=torch.float64)
    grad, = torch.autograd.grad((local_mean(x, window) * upstream).sum(), x)
    expected, = torch.autograd.grad((unfold_local_mean(x, k1, k2) * upstream).sum(), x)
    torch.testing.assert_close(grad, expected, rtol=0, atol=1e-12)


def test_local_attention_gradients_match_brute_force():
    torch.manual_seed(0)
    local = LocalChannelAttention(ChannelAttention(8), (5, 6)).double()
    with torch.no_grad():
        local.conv_du[0].weight.mul_(30)  # steep gates, so that errors in the pooling show
    reference = BruteForceAttention(local)
    x = torch.randn(2, 8, 9, 11, dtype=torch.float64, requires_grad=True)
    residual = torch.randn(2, 8, 9, 11, dtype=torch.float64, requires_grad=True)
    upstream = torch.randn(2, 8, 9, 11, dtype=torch.float64)
    grads = []
    for module in (local, reference):
        out = module(x, residual)
        inputs = (x, residual, *local.conv_du.parameters())
        grads.append((out, torch.autograd.grad((out * upstream).sum(), inputs)))
    (got, got_grads), (expected, expected_grads) = grads
    torch.testing.assert_close(got, expected, rtol=0, atol=1e-12)
    for a, b in zip(got_grads, expected_grads):
        torch.testing.assert_close(a, b, rtol=0, atol=1e-10)
    assert torch.autograd.gradcheck(lambda t: local(t), (x[:1, :, :6, :7],))


def test_trains_with_the_local_pooling_active():
    # crops larger than train_size, as a comparison entry training with train_size below gt_size
    torch.manual_seed(0)
    net = MPRNetLocal(**TINY_MPRNET, train_size=16, base_size=24).train()
    assert not covers(net.stage3_orsnet.orb1.body[0].CA.window, 40, 48)
    before = {k: v.clone() for k, v in net.state_dict().items()}
    optimizer = torch.optim.Adam(net.parameters(), lr=1e-3)
    x, target = torch.rand(2, 3, 40, 48), torch.rand(2, 3, 40, 48)
    loss = sum(F.l1_loss(out, target) for out in net(x))
    loss.backward()
    assert all(p.grad is not None and torch.isfinite(p.grad).all() for p in net.parameters())
    optimizer.step()
    assert any(not torch.equal(before[n], p) for n, p in net.named_parameters() if '.CA.conv_du.' in n)
    # the gradients are the local network's: the plain one's differ
    plain = to_global(MPRNetLocal(**TINY_MPRNET, train_size=16, base_size=24))
    plain.load_state_dict(before)
    sum(F.l1_loss(out, target) for out in plain(x)).backward()
    net.zero_grad()
    net.load_state_dict(before)
    sum(F.l1_loss(out, target) for out in net(x)).backward()
    name = 'stage3_orsnet.orb1.body.0.CA.conv_du.0.weight'
    assert not torch.allclose(net.get_parameter(name).grad, plain.get_parameter(name).grad)


def test_training_gradients_match_brute_force_pooling():
    torch.manual_seed(0)
    local = _sensitive(MPRNetLocal(**TINY_MPRNET, train_size=16, base_size=24)).double()
    reference = MPRNetLocal(**TINY_MPRNET, train_size=16, base_size=24).double()
    reference.load_state_dict(local.state_dict())
    for name, module in list(reference.named_modules()):
        if isinstance(module, LocalChannelAttention):
            owner, _, attr = name.rpartition('.')
            setattr(reference.get_submodule(owner), attr, BruteForceAttention(module))
    x = torch.rand(1, 3, 32, 24, dtype=torch.float64)
    for net in (local, reference):
        net(x)[0].square().mean().backward()
    for (name, a), b in zip(local.named_parameters(), reference.parameters()):
        torch.testing.assert_close(a.grad, b.grad, rtol=1e-8, atol=1e-10, msg=name)
