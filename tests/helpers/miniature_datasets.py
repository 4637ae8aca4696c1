"""Miniature copies of the restoration datasets, laid out exactly as their archives unpack (real folder and file
names, list-file quirks, ``.mat`` variable names and axis orders), with small images so tests run fast.

Each ``make_<dataset>(root)`` writes under ``root`` and returns the folder to pass as ``mprnet-prep <dataset> --src``.
Images are deterministic (seeded); every degraded image differs from its clean partner, and GoPro's ``blur_gamma``
differs from ``blur``, so tests can tell which file ended up where. Counts are far below the published ones, so
preparing a miniature raises ``CountMismatchWarning`` (and fails with ``strict``).
"""
from __future__ import annotations

from pathlib import Path
from typing import Dict, List, Sequence, Tuple

import cv2
import numpy as np

# GoPro scenes and the frame number each miniature scene starts at (real numbering does not always start at 1).
GOPRO_TRAIN_SCENES = {'GOPR0372_07_00': 47, 'GOPR0374_11_01': 1}
GOPRO_TEST_SCENES = {'GOPR0384_11_00': 1, 'GOPR0862_11_00': 12}
GOPRO_FRAMES = 2
GOPRO_SIZE = (48, 80)  # H, W; with crop 32 / step 16 the grid is 2 x 4 = 8 crops, like 1280x720 with 512 / 256

HIDE_TRAIN = ['1fromGOPR0950.png', '23fromGOPR1029.MP4.png']
HIDE_CLOSE_UPS = ['1fromGOPR1096.MP4.png', '34fromGOPR1085.MP4.png', '5fromGOPR0975.png']
HIDE_LONG_SHOTS = ['110fromGOPR1087.MP4.png', '7fromGOPR0956.png']
HIDE_SIZE = (40, 64)

REALBLUR_J_DIR = 'RealBlur-J_ECC_IMCORR_centroid_itensity_ref'
REALBLUR_R_DIR = 'RealBlur-R_BM3D_ECC_IMCORR_centroid_itensity_ref'
# (scene, image index) of each miniature pair, per split; sizes vary and are not multiples of 8.
REALBLUR_TRAIN = [('scene001', 1), ('scene001', 12), ('scene024', 3)]
REALBLUR_TEST = [('scene183', 7), ('scene183', 10), ('scene190', 2)]

RAIN13K_TRAIN = ['1.jpg', '2.jpg', 'norain-10.png', '1000.jpg']
RAIN_TEST_SETS = {
    'Rain100H': ['norain-1.png', 'norain-2.png'],
    'Rain100L': ['1.png', '2.png'],
    'Test100': ['1.jpg', '2.png'],
    'Test1200': ['1.jpg', '2.jpg'],
    'Test2800': ['926_10.jpg', '926_10(1).jpg', '927_1.jpg'],  # 926_10(1) is the known duplicate to drop
}
RAIN_SIZE = (36, 52)

SIDD_SCENES = ['0001_001_S6_00100_00060_3200_L', '0002_001_S6_00100_00020_3200_N']
SIDD_SIZE = (40, 56)  # with crop 16 / step 12: 3 x 5 = 15 crops per image
SIDD_BLOCK = 8  # the real validation blocks are 256 x 256
SIDD_VAL_SHAPE = (40, 32, SIDD_BLOCK, SIDD_BLOCK, 3)  # images x blocks x H x W x RGB, as in the real files

DND_IMAGES = 50
DND_CROPS = 20
DND_SIZE = (48, 64)
DND_CROP = 16  # the real crops are 512 x 512


