"""ONNX and TorchScript exports match PyTorch, at sizes other than the traced one."""
import numpy as np
import pytest
import torch
from tests.helpers.settings import TINY_MPRNET

from mprnet_plugin.archs.mprnet_arch import MPRNet
from mprnet_plugin.cli.export import main as export_main
from mprnet_plugin.inference.export import export, run_onnx, run_torchscript


@pytest.fixture(scope='module')
def net() -> MPRNet:
    torch.manual_seed(0)
    return MPRNet(**TINY_MPRNET).eval()


@pytest.fixture(scope='module')
def checkpoint(net, tmp_path_factory):
    path = tmp_path_factory.mktemp('ckpt') / 'model.pth'
    torch.save({'state_dict': net.state_dict()}, path)
    return path


def reference(net, x: torch.Tensor) -> np.ndarray:
    with torch.no_grad():
        return net(x)[0].numpy()


@pytest.mark.slow
def test_dynamic_onnx_matches_pytorch_at_other_sizes_and_batches(net, tmp_path):
    path = tmp_path / 'mprnet.onnx'
    diff = export(net, path, 'onnx', height=64, width=64, dynamic=True)
    assert diff is not None and diff < 1e-4
    for shape in ((1, 3, 64, 64), (2, 3, 48, 96), (1, 3, 120, 40)):
        x = torch.rand(*shape)
        got = run_onnx(path, x.numpy())
        assert got.shape == shape
        np.testing.assert_allclose(got, reference(net, x), rtol=0, atol=1e-4)


@pytest.mark.slow
def test_fixed_size_onnx_and_torchscript_match_pytorch(net, tmp_path):
    fixed = tmp_path / 'fixed.onnx'
    export(net, fixed, 'onnx', height=32, width=48, dynamic=False)
    x = torch.rand(1, 3, 32, 48)
    np.testing.assert_allclose(run_onnx(fixed, x.numpy()), reference(net, x), rtol=0, atol=1e-4)
    with pytest.raises(Exception):  # a fixed graph refuses other sizes
        run_onnx(fixed, torch.rand(1, 3, 40, 48).numpy())

    scripted = tmp_path / 'mprnet.pt'
    diff = export(net, scripted, 'torchscript', height=32, width=48)
    assert diff is not None and diff < 1e-4
    for shape in ((1, 3, 32, 48), (2, 3, 56, 24)):
        x = torch.rand(*shape)
        np.testing.assert_allclose(run_torchscript(scripted, x).numpy(), reference(net, x), rtol=0, atol=1e-4)


@pytest.mark.slow
def test_export_command_prints_the_check(checkpoint, tmp_path, capsys):
    out = tmp_path / 'sub' / 'model.onnx'
    assert export_main(['--weights', str(checkpoint), '--format', 'onnx', '--output', str(out), '--dynamic',
                        '--height', '32', '--width', '32']) == 0
    printed = capsys.readouterr().out
    assert out.is_file() and 'max abs difference' in printed and 'dynamic' in printed
    assert not [p for p in out.parent.iterdir() if p.name.startswith('.')]  # written atomically
    # The size multiple is the network's, checked once the checkpoint is read: exit 2, nothing replaced.
    assert export_main(['--weights', str(checkpoint), '--format', 'onnx', '--output', str(out), '--height', '30',
                        '--force']) == 2
    assert 'multiples of 8' in capsys.readouterr().err
    assert export_main(['--weights', str(tmp_path / 'missing.pth'), '--format', 'torchscript',
                        '--output', str(tmp_path / 'x.pt')]) == 2
    assert 'missing.pth' in capsys.readouterr().err


def test_export_sizes_are_checked(net, tmp_path):
    with pytest.raises(ValueError, match='multiples of 8'):
        export(net, tmp_path / 'x.onnx', 'onnx', height=30, width=32)
    with pytest.raises(ValueError, match='format'):
        export(net, tmp_path / 'x.bin', 'tflite')
