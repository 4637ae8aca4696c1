"""Image reading, encoding and writing: the one place the package touches image files.

Arrays follow OpenCV and BasicSR: H x W x C in BGR(A) order (H x W for grayscale), uint8 or uint16, as stored.
"""
from __future__ import annotations

import os
from pathlib import Path
from typing import Optional, Sequence, Union

import cv2
import numpy as np

from mprnet_plugin.fileio import atomic_write_bytes

PathLike = Union[str, os.PathLike]
IMAGE_EXTENSIONS = ('.png', '.jpg', '.jpeg', '.bmp', '.tif', '.tiff', '.webp')


class ImageReadError(IOError):
    """An image file that is missing, unreadable or not an image."""


def is_image_file(path: PathLike) -> bool:
    """True for file names with a known image extension (any case)."""
    return os.fspath(path).lower().endswith(IMAGE_EXTENSIONS)


def read_image(path: PathLike, flags: int = cv2.IMREAD_UNCHANGED) -> np.ndarray:
    """Read an image as stored (bit depth and channels kept, BGR order); errors name the file."""
    path = os.fspath(path)
    if not os.path.isfile(path):
        raise ImageReadError(f'image {path!r} does not exist')
    buf = np.fromfile(path, dtype=np.uint8)  # works with non-ASCII paths, unlike cv2.imread
    img = cv2.imdecode(buf, flags) if buf.size else None
    if img is None:
        raise ImageReadError(f'cannot decode image {path!r} ({buf.size} bytes): corrupt or not an image')
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