def _pattern(rng: np.random.Generator, h: int, w: int, dtype=np.uint8) -> np.ndarray:
    """A smooth colour image with some texture (BGR), so PNG/JPEG round trips and crops are meaningful."""
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    phase = rng.uniform(0, 2 * np.pi, size=3)
    freq = rng.uniform(0.05, 0.3, size=3)
    chans = [0.5 + 0.4 * np.sin(freq[c] * xx + phase[c]) * np.cos(0.7 * freq[c] * yy) for c in range(3)]
    img = np.stack(chans, -1) + rng.normal(0, 0.03, size=(h, w, 3))
    peak = np.iinfo(dtype).max
    return np.clip(img * peak, 0, peak).round().astype(dtype)


def _degrade(rng: np.random.Generator, img: np.ndarray, strength: float = 1.0) -> np.ndarray:
    """A blurred, noisy copy of ``img`` of the same shape and dtype."""
    peak = np.iinfo(img.dtype).max
    out = cv2.GaussianBlur(img.astype(np.float32), (5, 5), 1.2 * strength)
    out += rng.normal(0, 0.02 * peak * strength, size=img.shape)
    return np.clip(out, 0, peak).round().astype(img.dtype)


def _write(path: Path, img: np.ndarray) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    ext = path.suffix.lower()
    params = [cv2.IMWRITE_JPEG_QUALITY, 95] if ext in ('.jpg', '.jpeg') else []
    ok, buf = cv2.imencode(ext, img, params)
    assert ok, path
    path.write_bytes(buf.tobytes())


def make_gopro(root: Path, size: Tuple[int, int] = GOPRO_SIZE, frames: int = GOPRO_FRAMES) -> Path:
    """``GOPRO_Large/{train,test}/<scene>/{blur,blur_gamma,sharp}/NNNNNN.png``; returns ``root/GOPRO_Large``."""
    base = Path(root) / 'GOPRO_Large'
    rng = np.random.default_rng(1)
    for split, scenes in (('train', GOPRO_TRAIN_SCENES), ('test', GOPRO_TEST_SCENES)):
        for scene, first in scenes.items():
            for n in range(first, first + frames):
                sharp = _pattern(rng, *size)
                for folder, img in (('sharp', sharp), ('blur', _degrade(rng, sharp)),
                                    ('blur_gamma', _degrade(rng, sharp, 1.5))):
                    _write(base / split / scene / folder / f'{n:06d}.png', img)
    return base


def gopro_keys(split: str) -> List[str]:
    """The keys ``mprnet-prep gopro`` gives the miniature's full-size images of ``split``."""
    scenes = GOPRO_TRAIN_SCENES if split == 'train' else GOPRO_TEST_SCENES
    return sorted(f'{s}-{n:06d}' for s, first in scenes.items() for n in range(first, first + GOPRO_FRAMES))


def make_hide(root: Path, size: Tuple[int, int] = HIDE_SIZE) -> Path:
    """``HIDE_dataset/{train,test/test-close-ups,test/test-long-shot,GT}`` with list files; returns the folder."""
    base = Path(root) / 'HIDE_dataset'
    rng = np.random.default_rng(2)
    for folder, names in (('train', HIDE_TRAIN), ('test/test-close-ups', HIDE_CLOSE_UPS),
                          ('test/test-long-shot', HIDE_LONG_SHOTS)):
        for name in names:
            sharp = _pattern(rng, *size)
            _write(base / 'GT' / name, sharp)
            _write(base / folder / name, _degrade(rng, sharp))
    (base / 'train.txt').write_text(''.join(f'{n}\n' for n in HIDE_TRAIN))
    (base / 'test.txt').write_text(''.join(f'{n}\n' for n in HIDE_CLOSE_UPS + HIDE_LONG_SHOTS))
    (base / 'test' / 'near.txt').write_text(''.join(f'{n}\n' for n in HIDE_CLOSE_UPS))
    (base / 'test' / 'far.txt').write_text(''.join(f'{n}\n' for n in HIDE_LONG_SHOTS))
    return base


def hide_key(name: str) -> str:
    """The key of a HIDE file name: no extension, '.' replaced by '_' (``110fromGOPR1087_MP4``)."""
    return name[:-len('.png')].replace('.', '_')


