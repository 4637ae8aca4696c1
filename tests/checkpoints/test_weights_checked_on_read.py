"""Weights are checked where they are read: NaN, infinite or integer tensors and files that are not checkpoints are
refused in one line naming the file (and the tensor), by every loader and command; an export check fails on NaN."""
import cv2
import numpy as np
import pytest
import torch
from tests.helpers.settings import TINY_MPRNET

from mprnet_plugin import CheckpointError, MPRNet, load_mprnet_checkpoint
from mprnet_plugin.checkpoints.reading import load_state_dict_file, read_checkpoint
from mprnet_plugin.checkpoints.safetensors_io import write_safetensors
from mprnet_plugin.cli import convert as convert_cli
from mprnet_plugin.cli import export as export_cli
from mprnet_plugin.cli import infer as infer_cli
from mprnet_plugin.inference.export import ExportCheckError, export
from mprnet_plugin.io.images import write_image

FIRST_KEY = 'shallow_feat1.0.weight'


@pytest.fixture
def state():
    return MPRNet(**TINY_MPRNET).state_dict()


def spoiled(state, value=float('nan'), dtype=None):
    """A copy of ``state`` whose first tensor holds ``value`` once (or is cast to ``dtype``)."""
    bad = {k: v.clone() for k, v in state.items()}
    if dtype is not None:
        bad[FIRST_KEY] = bad[FIRST_KEY].to(dtype)
    else:
        bad[FIRST_KEY].view(-1)[3] = value
    return bad


def one_error_line(capsys):
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and 'Traceback' not in err, err
    return err


@pytest.mark.parametrize('value, dtype, found', [(float('nan'), None, 'holds NaN values'),
                                                 (float('inf'), None, 'holds infinite values'),
                                                 (None, torch.int64, 'is int64, not floating point')])
@pytest.mark.parametrize('suffix', ['.pth', '.safetensors'])
def test_bad_tensors_are_refused_when_read(tmp_path, state, value, dtype, found, suffix):
    path = tmp_path / f'bad{suffix}'
    bad = spoiled(state, value, dtype)
    if suffix == '.pth':
        torch.save({'params': bad}, path)
    else:
        write_safetensors(bad, path)
    match = rf"bad{suffix}': tensor '{FIRST_KEY}' {found}"
    with pytest.raises(CheckpointError, match=match):
        load_state_dict_file(path)
    with pytest.raises(CheckpointError, match=match):
        load_mprnet_checkpoint(MPRNet(**TINY_MPRNET), path)


def test_convert_says_nan_not_differs(tmp_path, state, capsys):
    torch.save({'params': spoiled(state)}, tmp_path / 'nan.pth')
    code = convert_cli.main([str(tmp_path / 'nan.pth'), str(tmp_path / 'out.safetensors')])
    err = one_error_line(capsys)
    assert code == 2 and f"tensor '{FIRST_KEY}' holds NaN values" in err and 'differs' not in err
    assert not (tmp_path / 'out.safetensors').exists()


def test_infer_and_export_refuse_nan_weights(tmp_path, state, capsys):
    torch.save({'params': spoiled(state)}, tmp_path / 'nan.pth')
    (tmp_path / 'in').mkdir()
    write_image(tmp_path / 'in' / 'a.png', np.zeros((16, 16, 3), np.uint8))
    code = infer_cli.main(['--weights', str(tmp_path / 'nan.pth'), '--input', str(tmp_path / 'in'),
                           '--output', str(tmp_path / 'out'), '--device', 'cpu'])
    assert code == 2 and 'holds NaN values' in one_error_line(capsys)
    code = export_cli.main(['--weights', str(tmp_path / 'nan.pth'), '--format', 'torchscript',
                            '--output', str(tmp_path / 'm.pt'), '--height', '32', '--width', '32'])
    assert code == 2 and 'holds NaN values' in one_error_line(capsys)
    assert not (tmp_path / 'm.pt').exists()


def test_export_check_fails_on_nan_outputs(tmp_path, state):
    net = MPRNet(**TINY_MPRNET).eval()
    net.load_state_dict(spoiled(state))  # NaN weights already in memory: only the check can catch them
    with pytest.raises(ExportCheckError, match='not finite'):
        export(net, tmp_path / 'm.pt', 'torchscript', height=32, width=32, tolerance=1e-3)
    with pytest.raises(ExportCheckError, match='not finite'):
        export(net, tmp_path / 'm.pt', 'torchscript', height=32, width=32)
    assert not (tmp_path / 'm.pt').exists()


def _png(path):
    path.write_bytes(cv2.imencode('.png', np.zeros((8, 8, 3), np.uint8))[1].tobytes())


def _text(path):
    path.write_text('name: not weights\nmodel_type: MPRNetModel\n')


def _pickle(path):
    import pickle
    path.write_bytes(pickle.dumps({'a': 1}, protocol=4))


def _zip(path):
    import zipfile
    with zipfile.ZipFile(path, 'w') as archive:
        archive.writestr('notes.txt', 'hello')


@pytest.mark.parametrize('make, found', [(_png, 'found a PNG image'), (_text, "found text starting 'name: not"),
                                         (_pickle, 'a pickle torch.save does not write'),
                                         (_zip, 'found a zip archive without data.pkl')])
def test_a_file_that_is_not_a_checkpoint_is_named_so(tmp_path, make, found, capsys):
    path = tmp_path / 'weights.pth'
    make(path)
    with pytest.raises(CheckpointError, match=rf"weights.pth' is not a checkpoint \({found}"):
        read_checkpoint(path)
    (tmp_path / 'in').mkdir()
    _png(tmp_path / 'in' / 'a.png')
    code = infer_cli.main(['--weights', str(path), '--input', str(tmp_path / 'in'), '--output', str(tmp_path / 'out'),
                           '--device', 'cpu'])
    err = one_error_line(capsys)
    assert code == 2 and 'is not a checkpoint' in err and 'weights_only' not in err


def test_a_truncated_checkpoint_gets_no_unsafe_advice(tmp_path, state):
    torch.save({'params': state}, tmp_path / 'full.pth')
    data = (tmp_path / 'full.pth').read_bytes()
    (tmp_path / 'cut.pth').write_bytes(data[:len(data) // 2])
    with pytest.raises(CheckpointError, match=r"cut.pth'.*truncated or corrupt") as info:
        read_checkpoint(tmp_path / 'cut.pth')
    assert 'weights_only' not in str(info.value)
