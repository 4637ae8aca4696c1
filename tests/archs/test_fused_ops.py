"""The fused forms of MPRNet's patterns compute what the plain ops compute, and are used only where they may be."""
import copy
import os
import subprocess
import sys
import textwrap

import pytest
import torch
import torch.nn.functional as F
from torch import nn
from torch.utils.flop_counter import FlopCounterMode

from mprnet_plugin.archs import fused_ops
from mprnet_plugin.archs.fused_ops import PReLU, can_fuse_conv, conv_add, conv_prelu

needs_fused_conv = pytest.mark.skipif(not fused_ops._FUSED_CONV, reason='this torch has no oneDNN fused convolution')
FORMATS = [torch.contiguous_format, torch.channels_last]


def _conv_and_input(kernel: int, bias: bool, memory_format: torch.memory_format, channels: int = 12):
    torch.manual_seed(0)
    conv = nn.Conv2d(channels, channels, kernel, padding=kernel // 2, bias=bias)
    x = torch.randn(2, channels, 20, 28).contiguous(memory_format=memory_format)
    return conv, x


@needs_fused_conv
@pytest.mark.parametrize('memory_format', FORMATS)
@pytest.mark.parametrize('kernel, bias', [(3, False), (3, True), (1, False)])
def test_fused_conv_prelu_and_conv_add_equal_the_plain_ops(kernel, bias, memory_format):
    conv, x = _conv_and_input(kernel, bias, memory_format)
    act = PReLU(init=0.3)
    residual = torch.randn(2, 12, 20, 28)
    with torch.inference_mode():
        assert can_fuse_conv(x, conv)
        fused_act, plain_act = conv_prelu(conv, act, x), F.prelu(conv(x), act.weight)
        fused_add, plain_add = conv_add(conv, x, residual), conv(x) + residual
    torch.testing.assert_close(fused_act, plain_act, atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(fused_add, plain_add, atol=1e-5, rtol=1e-5)
    assert (fused_act < 0).any(), 'the negative branch of the PReLU must be exercised'


def test_conv_add_broadcasts_like_the_plain_sum():
    conv, x = _conv_and_input(3, True, torch.channels_last)
    bias = torch.randn(1, 12, 1, 1)
    with torch.inference_mode():
        torch.testing.assert_close(conv_add(conv, x, bias), conv(x) + bias)


def test_fusion_is_off_wherever_it_must_be():
    conv, x = _conv_and_input(3, False, torch.channels_last)
    assert not can_fuse_conv(x, conv)  # autograd is recording
    with torch.inference_mode():
        assert not can_fuse_conv(x.double(), copy.deepcopy(conv).double())
        with torch.autocast('cpu', dtype=torch.bfloat16):
            assert not can_fuse_conv(x, conv)
        with torch.backends.mkldnn.flags(enabled=False):
            assert not can_fuse_conv(x, conv)
        with FlopCounterMode(display=False):
            assert not can_fuse_conv(x, conv)
        assert can_fuse_conv(x, conv) == fused_ops._FUSED_CONV


def test_traced_graphs_hold_only_portable_ops():
    conv, x = _conv_and_input(3, False, torch.channels_last)

    class Block(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.conv, self.act = conv, PReLU()

        def forward(self, t):
            return conv_add(self.conv, conv_prelu(self.conv, self.act, t), t)
    block = Block().eval()
    with torch.inference_mode():
        traced = torch.jit.trace(block, x, check_trace=False)
        graph = str(traced.inlined_graph)
        torch.testing.assert_close(traced(x), block(x), atol=1e-5, rtol=1e-5)
    assert 'mkldnn' not in graph
    assert 'aten::_convolution' in graph and 'aten::prelu' in graph and 'aten::add' in graph


@pytest.mark.parametrize('memory_format', FORMATS)
def test_prelu_gradients_equal_torch_prelu(memory_format):
    torch.manual_seed(0)
    x = torch.randn(2, 16, 24, 24).contiguous(memory_format=memory_format)
    grad = torch.randn_like(x)
    ours, reference = PReLU(init=0.2), nn.PReLU(init=0.2)
    got, want = [], []
    for module, out in ((ours, got), (reference, want)):
        xi = x.clone().requires_grad_(True)
        y = module(xi)
        y.backward(grad)
        out += [y.detach(), xi.grad, module.weight.grad]
    assert got[2] is not None
    for a, b in zip(got, want):
        torch.testing.assert_close(a, b, atol=1e-4, rtol=1e-5)
    # the grad with respect to the input only, as for a frozen activation
    xi = x.clone().requires_grad_(True)
    ours.weight.requires_grad_(False)
    ours(xi).backward(grad)
    torch.testing.assert_close(xi.grad, want[1])


def test_prelu_backward_passes_gradcheck():
    torch.manual_seed(0)
    x = torch.randn(1, 3, 5, 6, dtype=torch.float64)
    x = torch.where(x.abs() < 1e-3, torch.full_like(x, 0.5), x).requires_grad_(True)  # away from the kink at 0
    weight = torch.tensor([0.25], dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(fused_ops.prelu, (x, weight))
    assert torch.autograd.gradcheck(fused_ops.prelu, (x.contiguous(memory_format=torch.channels_last), weight))


@pytest.mark.slow
def test_keep_cpu_heap_stops_large_tensors_from_page_faulting():
    # In a fresh process: after one warm-up round, reallocating large tensors of varied sizes faults no new pages.
    code = textwrap.dedent('''
        import resource, torch
        from mprnet_plugin.runtime.cpu_heap import keep_cpu_heap
        assert keep_cpu_heap()
        def round_():
            for mb in (24, 8, 16, 30, 12):
                torch.empty(mb << 18).fill_(1.0)
        round_()
        before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
        for _ in range(5):
            round_()
        print(resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before)
    ''')
    if not sys.platform.startswith('linux'):
        pytest.skip('glibc malloc tuning applies on Linux only')
    out = subprocess.run([sys.executable, '-c', code], capture_output=True, text=True, check=True)
    faults = int(out.stdout.strip())
    # Without keep_cpu_heap the same rounds fault about 14,000 pages here; with it, none.
    assert faults < 2000, faults


TINY = dict(n_feat=8, scale_unetfeats=4, scale_orsnetfeats=4, num_cab=1)


def _tiny_output(**kwargs):
    from mprnet_plugin.archs.mprnet_arch import MPRNet
    torch.manual_seed(0)
    net = MPRNet(**TINY, **kwargs).eval()
    with torch.no_grad():
        nn.init.constant_(net.shallow_feat1[1].body[1].weight, 0.3)  # a PReLU slope away from its init
    x = torch.rand(1, 3, 32, 40, generator=torch.Generator().manual_seed(1))
    with torch.inference_mode():
        return net(x)[0]


@needs_fused_conv
def test_the_switches_give_the_fused_outputs(monkeypatch):
    fused = _tiny_output()
    torch.testing.assert_close(_tiny_output(fused_ops=False), fused, atol=1e-5, rtol=1e-5)
    monkeypatch.setattr(fused_ops, '_enabled', False)
    torch.testing.assert_close(_tiny_output(), fused, atol=1e-5, rtol=1e-5)


def test_a_network_switched_off_never_fuses():
    from mprnet_plugin.archs.mprnet_arch import MPRNet
    net = MPRNet(**TINY, fused_ops=False)
    conv = net.tail
    x = torch.rand(1, conv.in_channels, 8, 8)
    with torch.inference_mode():
        assert not can_fuse_conv(x, conv)
        net.set_fused_ops(True)
        assert can_fuse_conv(x, conv) == fused_ops._FUSED_CONV


@pytest.mark.slow
@needs_fused_conv
def test_the_environment_variable_turns_the_fused_path_off():
    script = textwrap.dedent(f'''
        import torch
        from mprnet_plugin.archs import fused_ops
        from mprnet_plugin.archs.mprnet_arch import MPRNet
        assert not fused_ops.fused_ops_enabled()
        torch.manual_seed(0)
        net = MPRNet(**{TINY!r}).eval()
        x = torch.rand(1, 3, 32, 40, generator=torch.Generator().manual_seed(1))
        with torch.inference_mode():
            assert not fused_ops.can_fuse_conv(x, net.shallow_feat1[0])
    ''')
    env = {**os.environ, 'MPRNET_FUSED_OPS': '0', 'OMP_NUM_THREADS': '1'}
    proc = subprocess.run([sys.executable, '-c', script], capture_output=True, text=True, env=env)
    assert proc.returncode == 0, proc.stderr


@needs_fused_conv
def test_a_failing_operator_falls_back_to_the_plain_ops(monkeypatch):
    conv, x = _conv_and_input(3, True, torch.channels_last)
    act = PReLU(init=0.3)
    monkeypatch.setattr(fused_ops, '_conv_args', lambda conv: ([1, 1], [1, 1], [1, 1], 99))  # groups the op refuses
    with torch.inference_mode(), pytest.warns(RuntimeWarning, match='plain ops'):
        out = conv_prelu(conv, act, x)
    assert not fused_ops._FUSED_CONV
    monkeypatch.setattr(fused_ops, '_FUSED_CONV', True)  # restored for the other tests when monkeypatch undoes
    with torch.inference_mode():
        torch.testing.assert_close(out, F.prelu(conv(x), act.weight))


def test_without_the_operator_the_plain_ops_run(monkeypatch):
    monkeypatch.setattr(fused_ops, '_FUSED_CONV', False)
    conv, x = _conv_and_input(3, False, torch.contiguous_format)
    with torch.inference_mode():
        assert not can_fuse_conv(x, conv)
        torch.testing.assert_close(conv_add(conv, x, x), conv(x) + x)
