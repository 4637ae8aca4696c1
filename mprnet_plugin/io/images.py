"""Image reading, decoding, encoding and writing: files, and the encoded images LMDBs hold.

Arrays follow OpenCV and BasicSR: H x W x C in BGR(A) order (H x W for grayscale), uint8 or uint16, as stored.
``array_to_tensor`` / ``tensor_to_array`` convert between such arrays and the model's (1, 3, H, W) RGB float input,
keeping what the model does not see (bit depth, grayscale, alpha) so the result is stored like its source.
"""
from __future__ import annotations

import io
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Optional, Sequence, Tuple, Union

import cv2
import numpy as np
import torch

from mprnet_plugin.io.atomic import atomic_write_bytes

PathLike = Union[str, os.PathLike]
IMAGE_EXTENSIONS = ('.png', '.jpg', '.jpeg', '.bmp', '.tif', '.tiff', '.webp')


class ImageReadError(IOError):
    """An image file that is missing, unreadable or not an image."""


def is_image_file(path: PathLike) -> bool:
    """True for file names with a known image extension (any case)."""
    return os.fspath(path).lower().endswith(IMAGE_EXTENSIONS)


def read_image(path: PathLike, flags: int = cv2.IMREAD_UNCHANGED, orient: bool = False) -> np.ndarray:
    """Read an image as stored (bit depth and channels kept, BGR order); errors name the file.

    With ``orient`` the EXIF orientation is applied, so the array is upright as a viewer shows it.
    """
    path = os.fspath(path)
    if not os.path.isfile(path):
        raise ImageReadError(f'image {path!r} does not exist')
    buf = np.fromfile(path, dtype=np.uint8)  # works with non-ASCII paths, unlike cv2.imread
    try:
        img = cv2.imdecode(buf, flags) if buf.size else None
    except cv2.error as exc:  # e.g. a header claiming more pixels than OpenCV's limit
        reason = ('its header claims more pixels than OpenCV decodes (OPENCV_IO_MAX_IMAGE_PIXELS)'
                  if 'MAX_IMAGE_PIXELS' in str(exc) else ' '.join(str(exc).split())[-160:])
        raise ImageReadError(f'cannot decode image {path!r} ({buf.size} bytes): {reason}') from None
    if img is None:
        raise ImageReadError(f'cannot decode image {path!r} ({buf.size} bytes): corrupt or not an image')
    return _orient_decoded(img, buf) if orient else img


def decode_image(data: Optional[bytes], what: str, flags: int = cv2.IMREAD_UNCHANGED) -> np.ndarray:
    """Decode the bytes of an image file (say an LMDB value) as stored, BGR; errors name ``what``."""
    buf = np.frombuffer(data or b'', dtype=np.uint8)
    img = cv2.imdecode(buf, flags) if buf.size else None
    if img is None:
        raise ImageReadError(f'cannot decode {what} ({buf.size} bytes): missing, corrupt or not an image')
    return img


def encode_image(img: np.ndarray, ext: str = '.png', params: Optional[Sequence[int]] = None) -> bytes:
    """Encode an array (as ``read_image`` returns it) to the bytes of an image file of type ``ext``."""
    ok, buf = cv2.imencode(ext, img, list(params or []))
    if not ok:
        raise ValueError(f'cannot encode an array of shape {img.shape} and dtype {img.dtype} as {ext}')
    return buf.tobytes()


def write_image(path: PathLike, img: np.ndarray, params: Optional[Sequence[int]] = None) -> None:
    """Write an image atomically (temporary name, then rename), creating folders; the type follows the suffix."""
    atomic_write_bytes(path, encode_image(img, Path(path).suffix or '.png', params))


# ---------------------------------------------------------------------------------------------------------------------
# EXIF orientation

EXIF_ORIENTATION_TAG = 0x0112


def exif_orientation(data: bytes) -> int:
    """The EXIF orientation (1-8) stored in an encoded image, or 1 when there is none or it cannot be read."""
    try:
        from PIL import Image  # torchvision depends on Pillow; it is only needed for this tag
        with Image.open(io.BytesIO(data)) as pil:
            value = pil.getexif().get(EXIF_ORIENTATION_TAG, 1)
    except Exception:  # a file Pillow cannot parse has no orientation we could honour
        return 1
    return int(value) if value in range(1, 9) else 1


