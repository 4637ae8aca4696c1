"""One bad item is reported by name and skipped; non-finite values and out-of-range options are refused."""
import struct
import zlib
from pathlib import Path

import cv2
import numpy as np
import pytest
import torch
from tests.helpers.settings import TINY_MPRNET

from mprnet_plugin import MPRNet
from mprnet_plugin.inference import export
from mprnet_plugin.cli import export as export_cli
from mprnet_plugin.cli import infer as infer_cli
from mprnet_plugin.cli import prep as prep_cli
from mprnet_plugin.data.lmdb_writer import UnstorableImageError, make_paired_lmdb, write_lmdb
from mprnet_plugin.inference.restorer import NonFiniteError, Restorer


def png_chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack('>I', len(data)) + kind + data + struct.pack('>I', zlib.crc32(kind + data) & 0xffffffff)


def huge_header_png(path: Path) -> Path:
    """A PNG whose header claims 100000 x 100000 pixels (OpenCV refuses to allocate it)."""
    header = struct.pack('>IIBBBBB', 100000, 100000, 8, 2, 0, 0, 0)
    path.write_bytes(b'\x89PNG\r\n\x1a\n' + png_chunk(b'IHDR', header) + png_chunk(b'IDAT', zlib.compress(b'\0' * 64))
                     + png_chunk(b'IEND', b''))
    return path


@pytest.fixture(scope='module')
def net() -> MPRNet:
    return MPRNet(**TINY_MPRNET)