def make_realblur(root: Path, dtype=np.uint8) -> Path:
    """``RealBlur/`` holding the J and R folders ``sceneNNN/{blur,gt}/{blur,gt}_<i>.png`` and the four list files
    (gt first, trailing space on every line, no final newline, lines unsorted); returns the folder."""
    base = Path(root) / 'RealBlur'
    rng = np.random.default_rng(3)
    for variant, folder in (('J', REALBLUR_J_DIR), ('R', REALBLUR_R_DIR)):
        for split, items in (('train', REALBLUR_TRAIN), ('test', REALBLUR_TEST)):
            lines = []
            for scene, i in items:
                h, w = 33 + int(rng.integers(0, 20)), 45 + int(rng.integers(0, 20))
                if h % 8 == 0:
                    h += 1
                gt = _pattern(rng, h, w, dtype)
                gt_rel = f'{folder}/{scene}/gt/gt_{i}.png'
                blur_rel = f'{folder}/{scene}/blur/blur_{i}.png'
                _write(base / gt_rel, gt)
                _write(base / blur_rel, _degrade(rng, gt))
                lines.append(f'{gt_rel} {blur_rel} ')
            lines = lines[1:] + lines[:1]  # not sorted, as in the real lists
            (base / f'RealBlur_{variant}_{split}_list.txt').write_text('\n'.join(lines))  # no final newline
    return base


def realblur_keys(split: str) -> List[str]:
    """The keys ``mprnet-prep realblur-j/-r`` gives the miniature's pairs of ``split``."""
    return sorted(f'{s}_{i}' for s, i in (REALBLUR_TRAIN if split == 'train' else REALBLUR_TEST))


def make_rain13k(root: Path, size: Tuple[int, int] = RAIN_SIZE) -> Path:
    """``Datasets/train/Rain13K/{input,target}`` and ``Datasets/test/<Set>/{input,target}`` (JPEG and PNG mixed,
    Test2800 with the ``926_10(1).jpg`` duplicate); returns ``root/Datasets``."""
    base = Path(root) / 'Datasets'
    rng = np.random.default_rng(4)
    sets: Dict[str, Sequence[str]] = {'train/Rain13K': RAIN13K_TRAIN}
    sets.update({f'test/{name}': files for name, files in RAIN_TEST_SETS.items()})
    for folder, names in sets.items():
        for name in names:
            clean = _pattern(rng, *size)
            _write(base / folder / 'target' / name, clean)
            _write(base / folder / 'input' / name, _degrade(rng, clean))
    return base


def make_sidd(root: Path, size: Tuple[int, int] = SIDD_SIZE) -> Path:
    """``SIDD/`` holding ``SIDD_Medium_Srgb/Data/<scene>/<id>_{GT,NOISY}_SRGB_{010,011}.PNG`` and the validation files
    ``Validation{Noisy,Gt}BlocksSrgb.mat`` (uint8, images x blocks x H x W x RGB); returns the folder."""
    from scipy.io import savemat
    base = Path(root) / 'SIDD'
    rng = np.random.default_rng(5)
    for scene in SIDD_SCENES:
        sid = scene[:4]
        for shot in ('010', '011'):
            gt = _pattern(rng, *size)
            _write(base / 'SIDD_Medium_Srgb' / 'Data' / scene / f'{sid}_GT_SRGB_{shot}.PNG', gt)
            _write(base / 'SIDD_Medium_Srgb' / 'Data' / scene / f'{sid}_NOISY_SRGB_{shot}.PNG', _degrade(rng, gt))
    gt_blocks = rng.integers(0, 256, size=SIDD_VAL_SHAPE, dtype=np.uint8)
    noise = rng.integers(-20, 21, size=SIDD_VAL_SHAPE)
    noisy_blocks = np.clip(gt_blocks.astype(np.int16) + noise, 0, 255).astype(np.uint8)
    savemat(base / 'ValidationGtBlocksSrgb.mat', {'ValidationGtBlocksSrgb': gt_blocks})
    savemat(base / 'ValidationNoisyBlocksSrgb.mat', {'ValidationNoisyBlocksSrgb': noisy_blocks})
    return base