def apply_exif_orientation(img: np.ndarray, orientation: int) -> np.ndarray:
    """Turn an array stored with EXIF ``orientation`` upright (as a viewer shows it)."""
    if orientation == 2:
        img = img[:, ::-1]
    elif orientation == 3:
        img = img[::-1, ::-1]
    elif orientation == 4:
        img = img[::-1]
    elif orientation == 5:
        img = np.swapaxes(img, 0, 1)
    elif orientation == 6:
        img = np.swapaxes(img, 0, 1)[:, ::-1]
    elif orientation == 7:
        img = np.swapaxes(img, 0, 1)[::-1, ::-1]
    elif orientation == 8:
        img = np.swapaxes(img, 0, 1)[::-1]
    return np.ascontiguousarray(img)


def _orient_decoded(img: np.ndarray, buf: np.ndarray) -> np.ndarray:
    """Apply the file's EXIF orientation to an IMREAD_UNCHANGED decode, unless the decoder already did."""
    orientation = exif_orientation(buf.tobytes())
    if orientation == 1:
        return img
    # OpenCV's TIFF decoder orients even with IMREAD_UNCHANGED, the others do not: compare with a decode that is
    # always oriented (it drops alpha, so compare the colour channels only).
    oriented = cv2.imdecode(buf, cv2.IMREAD_ANYDEPTH | cv2.IMREAD_ANYCOLOR)
    colour = img[..., :3] if img.ndim == 3 and img.shape[2] == 4 else img
    if oriented is not None and oriented.shape == colour.shape and np.array_equal(oriented, colour):
        return img
    return apply_exif_orientation(img, orientation)


# ---------------------------------------------------------------------------------------------------------------------
# Bit depth and output format

# Formats that store 16-bit integers, and those that store 32-bit floats, as OpenCV writes them.
SIXTEEN_BIT_EXTENSIONS = ('.png', '.tif', '.tiff')
FLOAT_EXTENSIONS = ('.tif', '.tiff')
# Lossy inputs are written as PNG by default: re-encoding a restored image lossily would undo part of the work.
LOSSY_EXTENSIONS = ('.jpg', '.jpeg', '.webp')


def dtype_peak(dtype: np.dtype) -> float:
    """The value of full intensity for an image dtype: 255 (uint8), 65535 (uint16), 1.0 (floats)."""
    dtype = np.dtype(dtype)
    if dtype == np.uint8:
        return 255.0
    if dtype == np.uint16:
        return 65535.0
    if dtype.kind == 'f':
        return 1.0
    raise ValueError(f'unsupported image dtype {dtype}; expected uint8, uint16 or a float type with values in [0, 1]')


def quantize(values: np.ndarray, dtype: np.dtype) -> np.ndarray:
    """Float values in [0, 1] as ``dtype``: clipped, then scaled and rounded (half to even) for integer types."""
    dtype = np.dtype(dtype)
    values = np.clip(values, 0.0, 1.0)
    if dtype.kind == 'f':
        return values.astype(dtype)
    return np.rint(values * dtype_peak(dtype)).astype(dtype)


def output_extension(input_path: PathLike, requested: Optional[str] = None) -> str:
    """The file type to write a restored image as: ``requested``, else the input's, except lossy inputs give PNG."""
    if requested:
        ext = requested.lower() if requested.startswith('.') else '.' + requested.lower()
        if ext not in IMAGE_EXTENSIONS:
            raise ValueError(f'output format {requested!r} is not supported; expected one of {list(IMAGE_EXTENSIONS)}')
        return ext
    ext = Path(input_path).suffix.lower()
    return '.png' if ext in LOSSY_EXTENSIONS or ext not in IMAGE_EXTENSIONS else ext


def storable_array(img: np.ndarray, ext: str) -> np.ndarray:
    """Convert ``img`` to the deepest bit depth that files of type ``ext`` hold (16-bit PNG/TIFF, float TIFF)."""
    ext = ext.lower()
    if img.dtype == np.uint8:
        return img
    if img.dtype.kind == 'f':
        if ext in FLOAT_EXTENSIONS:
            return img.astype(np.float32)
        return quantize(img, np.uint16 if ext in SIXTEEN_BIT_EXTENSIONS else np.uint8)
    if img.dtype == np.uint16 and ext in SIXTEEN_BIT_EXTENSIONS:
        return img
    return quantize(img.astype(np.float32) / dtype_peak(img.dtype), np.uint8)


