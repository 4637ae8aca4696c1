"""Every architecture this package registers, through the same checks (as timm tests every model): forward,
backward, restoring any size through the padding, and export checked against PyTorch."""
import numpy as np
import pytest
import torch
from tests.helpers.settings import TINY_MPRNET

import mprnet_plugin  # noqa: F401  (registration; before basicsr, whose import needs the compatibility fix)
from basicsr.archs import build_network
from basicsr.utils.registry import ARCH_REGISTRY
from mprnet_plugin.inference.export import export, run_onnx, run_torchscript
from mprnet_plugin.losses.stage_outputs import stage_loss_terms, stage_outputs
from mprnet_plugin.losses.mprnet_loss import MPRNetLoss
from mprnet_plugin.archs.descriptor import network_size_multiple
from mprnet_plugin.inference.tiling import restore

# Small settings for each registered architecture; the test below fails when one is registered without an entry.
SMALL_SETTINGS = {
    'MPRNet': dict(TINY_MPRNET),
    'MPRNetLocal': dict(TINY_MPRNET, train_size=32, base_size=48),
    'PlainUNet': dict(base_channels=4, depth=2, blocks_per_level=1),
}


def registered_here():
    """The architectures in BasicSR's registry whose class lives in this package."""
    return sorted(name for name, cls in ARCH_REGISTRY._obj_map.items() if cls.__module__.startswith('mprnet_plugin.'))


def test_every_registered_architecture_has_small_settings():
    assert registered_here() == sorted(SMALL_SETTINGS)


@pytest.fixture(params=sorted(SMALL_SETTINGS))
def small_net(request):
    torch.manual_seed(0)
    return request.param, build_network({'type': request.param, **SMALL_SETTINGS[request.param]})


@pytest.mark.slow
def test_forward_and_backward_reach_every_parameter(small_net):
    name, net = small_net
    multiple = network_size_multiple(net)
    x = torch.rand(2, 3, 4 * multiple, 6 * multiple)
    outputs = stage_outputs(net.train()(x))
    assert outputs and all(o.shape == x.shape for o in outputs), name
    terms = stage_loss_terms(MPRNetLoss(), outputs, torch.rand_like(x))
    torch.stack(list(terms.values())).sum().backward()
    missing = [n for n, p in net.named_parameters() if p.grad is None or not torch.isfinite(p.grad).all()]
    assert not missing, f'{name}: no finite gradient for {missing[:5]}'


@pytest.mark.slow
def test_any_size_restores_through_the_padding(small_net):
    name, net = small_net
    x = torch.rand(1, 3, 37, 53)  # no multiple of anything
    with torch.no_grad():
        out = restore(net.eval(), x)
        tiled = restore(net, x, tile=32, overlap=8)
    assert out.shape == tiled.shape == x.shape and torch.isfinite(out).all(), name


@pytest.mark.slow
@pytest.mark.parametrize('fmt', ['onnx', 'torchscript'])
def test_export_matches_pytorch_at_another_size(small_net, tmp_path, fmt):
    name, net = small_net
    net.eval()
    multiple = network_size_multiple(net)
    path = tmp_path / f'{name}.{fmt}'
    diff = export(net, path, fmt, height=4 * multiple, width=4 * multiple, dynamic=True, tolerance=1e-4)
    assert diff is not None and diff <= 1e-4
    x = torch.rand(1, 3, 6 * multiple, 5 * multiple)
    with torch.no_grad():
        expected = stage_outputs(net(x))[0]
    got = run_onnx(path, x.numpy()) if fmt == 'onnx' else run_torchscript(path, x).numpy()
    assert np.abs(got - expected.numpy()).max() < 1e-4, name