def sidd_train_keys(crops_per_image: int) -> List[str]:
    """The crop keys ``mprnet-prep sidd`` gives the miniature's training images."""
    return sorted(f'{s[:4]}_SRGB_{shot}_s{i:03d}' for s in SIDD_SCENES for shot in ('010', '011')
                  for i in range(1, crops_per_image + 1))


def _matlab_v73(path: Path):
    """An HDF5 file with MATLAB's 512-byte v7.3 header, as ``save -v7.3`` writes it."""
    import h5py
    f = h5py.File(path, 'w', userblock_size=512)
    f.close()
    header = b'MATLAB 7.3 MAT-file, Platform: GLNXA64, Created on: Mon Jan  1 00:00:00 2018 HDF5 schema 1.00 .'
    with open(path, 'r+b') as fh:
        fh.write(header.ljust(116, b' ') + b'\x00' * 8 + b'\x00\x02IM')
    return h5py.File(path, 'a')


def make_dnd(root: Path, n_images: int = DND_IMAGES, size: Tuple[int, int] = DND_SIZE, crop: int = DND_CROP) -> Path:
    """``dnd_2017/`` with ``info.mat`` (``info.boundingboxes``: a cell of (20, 4) 1-based inclusive boxes) and
    ``images_srgb/%04d.mat`` (``InoisySRGB``, float32 H x W x 3), all MATLAB v7.3 with MATLAB's axis order (HDF5
    stores the transpose); returns the folder."""
    base = Path(root) / 'dnd_2017'
    (base / 'images_srgb').mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(6)
    h, w = size
    with _matlab_v73(base / 'info.mat') as info_file:
        refs_group = info_file.create_group('#refs#')
        import h5py
        refs = np.empty((1, n_images), dtype=h5py.ref_dtype)  # a 50 x 1 MATLAB cell reads back as (1, 50)
        for i in range(n_images):
            ys = rng.integers(0, h - crop + 1, size=DND_CROPS)
            xs = rng.integers(0, w - crop + 1, size=DND_CROPS)
            boxes = np.stack([ys + 1, xs + 1, ys + crop, xs + crop], 1).astype(np.float64)  # (20, 4) in MATLAB
            refs[0, i] = refs_group.create_dataset(f'b{i}', data=boxes.T).ref
        info_file.create_group('info').create_dataset('boundingboxes', data=refs)
    for i in range(n_images):
        img = _pattern(rng, h, w, np.uint16).astype(np.float32) / 65535.0  # RGB order, like the real files
        with _matlab_v73(base / 'images_srgb' / f'{i + 1:04d}.mat') as f:
            f.create_dataset('InoisySRGB', data=img.T)  # MATLAB H x W x 3 is stored as 3 x W x H
    return base


def dnd_ground_truth_crops(base: Path) -> Dict[str, np.ndarray]:
    """Key ``%04d_%02d`` -> float32 RGB crop, read straight from the miniature's files (for checking readers)."""
    import h5py
    out = {}
    with h5py.File(base / 'info.mat', 'r') as info_file:
        refs = np.asarray(info_file['info']['boundingboxes']).reshape(-1)
        for i, ref in enumerate(refs):
            boxes = np.asarray(info_file[ref]).T
            with h5py.File(base / 'images_srgb' / f'{i + 1:04d}.mat', 'r') as f:
                img = np.asarray(f['InoisySRGB']).T
            for k, (y0, x0, y1, x1) in enumerate(boxes.astype(int)):
                out[f'{i + 1:04d}_{k + 1:02d}'] = img[y0 - 1:y1, x0 - 1:x1].astype(np.float32)
    return out
