"""DND: the crops read from info.mat and images_srgb/*.mat through BasicSR, and the submission files."""
import numpy as np
import pytest
import torch
from scipy.io import loadmat

import mprnet_plugin  # noqa: F401  (first: installs the torchvision alias basicsr needs, registers DNDDataset)
from basicsr.data import build_dataloader, build_dataset
from mprnet_plugin.data.dnd_dataset import parse_dnd_key, read_dnd_boxes
from mprnet_plugin.data.dnd_submission import write_dnd_submission
from mprnet_plugin.data.pairing import CountMismatchError, CountMismatchWarning, DatasetLayoutError

from tests.helpers import miniature_datasets as mini


@pytest.fixture(scope='module')
def dnd_root(tmp_path_factory):
    return mini.make_dnd(tmp_path_factory.mktemp('dnd'))


def build_dnd(root, **extra):
    return build_dataset(dict(name='DND', type='DNDDataset', dataroot_lq=str(root), phase='test', **extra))


def test_dataset_yields_every_crop_with_its_key(dnd_root):
    ds = build_dnd(dnd_root)
    truth = mini.dnd_ground_truth_crops(dnd_root)
    assert len(ds) == 1000
    keys = [ds.index[i][0] for i in range(len(ds))]
    assert keys[:3] == ['0001_01', '0001_02', '0001_03'] and keys[-1] == '0050_20' and len(set(keys)) == 1000
    for i in (0, 2, 517, 999):
        item = ds[i]
        assert set(item) == {'lq', 'lq_path'}
        want = truth[item['lq_path']]
        assert item['lq'].dtype == torch.float32 and item['lq'].shape == (3, mini.DND_CROP, mini.DND_CROP)
        assert np.array_equal(item['lq'].numpy().transpose(1, 2, 0), want)  # RGB, exactly the stored floats
    loader = build_dataloader(ds, dict(phase='test'))
    batch = next(iter(loader))
    assert batch['lq'].shape == (1, 3, mini.DND_CROP, mini.DND_CROP) and batch['lq_path'] == ['0001_01']


def test_archive_folder_is_found_from_its_parent(dnd_root):
    assert dnd_root.name == 'dnd_2017'
    assert len(build_dnd(dnd_root.parent)) == 1000


def test_boxes_are_read_in_matlab_order(dnd_root):
    boxes = read_dnd_boxes(dnd_root)
    assert len(boxes) == 50 and boxes[0].shape == (20, 4)
    r0, c0, r1, c1 = boxes[0][0]
    assert r1 - r0 + 1 == c1 - c0 + 1 == mini.DND_CROP and r0 >= 1 and c0 >= 1


def test_partial_copy_warns_or_fails_when_strict(tmp_path):
    root = mini.make_dnd(tmp_path, n_images=3)
    with pytest.warns(CountMismatchWarning, match='expected 50 as published, found 3'):
        assert len(build_dnd(root)) == 60
    with pytest.raises(CountMismatchError):
        build_dnd(root, strict=True)


def test_missing_image_file_is_named(tmp_path):
    root = mini.make_dnd(tmp_path, n_images=2)
    (root / 'images_srgb' / '0002.mat').unlink()
    with pytest.warns(CountMismatchWarning), pytest.raises(DatasetLayoutError, match=r'images_srgb/0002\.mat'):
        build_dnd(root)
    (root / 'info.mat').unlink()
    with pytest.raises(DatasetLayoutError, match=r'info\.mat'):
        build_dnd(root)


def test_submission_round_trip(dnd_root, tmp_path):
    truth = mini.dnd_ground_truth_crops(dnd_root)
    restored = {key: np.clip(crop * 0.5 + 0.25, 0, 1).astype(np.float64) for key, crop in truth.items()}
    written = write_dnd_submission(restored, tmp_path / 'submit')
    assert [p.name for p in written] == [f'{i:04d}.mat' for i in range(1, 51)]
    assert sorted(p.name for p in (tmp_path / 'submit').iterdir()) == [f'{i:04d}.mat' for i in range(1, 51)]
    mat = loadmat(tmp_path / 'submit' / '0007.mat')
    cell = mat['Idenoised']
    assert cell.dtype == object and cell.size == 20
    for k in range(20):
        crop = cell.reshape(-1)[k]
        assert crop.dtype == np.float32 and crop.shape == (mini.DND_CROP, mini.DND_CROP, 3)
        assert np.array_equal(crop, restored[f'0007_{k + 1:02d}'].astype(np.float32))
    assert not bool(mat['israw'].item())
    assert str(mat['eval_version'].item()) == '1.0'


def test_submission_rejects_incomplete_or_malformed_input(tmp_path):
    crop = np.zeros((4, 4, 3), np.float32)
    full = {f'0001_{k:02d}': crop for k in range(1, 21)}
    with pytest.raises(ValueError, match=r'image 1: crops \[7\] are missing'):
        write_dnd_submission({k: v for k, v in full.items() if k != '0001_07'}, tmp_path / 'a')
    with pytest.raises(ValueError, match='not a DND crop key'):
        write_dnd_submission({'1_1': crop}, tmp_path / 'b')
    with pytest.raises(ValueError, match=r'H x W x 3'):
        write_dnd_submission({**full, '0001_01': np.zeros((4, 4))}, tmp_path / 'c')
    with pytest.warns(CountMismatchWarning, match='expected 50 images, found 1'):
        write_dnd_submission(full, tmp_path / 'd')
    with pytest.raises(CountMismatchError):
        write_dnd_submission(full, tmp_path / 'e', strict=True)
    assert not (tmp_path / 'a').exists() and not (tmp_path / 'e').exists()
    assert parse_dnd_key('0012_20') == (12, 20)