@pytest.fixture(scope='module')
def weights(net, tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp('w') / 'tiny.pth'
    torch.save({'params': net.state_dict()}, path)
    return path


def test_a_huge_header_and_a_nan_image_do_not_stop_the_folder(weights, tmp_path, capsys):
    folder = tmp_path / 'in'
    folder.mkdir()
    rng = np.random.default_rng(0)
    for i in range(3):
        cv2.imwrite(str(folder / f'good{i}.png'), rng.integers(0, 256, (20, 24, 3), dtype=np.uint8))
    huge_header_png(folder / 'good1_huge.png')  # sorted between the good ones, in the same batch
    nan = rng.random((20, 24, 3)).astype(np.float32)
    nan[3, 4, 1] = np.nan
    cv2.imwrite(str(folder / 'good2_nan.tif'), nan)
    out = tmp_path / 'out'
    assert infer_cli.main(['--weights', str(weights), '--input', str(folder), '--output', str(out), '--batch', '2',
                           '--device', 'cpu']) == 1
    assert sorted(p.name for p in out.iterdir()) == ['good0.png', 'good1.png', 'good2.png']
    err = capsys.readouterr().err
    assert 'good1_huge.png' in err and 'more pixels than OpenCV decodes' in err
    assert 'good2_nan.tif' in err and '1 non-finite value' in err
    assert '3 written' in err and '2 failed' in err


def test_non_finite_outputs_are_reported_not_written(net, tmp_path, capsys):
    broken = MPRNet(**TINY_MPRNET)
    with torch.no_grad():  # finite weights (NaN ones are refused when read) whose outputs overflow to inf and NaN
        next(broken.parameters()).fill_(1e38)
    torch.save({'params': broken.state_dict()}, tmp_path / 'nan.pth')
    cv2.imwrite(str(tmp_path / 'a.png'), np.full((16, 16, 3), 90, np.uint8))
    assert infer_cli.main(['--weights', str(tmp_path / 'nan.pth'), '--input', str(tmp_path / 'a.png'), '--output',
                           str(tmp_path / 'out'), '--device', 'cpu']) == 1
    assert 'restored output holds' in capsys.readouterr().err and not (tmp_path / 'out' / 'a.png').exists()


def test_restorer_refuses_non_finite_and_empty_images(net):
    restorer = Restorer(net, device='cpu')
    image = np.random.default_rng(1).random((16, 16, 3)).astype(np.float32)
    image[0, 0, 0] = np.inf
    with pytest.raises(NonFiniteError, match='input image holds 1 non-finite'):
        restorer(image)
    with pytest.raises(NonFiniteError, match='input image 1 holds'):
        restorer.restore_arrays([np.zeros((8, 8, 3), np.float32), image])
    with pytest.raises(NonFiniteError):
        restorer(torch.full((3, 8, 8), float('nan')))
    with pytest.raises(ValueError, match='size 0x0'):
        restorer(np.zeros((0, 0, 3), np.uint8))
    with pytest.raises(ValueError, match='n_feat must be a positive integer; got -8'):
        MPRNet(n_feat=-8)


def test_write_lmdb_stores_only_what_it_can_store_exactly(tmp_path):
    with pytest.raises(UnstorableImageError, match="'soft'.*dtype float32"):
        write_lmdb(tmp_path / 'f.lmdb', [('ok', np.zeros((4, 4, 3), np.uint8)),
                                         ('soft', np.full((4, 4, 3), 0.5, np.float32))])
    with pytest.raises(UnstorableImageError, match="'wide'.*dtype int64"):
        write_lmdb(tmp_path / 'i.lmdb', [('wide', np.full((4, 4), 70000, np.int64))])
    with pytest.raises(UnstorableImageError, match="'two'.*shape"):
        write_lmdb(tmp_path / 'c.lmdb', [('two', np.zeros((4, 4, 2), np.uint8))])
    with pytest.raises(UnstorableImageError, match="'p'"):
        make_paired_lmdb([('p', np.zeros((4, 4, 3), np.float64), np.zeros((4, 4, 3), np.float64))],
                         tmp_path / 'a.lmdb', tmp_path / 'b.lmdb')
    assert not any(tmp_path.iterdir())  # nothing half-written
    deep = np.arange(48, dtype=np.uint16).reshape(4, 4, 3) * 1300
    bgra = np.dstack([deep, deep[..., :1]])
    assert write_lmdb(tmp_path / 'ok.lmdb', [('deep', deep), ('gray', deep[..., 0]), ('bgra', bgra)]) == 3


@pytest.mark.parametrize('args, message', [
    (['--step', '0'], '--step: 0; expected an integer >= 1'),
    (['--crop-size', '0'], '--crop-size: 0; expected an integer >= 1'),
])
def test_prep_refuses_zero_crop_settings(tmp_path, capsys, args, message):
    assert prep_cli.main(['gopro', '--src', str(tmp_path), '--dst', str(tmp_path / '..' / 'out')] + args) == 2
    assert message in capsys.readouterr().err


@pytest.mark.parametrize('args', [['--fallback-tile', '32'], ['--fallback-tile', '100'], ['--suffix', '../up'],
                                  ['--suffix', 'a/b']])
def test_infer_refuses_out_of_range_values(weights, tmp_path, capsys, args):
    with pytest.raises(SystemExit) as stop:
        infer_cli.main(['--weights', str(weights), '--input', str(tmp_path), '--output', str(tmp_path / 'o')] + args)
    assert stop.value.code == 2 and 'mprnet-infer: error:' in capsys.readouterr().err


def test_infer_output_that_holds_the_input(weights, tmp_path, capsys):
    (tmp_path / 'in').mkdir()
    cv2.imwrite(str(tmp_path / 'in' / 'x.png'), np.zeros((8, 8, 3), np.uint8))
    for output in (tmp_path / 'in', tmp_path):
        assert infer_cli.main(['--weights', str(weights), '--input', str(tmp_path / 'in'), '--output',
                               str(output)]) == 2
        assert 'is --output or inside it' in capsys.readouterr().err


@pytest.mark.parametrize('args, message', [(['--tolerance', '-1'], '--tolerance must be'),
                                           (['--opset', '999'], '--opset must be in'),
                                           (['--height', '12'], 'multiples of 8')])
def test_export_refuses_out_of_range_values(weights, tmp_path, capsys, args, message):
    # Flags are refused by the parser; the size multiple is the network's, known once its checkpoint is read.
    try:
        status = export_cli.main(['--weights', str(weights), '--format', 'onnx', '--output', str(tmp_path / 'm.onnx')]
                                 + args)
    except SystemExit as stop:
        status = stop.code
    err = capsys.readouterr().err
    assert status == 2 and message in err
    assert not (tmp_path / 'm.onnx').exists()


@pytest.mark.slow
def test_export_that_fails_its_check_leaves_no_file(weights, tmp_path, capsys, monkeypatch):
    monkeypatch.setattr(export, 'verify_export', lambda *args, **kwargs: 0.5)  # an export far off PyTorch
    target = tmp_path / 'm.pt'
    assert export_cli.main(['--weights', str(weights), '--format', 'torchscript', '--output', str(target),
                            '--height', '16', '--width', '16']) == 1
    assert 'differs from PyTorch by 0.5' in capsys.readouterr().err
    assert list(tmp_path.iterdir()) == []
    (tmp_path / 'file').write_text('')
    assert export_cli.main(['--weights', str(weights), '--format', 'torchscript', '--output',
                            str(tmp_path / 'file' / 'm.pt')]) == 2
    assert 'is not a folder' in (err := capsys.readouterr().err) and len(err.strip().splitlines()) == 1


@pytest.mark.parametrize('tool', ['infer', 'export', 'prep', 'demo', 'train', 'test'])
def test_every_command_tells_its_version(tool, capsys):
    import importlib

    import mprnet_plugin
    main = importlib.import_module(f'mprnet_plugin.cli.{tool}').main
    try:
        status = main(['--version'])
    except SystemExit as stop:
        status = stop.code
    assert status in (0, None)
    assert capsys.readouterr().out.strip() == f'mprnet-{tool} (mprnet_plugin) {mprnet_plugin.__version__}'
