"""``mprnet-infer`` and ``Restorer``: checkpoints of every layout, folders, globs, bit depths, gray, alpha, failures."""
import logging
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from tests.helpers.settings import TINY_MPRNET
from PIL import Image

from mprnet_plugin import Restorer
from mprnet_plugin.archs.mprnet_arch import MPRNet
from mprnet_plugin.checkpoints.reading import CheckpointError
from mprnet_plugin.cli.infer import main as infer_main
from mprnet_plugin.io.images import read_image, write_image
from mprnet_plugin.archs.mprnet_arch import MPRNET_DESCRIPTOR
from mprnet_plugin.inference.tiling import restore


@pytest.fixture(scope='module')
def net() -> MPRNet:
    torch.manual_seed(0)
    return MPRNet(**TINY_MPRNET).eval()


@pytest.fixture(scope='module')
def checkpoints(net, tmp_path_factory):
    """The same weights saved as the authors save them and as BasicSR's save_network does."""
    folder = tmp_path_factory.mktemp('ckpt')
    state = net.state_dict()
    authors = folder / 'model_authors.pth'
    torch.save({'epoch': 3, 'state_dict': {f'module.{k}': v for k, v in state.items()}}, authors)
    basicsr = folder / 'net_g_100.pth'
    torch.save({'params': {k: v.clone() for k, v in state.items()}}, basicsr)
    return {'authors': authors, 'basicsr': basicsr}


def expected_rgb8(net, bgr: np.ndarray) -> np.ndarray:
    """What the authors' test procedure gives: RGB float in [0, 1], padded model run, clamp, round, back to BGR."""
    x = torch.from_numpy(bgr[..., ::-1].astype(np.float32) / 255).permute(2, 0, 1)[None]
    with torch.no_grad():
        out = restore(net, x).clamp(0, 1)[0].permute(1, 2, 0).numpy()
    return np.rint(out * 255).astype(np.uint8)[..., ::-1]


@pytest.fixture()
def inputs(tmp_path):
    rng = np.random.default_rng(0)
    root = tmp_path / 'in'
    images = {
        'rgb.png': rng.integers(0, 256, (37, 45, 3), dtype=np.uint8),
        'deep/sixteen.png': rng.integers(0, 65536, (24, 30, 3), dtype=np.uint16),
        'deep/gray.png': rng.integers(0, 256, (20, 28), dtype=np.uint8),
        'deep/alpha.png': rng.integers(0, 256, (21, 19, 4), dtype=np.uint8),
    }
    for name, img in images.items():
        write_image(root / name, img)
    (root / 'deep' / 'corrupt.png').write_bytes(b'\x89PNG\r\n\x1a\n truncated')
    (root / 'notes.txt').write_text('not an image')
    return root, images


def run_infer(*args) -> int:
    return infer_main([str(a) for a in args])


@pytest.mark.slow
def test_folder_run_keeps_structure_depth_gray_alpha_and_reports_the_corrupt_file(net, checkpoints, inputs, tmp_path,
                                                                                  caplog):
    root, images = inputs
    out = tmp_path / 'out'
    with caplog.at_level(logging.INFO, logger='mprnet_plugin'):
        status = run_infer('--weights', checkpoints['basicsr'], '--input', root, '--output', out, '--device', 'cpu')
    assert status == 1  # one file failed, the rest are written
    assert 'corrupt.png' in caplog.text and '4 written' in caplog.text and '1 failed' in caplog.text
    written = sorted(p.relative_to(out).as_posix() for p in out.rglob('*') if p.is_file())
    assert written == ['deep/alpha.png', 'deep/gray.png', 'deep/sixteen.png', 'rgb.png']
    assert np.array_equal(read_image(out / 'rgb.png'), expected_rgb8(net, images['rgb.png']))
    sixteen = read_image(out / 'deep/sixteen.png')
    assert sixteen.dtype == np.uint16 and sixteen.shape == (24, 30, 3)
    # 16 bits all the way: not an 8-bit result scaled up.
    assert np.any(sixteen % 257 != 0)
    gray = read_image(out / 'deep/gray.png')
    assert gray.shape == (20, 28) and gray.dtype == np.uint8
    alpha = read_image(out / 'deep/alpha.png')
    assert alpha.shape == (21, 19, 4) and np.array_equal(alpha[..., 3], images['deep/alpha.png'][..., 3])
    assert not list(out.rglob('.*tmp*'))  # atomic writes leave no temporary files