# ---------------------------------------------------------------------------------------------------------------------
# Stored arrays <-> model tensors


@dataclass(frozen=True)
class ImageLayout:
    """How a stored array was laid out, so a restored image can be stored the same way.

    ``alpha`` is the stored alpha channel, carried through untouched; ``channels`` is 0 for an H x W array.
    """

    dtype: np.dtype
    channels: int
    gray: bool
    bgr: bool
    alpha: Optional[np.ndarray] = field(default=None, repr=False)


def to_model_channels(x: torch.Tensor) -> Tuple[torch.Tensor, Optional[torch.Tensor], bool]:
    """Split an (N, C, H, W) RGB-ordered image batch, C in 1-4 (gray, gray+alpha, RGB, RGBA), into the (N, 3, H, W)
    colour the model takes (gray repeated), the alpha plane or None, and whether it was gray."""
    if x.dim() != 4 or x.shape[1] not in (1, 2, 3, 4):
        raise ValueError(f'expected an (N, C, H, W) image batch with C in 1-4; got shape {tuple(x.shape)}')
    channels = x.shape[1]
    alpha = x[:, -1:] if channels in (2, 4) else None
    gray = channels < 3
    colour = x[:, :1].expand(-1, 3, -1, -1) if gray else x[:, :3]
    return colour, alpha, gray


def from_model_channels(rgb: torch.Tensor, alpha: Optional[torch.Tensor], gray: bool) -> torch.Tensor:
    """The inverse of ``to_model_channels``: gray as the mean of the three output planes, alpha appended."""
    out = rgb.mean(1, keepdim=True) if gray else rgb  # the mean inverts repeating one plane three times
    return out if alpha is None else torch.cat([out, alpha.to(out.dtype)], dim=1)


def array_to_tensor(img: np.ndarray, bgr: bool = True) -> Tuple[torch.Tensor, ImageLayout]:
    """A stored H x W (x C) array as a (1, 3, H, W) float32 RGB tensor in [0, 1], and the layout to store it back.

    Grayscale (1 channel, or 2 with alpha) is repeated to RGB; an alpha channel is set aside. ``bgr`` says the colour
    channels are in OpenCV's order (as ``read_image`` returns them) rather than RGB.
    """
    if img.ndim not in (2, 3) or (img.ndim == 3 and img.shape[2] not in (1, 2, 3, 4)):
        raise ValueError(f'expected an H x W or H x W x C image with C in 1-4; got an array of shape {img.shape}')
    peak = dtype_peak(img.dtype)
    channels = 0 if img.ndim == 2 else img.shape[2]
    planes = img[..., None] if img.ndim == 2 else img
    alpha = planes[..., -1:].copy() if planes.shape[2] in (2, 4) else None
    colour = planes[..., :3] if planes.shape[2] >= 3 else planes[..., :1]
    if colour.shape[2] == 3 and bgr:
        colour = colour[..., ::-1]
    tensor = torch.from_numpy(np.ascontiguousarray(colour, dtype=np.float32)).permute(2, 0, 1)[None]
    if peak != 1.0:
        tensor = tensor / peak
    # Alpha stays in the layout as stored, so it comes back bit for bit; only the colour goes through the model.
    tensor, _, gray = to_model_channels(tensor)
    return tensor.contiguous(), ImageLayout(img.dtype, channels, gray, bgr, alpha)


def tensor_to_array(tensor: torch.Tensor, layout: ImageLayout) -> np.ndarray:
    """A (1, 3, H, W) or (3, H, W) RGB result in [0, 1], stored as ``layout`` says (dtype, gray, order, alpha)."""
    if tensor.dim() == 4:
        if tensor.shape[0] != 1:
            raise ValueError(f'expected one image; got a batch of shape {tuple(tensor.shape)}')
        tensor = tensor[0]
    values = from_model_channels(tensor.detach().float().cpu().clamp(0, 1)[None], None, layout.gray)[0]
    if layout.bgr and not layout.gray:
        values = values.flip(0)
    out = quantize(values.permute(1, 2, 0).numpy(), layout.dtype)
    if layout.alpha is not None:
        out = np.concatenate([out, layout.alpha.astype(layout.dtype, copy=False)], axis=2)
    return out[..., 0] if layout.channels == 0 else out
