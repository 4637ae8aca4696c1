"""MPRNet-Local everywhere MPRNet restores: exports, ``Restorer``, ``mprnet-infer``, ``mprnet-export``, MMEngine."""
import numpy as np
import pytest
import torch
from tests.helpers.settings import TINY_MPRNET

from mprnet_plugin import Restorer
from mprnet_plugin.archs.mprnet_arch import MPRNet
from mprnet_plugin.archs.mprnet_local_arch import MPRNetLocal, to_local
from mprnet_plugin.cli.export import main as export_main
from mprnet_plugin.cli.infer import main as infer_main
from mprnet_plugin.inference.export import export, run_onnx, run_torchscript
from mprnet_plugin.io.images import read_image, write_image
from mprnet_plugin.inference.tiling import restore

pytestmark = pytest.mark.slow  # see tests/README.md

LOCAL = dict(train_size=16, base_size=24)


def sensitive(net):
    """Steeper gates than PyTorch's initialisation, so that the local pooling shows in the output."""
    with torch.no_grad():
        for name, param in net.named_parameters():
            if '.CA.conv_du.0.' in name:
                param.mul_(30)
    return net


@pytest.fixture(scope='module')
def plain() -> MPRNet:
    torch.manual_seed(0)
    return sensitive(MPRNet(**TINY_MPRNET).eval())


@pytest.fixture(scope='module')
def local(plain) -> MPRNetLocal:
    net = MPRNetLocal(**TINY_MPRNET, **LOCAL).eval()
    net.load_state_dict(plain.state_dict(), strict=True)
    return net


@pytest.fixture(scope='module')
def checkpoint(plain, tmp_path_factory):
    path = tmp_path_factory.mktemp('ckpt') / 'model.pth'
    torch.save({'state_dict': {f'module.{k}': v for k, v in plain.state_dict().items()}}, path)
    return path


def final(net, x):
    with torch.no_grad():
        return net(x)[0].numpy()


@pytest.mark.parametrize('fmt', ['onnx', 'torchscript'])
def test_exported_local_graph_matches_at_two_other_sizes(local, plain, tmp_path, fmt):
    path = tmp_path / ('local.onnx' if fmt == 'onnx' else 'local.pt')
    assert export(local, path, fmt, height=48, width=64, dynamic=True) < 1e-4
    # below the training size (every window covers its map) and well above it (non-square, local everywhere)
    for shape in ((1, 3, 16, 16), (2, 3, 72, 40)):
        x = torch.rand(*shape)
        got = run_onnx(path, x.numpy()) if fmt == 'onnx' else run_torchscript(path, x).numpy()
        np.testing.assert_allclose(got, final(local, x), rtol=0, atol=1e-5)
        if shape[-1] > 16:
            assert np.abs(got - final(plain, x)).max() > 1e-3  # the graph pools locally, not globally


def test_export_command_local(checkpoint, local, tmp_path, capsys):
    out = tmp_path / 'local.onnx'
    assert export_main(['--weights', str(checkpoint), '--format', 'onnx', '--output', str(out), '--dynamic',
                        '--height', '48', '--width', '48', '--local', '--train-size', '16', '--base-size', '24']) == 0
    assert 'max abs difference' in capsys.readouterr().out
    x = torch.rand(1, 3, 64, 56)
    np.testing.assert_allclose(run_onnx(out, x.numpy()), final(local, x), rtol=0, atol=1e-5)
    for bad, message in ((['--local', '--fast-local'], 'cannot be exported'), (['--train-size', '32'], 'need --local'),
                         (['--local', '--train-size', '20'], 'multiples of 8'),
                         (['--local', '--base-size', '1', '2', '3'], 'N or H W')):
        with pytest.raises(SystemExit):
            export_main(['--weights', str(checkpoint), '--format', 'onnx', '--output', str(out)] + bad)
        assert message in capsys.readouterr().err