def test_both_checkpoint_layouts_give_the_same_images(net, checkpoints, inputs, tmp_path):
    root, images = inputs
    outputs = {}
    for layout, path in checkpoints.items():
        out = tmp_path / layout
        run_infer('--weights', path, '--input', root / 'rgb.png', '--output', out, '--task', 'deblurring',
                  '--suffix', '_restored')
        outputs[layout] = read_image(out / 'rgb_restored.png')
    assert np.array_equal(outputs['authors'], outputs['basicsr'])
    assert np.array_equal(outputs['authors'], expected_rgb8(net, images['rgb.png']))


@pytest.mark.slow
def test_glob_tiles_jpeg_to_png_exif_and_skip_existing(net, checkpoints, tmp_path, caplog):
    rng = np.random.default_rng(1)
    src = tmp_path / 'photos' / 'day1'
    src.mkdir(parents=True)
    rgb = rng.integers(0, 256, (40, 64, 3), dtype=np.uint8)
    pil = Image.fromarray(rgb)
    exif = pil.getexif()
    exif[0x0112] = 6  # stored sideways: viewers rotate it 90 degrees clockwise
    pil.save(src / 'cam.jpg', quality=95, exif=exif.tobytes())
    write_image(src / 'big.png', rng.integers(0, 256, (72, 100, 3), dtype=np.uint8))
    out = tmp_path / 'out'
    pattern = str(tmp_path / 'photos' / '*' / '*.*')
    assert run_infer('--weights', checkpoints['authors'], '--input', pattern, '--output', out, '--tile', '48',
                     '--tile-overlap', '16', '--batch', '2') == 0
    assert read_image(out / 'day1' / 'cam.png').shape == (64, 40, 3)  # upright, PNG
    tiled = read_image(out / 'day1' / 'big.png')
    expected = Restorer(net, device='cpu', tile=48, overlap=16, batch=2)(read_image(src / 'big.png'), bgr=True)
    assert np.array_equal(tiled, expected)
    untiled = expected_rgb8(net, read_image(src / 'big.png'))
    assert np.abs(tiled.astype(int) - untiled.astype(int)).mean() < 8
    before = {p: p.stat().st_mtime_ns for p in out.rglob('*.png')}
    with caplog.at_level(logging.INFO, logger='mprnet_plugin'):
        assert run_infer('--weights', checkpoints['authors'], '--input', pattern, '--output', out,
                         '--skip-existing') == 0
    assert '2 skipped' in caplog.text
    assert before == {p: p.stat().st_mtime_ns for p in out.rglob('*.png')}
    # An output folder inside the input folder: its results are not taken as inputs on the next run.
    nested = tmp_path / 'photos' / 'restored'
    for _ in range(2):
        assert run_infer('--weights', checkpoints['authors'], '--input', tmp_path / 'photos', '--output', nested,
                         '--skip-existing') == 0
    assert sorted(p.relative_to(nested).as_posix() for p in nested.rglob('*.png')) == ['day1/big.png', 'day1/cam.png']


def test_bad_options_and_inputs_are_named(checkpoints, inputs, tmp_path, capsys):
    root, _ = inputs
    # One line each, prefixed with the tool's name (the convention of every command), exit status 2.
    assert run_infer('--weights', tmp_path / 'nope.pth', '--input', root, '--output', tmp_path / 'o') == 2
    assert 'mprnet-infer: error:' in (err := capsys.readouterr().err) and 'nope.pth' in err
    assert run_infer('--weights', checkpoints['basicsr'], '--input', tmp_path / 'absent', '--output',
                     tmp_path / 'o') == 2
    assert 'absent' in capsys.readouterr().err
    # Writing next to the inputs under the same name would overwrite them.
    assert run_infer('--weights', checkpoints['basicsr'], '--input', root / 'rgb.png', '--output', root) == 2
    assert 'overwrite an input' in capsys.readouterr().err
    with pytest.raises(SystemExit):
        run_infer('--weights', checkpoints['basicsr'], '--input', root, '--output', tmp_path / 'o', '--tile', '50')


