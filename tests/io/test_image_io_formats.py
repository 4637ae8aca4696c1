"""Image files and their conversion to model tensors: bit depth, grayscale, alpha, EXIF orientation, output types."""
import io

import cv2
import numpy as np
import pytest
import torch
from PIL import Image, ImageOps

from mprnet_plugin.io.images import (ImageLayout, ImageReadError, apply_exif_orientation, array_to_tensor,
                                    exif_orientation, output_extension, quantize, read_image, storable_array,
                                    tensor_to_array, write_image)


def asymmetric_rgb(height: int = 12, width: int = 20) -> np.ndarray:
    rng = np.random.default_rng(0)
    return rng.integers(0, 256, (height, width, 3), dtype=np.uint8)


def encoded_with_orientation(rgb: np.ndarray, fmt: str, orientation: int) -> bytes:
    pil = Image.fromarray(rgb)
    exif = pil.getexif()
    exif[0x0112] = orientation
    buf = io.BytesIO()
    pil.save(buf, fmt, exif=exif.tobytes(), quality=100)
    return buf.getvalue()


@pytest.mark.parametrize('fmt,ext', [('PNG', '.png'), ('TIFF', '.tif'), ('JPEG', '.jpg')])
def test_exif_orientation_matches_pillow_for_all_eight(tmp_path, fmt, ext):
    rgb = asymmetric_rgb()
    for orientation in range(1, 9):
        data = encoded_with_orientation(rgb, fmt, orientation)
        path = tmp_path / f'o{orientation}{ext}'
        path.write_bytes(data)
        assert exif_orientation(data) == orientation
        expected = np.asarray(ImageOps.exif_transpose(Image.open(io.BytesIO(data))).convert('RGB'))[..., ::-1]
        got = read_image(path, orient=True)
        assert got.shape == expected.shape, (fmt, orientation)
        tolerance = 3 if fmt == 'JPEG' else 0  # two JPEG decoders may round differently
        assert np.abs(got.astype(int) - expected.astype(int)).max() <= tolerance, (fmt, orientation)
        # Without ``orient`` the array is as stored (OpenCV's TIFF decoder orients by itself, the others do not).
        if fmt != 'TIFF':
            assert read_image(path).shape[:2] == rgb.shape[:2]


def test_apply_exif_orientation_keeps_extra_channels():
    rgba = np.arange(2 * 3 * 4, dtype=np.uint16).reshape(2, 3, 4)
    assert apply_exif_orientation(rgba, 6).shape == (3, 2, 4)
    assert np.array_equal(apply_exif_orientation(apply_exif_orientation(rgba, 6), 8), rgba)
    assert np.array_equal(apply_exif_orientation(rgba, 1), rgba)


def test_read_image_keeps_its_stored_form_and_names_bad_files(tmp_path):
    img16 = np.random.default_rng(1).integers(0, 65536, (9, 7, 3), dtype=np.uint16)
    write_image(tmp_path / 'a.png', img16)
    back = read_image(tmp_path / 'a.png')
    assert back.dtype == np.uint16 and np.array_equal(back, img16)
    (tmp_path / 'bad.png').write_bytes(b'\x89PNG broken')
    with pytest.raises(ImageReadError, match='bad.png'):
        read_image(tmp_path / 'bad.png')
    with pytest.raises(ImageReadError, match='missing.png'):
        read_image(tmp_path / 'missing.png')


@pytest.mark.parametrize('shape,dtype', [((5, 6, 3), np.uint8), ((5, 6, 3), np.uint16), ((5, 6), np.uint8),
                                         ((5, 6, 1), np.uint16), ((5, 6, 4), np.uint8), ((5, 6, 2), np.uint16),
                                         ((5, 6, 3), np.float32)])
def test_array_tensor_round_trip_is_exact(shape, dtype):
    rng = np.random.default_rng(2)
    img = rng.random(shape).astype(dtype) if dtype == np.float32 else \
        rng.integers(0, np.iinfo(dtype).max + 1, shape).astype(dtype)
    tensor, layout = array_to_tensor(img, bgr=True)
    assert tensor.shape == (1, 3, 5, 6) and tensor.dtype == torch.float32
    assert 0 <= tensor.min() and tensor.max() <= 1
    back = tensor_to_array(tensor, layout)
    assert back.shape == img.shape and back.dtype == img.dtype
    np.testing.assert_allclose(back, img, atol=1e-6 if dtype == np.float32 else 0)


def test_channel_order_gray_and_alpha_handling():
    bgra = np.zeros((2, 2, 4), np.uint8)
    bgra[..., 0], bgra[..., 2], bgra[..., 3] = 10, 200, 77
    tensor, layout = array_to_tensor(bgra, bgr=True)
    assert tensor[0, 0, 0, 0] == pytest.approx(200 / 255) and tensor[0, 2, 0, 0] == pytest.approx(10 / 255)
    assert layout.alpha is not None and (layout.alpha == 77).all()
    # The model's result replaces the colour; the alpha plane comes back bit for bit.
    out = tensor_to_array(torch.full((1, 3, 2, 2), 0.5), layout)
    assert out.shape == (2, 2, 4) and (out[..., :3] == 128).all() and (out[..., 3] == 77).all()
    gray, layout = array_to_tensor(np.full((3, 3), 40, np.uint8))
    assert layout.gray and torch.equal(gray[:, 0], gray[:, 2])
    rgb_result = torch.stack([torch.full((3, 3), v) for v in (0.1, 0.2, 0.3)])[None]
    assert tensor_to_array(rgb_result, layout).shape == (3, 3)
    assert (tensor_to_array(rgb_result, layout) == 51).all()  # the mean of the three planes


def test_bad_arrays_are_rejected_with_their_shape():
    with pytest.raises(ValueError, match=r'\(2, 2, 5\)'):
        array_to_tensor(np.zeros((2, 2, 5), np.uint8))
    with pytest.raises(ValueError, match='int32'):
        array_to_tensor(np.zeros((2, 2, 3), np.int32))


def test_output_types_and_storable_depths():
    assert output_extension('a/b.JPG') == '.png' and output_extension('x.webp') == '.png'
    assert output_extension('x.tiff') == '.tiff' and output_extension('x.png', 'tif') == '.tif'
    with pytest.raises(ValueError, match='gif'):
        output_extension('x.png', 'gif')
    img16 = np.array([[0, 257, 65535]], np.uint16)
    assert storable_array(img16, '.png') is img16
    assert storable_array(img16, '.jpg').tolist() == [[0, 1, 255]]
    floats = np.array([[0.0, 0.5, 1.2]], np.float32)
    assert storable_array(floats, '.tif').dtype == np.float32
    assert storable_array(floats, '.png').tolist() == [[0, 32768, 65535]]
    assert quantize(np.array([0.5 / 255, 1.5 / 255]), np.uint8).tolist() == [0, 2]  # half to even


def test_sixteen_bit_tiff_and_png_with_alpha_round_trip_through_files(tmp_path):
    rng = np.random.default_rng(3)
    for name in ('a.tif', 'b.png'):
        img = rng.integers(0, 65536, (6, 5, 4), dtype=np.uint16)
        write_image(tmp_path / name, img)
        tensor, layout = array_to_tensor(read_image(tmp_path / name))
        write_image(tmp_path / f'out_{name}', tensor_to_array(tensor, layout))
        back = cv2.imdecode(np.fromfile(tmp_path / f'out_{name}', np.uint8), cv2.IMREAD_UNCHANGED)
        assert back.dtype == np.uint16 and np.array_equal(back, img)
    assert isinstance(layout, ImageLayout)