def test_restorer_and_infer_run_the_local_network(checkpoint, local, plain, tmp_path):
    rng = np.random.default_rng(0)
    img = rng.integers(0, 256, (61, 75, 3), dtype=np.uint8)
    restorer = Restorer.from_checkpoint(checkpoint, device='cpu', local=LOCAL)
    assert restorer.local and not Restorer.from_checkpoint(checkpoint, device='cpu').local
    x = torch.from_numpy(img.astype(np.float32) / 255).permute(2, 0, 1)[None]
    with torch.no_grad():
        expected = restore(local, x).clamp(0, 1)[0].permute(1, 2, 0).numpy()
        global_out = restore(plain, x).clamp(0, 1)[0].permute(1, 2, 0).numpy()
    expected8 = np.rint(expected * 255).astype(np.uint8)
    np.testing.assert_array_equal(restorer(img), expected8)
    assert np.abs(expected - global_out).max() > 1e-3

    write_image(tmp_path / 'in' / 'a.png', img[..., ::-1])  # files are BGR on disk through OpenCV
    assert infer_main(['--weights', str(checkpoint), '--input', str(tmp_path / 'in'), '--output', str(tmp_path / 'out'),
                       '--device', 'cpu', '--local', '--train-size', '16', '--base-size', '24']) == 0
    np.testing.assert_array_equal(read_image(tmp_path / 'out' / 'a.png')[..., ::-1], expected8)


def test_default_windows_are_tlcs(checkpoint):
    net = Restorer.from_checkpoint(checkpoint, device='cpu', local=True).net
    assert net.stage3_orsnet.orb1.body[0].CA.window == (384, 384)
    assert net.shallow_feat1[1].CA.window == (192, 192)
    converted = to_local(MPRNet(**TINY_MPRNET), train_size=[1, 3, 256, 256], base_size=384)
    assert converted.stage2_decoder.decoder_level1[0].CA.window == (384, 384)


def test_mmengine_local_config_tests_an_authors_checkpoint(tmp_path, checkpoint, local, plain):
    from tests.helpers.mmengine_fixtures import REPO, make_lmdb_data

    from basicsr.metrics import calculate_psnr
    from basicsr.utils import tensor2img
    from mprnet_plugin.mmengine import BasicSRPairedDataset
    from mprnet_plugin.mmengine import test as mm_test

    data = make_lmdb_data(tmp_path / 'data')
    config = tmp_path / 'tiny_local.py'
    config.write_text(f'''
_base_ = {str(REPO / 'options' / 'mmengine' / 'mprnet_gopro_local.py')!r}
model = dict(generator=dict(n_feat=8, scale_unetfeats=4, scale_orsnetfeats=4, num_cab=1, train_size=16,
                            base_size=24))
val_dataloader = dict(num_workers=0, persistent_workers=False,
                      dataset=dict(dataroot_lq={data['val_input']!r}, dataroot_gt={data['val_target']!r}))
test_dataloader = val_dataloader
env_cfg = dict(cudnn_benchmark=False, mp_cfg=dict(opencv_num_threads=1))
''')
    metrics = mm_test.run_test([str(config), '--checkpoint', str(checkpoint), '--work-dir', str(tmp_path / 'work')])
    dataset = BasicSRPairedDataset(data['val_input'], data['val_target'], phase='val')
    scores = {'local': [], 'plain': []}
    for i in range(len(dataset)):
        sample = dataset[i]
        target = tensor2img(sample['data_samples']['gt'])
        for name, net in (('local', local), ('plain', plain)):
            with torch.no_grad():
                pred = restore(net, sample['inputs'][None])[0].clamp(0, 1)
            scores[name].append(calculate_psnr(tensor2img(pred), target, 0))
    assert metrics['psnr'] == pytest.approx(np.mean(scores['local']), rel=1e-6)
    assert metrics['psnr'] != pytest.approx(np.mean(scores['plain']), rel=1e-6)