@pytest.mark.slow
def test_restorer_api_arrays_and_tensors(net, checkpoints):
    restorer = Restorer.from_checkpoint(checkpoints['authors'], device='cpu')
    rng = np.random.default_rng(2)
    rgb = rng.integers(0, 256, (30, 26, 3), dtype=np.uint8)
    out = restorer(rgb)
    assert out.shape == rgb.shape and out.dtype == np.uint8
    assert np.array_equal(out, restorer(rgb[..., ::-1].copy(), bgr=True)[..., ::-1])
    assert np.array_equal(out[..., ::-1], expected_rgb8(net, rgb[..., ::-1]))
    assert restorer(rgb.astype(np.uint16) * 257).dtype == np.uint16
    floats = restorer(rgb.astype(np.float32) / 255)
    assert floats.dtype == np.float32 and np.abs(floats * 255 - out).max() <= 0.5 + 1e-3

    x = torch.from_numpy(rgb).permute(2, 0, 1).float() / 255
    y = restorer(x)
    assert y.shape == x.shape and y.dtype == torch.float32
    np.testing.assert_allclose(y.permute(1, 2, 0).numpy() * 255, out, atol=0.5 + 1e-3)
    rgba = torch.cat([x, torch.rand(1, 30, 26)])[None].repeat(2, 1, 1, 1)
    y4 = restorer(rgba)
    assert y4.shape == rgba.shape and torch.equal(y4[:, 3], rgba[:, 3])
    assert restorer((x[:1] * 255).round().to(torch.uint8)).dtype == torch.uint8
    with pytest.raises(TypeError, match='list'):
        restorer([1, 2])
    with pytest.raises(ValueError, match='C in 1-4; got shape .*5, 30, 26'):
        restorer(torch.rand(5, 30, 26))


def test_restorer_batch_precision_and_device_options(net):
    images = [np.random.default_rng(i).integers(0, 256, (24, 32, 3), dtype=np.uint8) for i in range(3)]
    one = Restorer(net, device='cpu').restore_arrays(images)
    batched = Restorer(net, device='cpu', batch=2).restore_arrays(images)
    for a, b in zip(one, batched):
        assert np.abs(a.astype(int) - b.astype(int)).max() <= 1
    bf16 = Restorer(net, device='cpu', precision='bf16').restore_arrays(images[:1])[0]
    assert np.abs(bf16.astype(int) - one[0].astype(int)).mean() < 3
    with pytest.raises(ValueError, match='fp8'):
        Restorer(net, precision='fp8')
    with pytest.raises(ValueError, match='multiple of 8'):
        Restorer(net, tile=100)
    if not torch.cuda.is_available():
        with pytest.raises(ValueError, match='CUDA'):
            Restorer(net, device='cuda')


def test_checkpoint_of_another_network_is_refused(tmp_path):
    path = tmp_path / 'other.pth'
    torch.save({'params': {'conv.weight': torch.zeros(3, 3, 3, 3)}}, path)
    with pytest.raises(CheckpointError, match='other.pth'):
        Restorer.from_checkpoint(path)


@pytest.mark.slow
def test_console_script_runs(checkpoints, inputs, tmp_path):
    root, _ = inputs
    script = Path(sys.executable).with_name('mprnet-infer')
    command = [str(script)] if script.exists() else [sys.executable, '-m', 'mprnet_plugin.cli.infer']
    result = subprocess.run(command + ['--weights', str(checkpoints['basicsr']), '--input', str(root / 'rgb.png'),
                                       '--output', str(tmp_path / 'o'), '--device', 'cpu'],
                            capture_output=True, text=True, timeout=300, env={**os.environ, 'OMP_NUM_THREADS': '1'})
    assert result.returncode == 0, result.stderr
    assert (tmp_path / 'o' / 'rgb.png').is_file()
    assert 'img/s' in result.stderr and '1 written' in result.stderr


@pytest.mark.slow
def test_task_label_is_checked_against_the_checkpoint_width(tmp_path, caplog):
    torch.manual_seed(0)
    path = tmp_path / 'model_deraining.pth'
    torch.save({'state_dict': MPRNet(preset='deraining').state_dict()}, path)
    write_image(tmp_path / 'in' / 'x.png', np.full((16, 24, 3), 128, np.uint8))
    with caplog.at_level(logging.INFO, logger='mprnet_plugin'):
        assert run_infer('--weights', path, '--input', tmp_path / 'in', '--output', tmp_path / 'out',
                         '--task', 'deblurring') == 0
    assert 'deraining preset' in caplog.text and '--task deblurring' in caplog.text
    assert MPRNET_DESCRIPTOR.matching_preset(MPRNet(**TINY_MPRNET).config) is None
