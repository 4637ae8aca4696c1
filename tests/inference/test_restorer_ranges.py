"""``Restorer`` refuses float images outside [0, 1], naming the range found (and suggesting /255 for 0-255 floats);
uint8 and uint16 images are scaled by their type as before; mprnet-infer names the file and goes on."""
import cv2
import numpy as np
import pytest
import torch
from tests.helpers.settings import TINY_MPRNET

from mprnet_plugin.archs.mprnet_arch import MPRNet
from mprnet_plugin.cli import infer as infer_cli
from mprnet_plugin.inference import OutOfRangeError, Restorer


@pytest.fixture(scope='module')
def restorer():
    torch.manual_seed(0)
    return Restorer(MPRNet(**TINY_MPRNET).eval(), device='cpu')


def test_float_0_255_array_is_refused_with_the_hint(restorer):
    img = np.random.default_rng(0).uniform(0, 255, (16, 16, 3)).astype(np.float32)
    with pytest.raises(OutOfRangeError, match=r'the input image holds float values in \[0\.\d+, 25\d\.?\d*\]; '
                                              r'expected float values in \[0, 1\] \(0-255 values: divide by 255'):
        restorer(img)


def test_negative_floats_are_refused_without_the_hint(restorer):
    img = np.random.default_rng(0).uniform(-1, 1, (16, 16, 3)).astype(np.float32)
    with pytest.raises(OutOfRangeError, match=r'float values in \[-0\.9\d*, 0\.9\d*\]; expected') as info:
        restorer(img)
    assert 'divide by 255' not in str(info.value)


def test_float_tensors_are_checked_too(restorer):
    with pytest.raises(OutOfRangeError, match=r'the input holds float values in \[0, 255\]'):
        restorer(torch.linspace(0, 255, 3 * 16 * 16).reshape(3, 16, 16))
    with pytest.raises(OutOfRangeError, match='input image 1 holds'):
        restorer.restore_arrays([np.zeros((8, 8, 3), np.float32), np.full((8, 8, 3), 2.0, np.float32)])


@pytest.mark.parametrize('dtype, peak', [(np.uint8, 255), (np.uint16, 65535)])
def test_integer_images_are_unchanged(restorer, dtype, peak):
    img = np.random.default_rng(1).integers(0, peak, (16, 16, 3), endpoint=True).astype(dtype)
    out = restorer(img)
    assert out.dtype == dtype and out.shape == img.shape
    as_float = restorer(img.astype(np.float32) / peak)  # the same image as floats in [0, 1]
    np.testing.assert_allclose(out.astype(np.float64) / peak, as_float, atol=1.0 / peak + 1e-6)


def test_floats_a_hair_outside_the_range_still_restore(restorer):
    img = np.clip(np.random.default_rng(2).uniform(0, 1, (16, 16, 3)), 0, 1).astype(np.float32)
    img[0, 0, 0], img[0, 1, 0] = -1e-4, 1 + 1e-4  # resampling overshoot
    assert restorer(img).shape == img.shape


def test_mprnet_infer_names_a_float_tiff_in_0_255(tmp_path, capsys):
    torch.save({'params': MPRNet(**TINY_MPRNET).state_dict()}, tmp_path / 'w.pth')
    (tmp_path / 'in').mkdir()
    cv2.imwrite(str(tmp_path / 'in' / 'hdr.tif'), np.full((16, 16, 3), 200.0, np.float32))
    cv2.imwrite(str(tmp_path / 'in' / 'fine.png'), np.full((16, 16, 3), 200, np.uint8))
    code = infer_cli.main(['--weights', str(tmp_path / 'w.pth'), '--input', str(tmp_path / 'in'),
                           '--output', str(tmp_path / 'out'), '--device', 'cpu'])
    out = capsys.readouterr()
    text = out.out + out.err
    assert code != 0 and 'hdr.tif' in text and 'expected float values in [0, 1]' in text
    assert (tmp_path / 'out' / 'fine.png').is_file() and not list((tmp_path / 'out').glob('hdr*'))
