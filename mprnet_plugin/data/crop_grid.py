"""The crop grid used to cut training images into fixed-size sub-images (GoPro 512/256, SIDD 512/384)."""
from __future__ import annotations

from typing import List, Tuple


def crop_starts(length: int, crop_size: int, step: int) -> List[int]:
    """Start offsets along one axis: ``range(0, length - crop_size + 1, step)`` plus ``length - crop_size`` if missing.

    The last crop is flush with the border, so every pixel is covered and no crop is padded.
    """
    if crop_size <= 0 or step <= 0:
        raise ValueError(f'crop size and step must be positive, got crop size {crop_size} and step {step}')
    if length < crop_size:
        raise ValueError(f'image side {length} is smaller than the crop size {crop_size}')
    starts = list(range(0, length - crop_size + 1, step))
    if starts[-1] != length - crop_size:
        starts.append(length - crop_size)
    return starts


def crop_boxes(height: int, width: int, crop_size: int, step: int) -> List[Tuple[int, int]]:
    """Top-left corners (y, x) of the square crops of an image, row-major (crop ``i`` is named ``_s{i+1:03d}``)."""
    try:
        rows, cols = crop_starts(height, crop_size, step), crop_starts(width, crop_size, step)
    except ValueError as err:
        raise ValueError(f'cannot cut {crop_size}x{crop_size} crops from a {height}x{width} (HxW) image: {err}') \
            from None
    return [(y, x) for y in rows for x in cols]
