"""``mprnet-prep`` on miniature copies of every dataset, read back with BasicSR's own PairedImageDataset."""
import json
import subprocess
import sys
from pathlib import Path

import cv2
import lmdb
import numpy as np
import pytest
from scipy.io import loadmat

import mprnet_plugin  # noqa: F401  (first: installs the torchvision alias basicsr needs)
from basicsr.data import build_dataset
from mprnet_plugin.cli.prep import main as prep_main
from mprnet_plugin.data.crop_grid import crop_boxes
from mprnet_plugin.data.pairing import CountMismatchWarning
from mprnet_plugin.data.prep import hide as hide_prep
from mprnet_plugin.io.images import read_image

from tests.helpers import miniature_datasets as mini

REPO = Path(__file__).resolve().parents[2]


def read_pairs(folder, suffix=''):
    """key -> (input, target) as uint8 BGR arrays, read through BasicSR's PairedImageDataset (lmdb backend)."""
    ds = build_dataset(dict(name='check', type='PairedImageDataset', dataroot_lq=str(folder / f'input{suffix}.lmdb'),
                            dataroot_gt=str(folder / f'target{suffix}.lmdb'), io_backend=dict(type='lmdb'),
                            phase='val', scale=1))
    out = {}
    for i in range(len(ds)):
        item = ds[i]
        assert item['lq_path'] == item['gt_path']
        to_bgr8 = lambda t: np.round(t.numpy().transpose(1, 2, 0)[..., ::-1] * 255).astype(np.uint8)  # noqa: E731
        out[item['lq_path']] = (to_bgr8(item['lq']), to_bgr8(item['gt']))
    return out


def run_prep(*args):
    code = prep_main([str(a) for a in args])
    assert code == 0
    return code


def run_prep_failing(capsys, *args):
    code = prep_main([str(a) for a in args])
    err = capsys.readouterr().err
    assert code == 1, err
    return err


# -- every dataset, end to end ---------------------------------------------------------------------------------------

@pytest.mark.slow
def test_gopro_train_crops_and_full_size_test(tmp_path, caplog):
    raw = mini.make_gopro(tmp_path / 'raw')
    run_prep('gopro', '--src', tmp_path / 'raw', '--dst', tmp_path / 'out', '--crop-size', 32, '--step', 16,
             '--workers', 2)
    warned = [r.getMessage() for r in caplog.records if r.levelname == 'WARNING']
    assert warned == ['GoPro train (blur): pairs: expected 2103 as published, found 4 (a partial copy?)',
                      'GoPro test (blur): pairs: expected 1111 as published, found 4 (a partial copy?)']
    train = read_pairs(tmp_path / 'out' / 'train', '_crops')
    boxes = crop_boxes(*mini.GOPRO_SIZE, 32, 16)
    assert len(boxes) == 8
    assert sorted(train) == sorted(f'{k}_s{i:03d}' for k in mini.gopro_keys('train') for i in range(1, 9))
    for key in mini.gopro_keys('train'):
        scene, frame = key.split('-')
        blur = read_image(raw / 'train' / scene / 'blur' / f'{frame}.png')
        sharp = read_image(raw / 'train' / scene / 'sharp' / f'{frame}.png')
        for i, (y, x) in enumerate(boxes, 1):
            lq, gt = train[f'{key}_s{i:03d}']
            assert np.array_equal(lq, blur[y:y + 32, x:x + 32]) and np.array_equal(gt, sharp[y:y + 32, x:x + 32])
    test = read_pairs(tmp_path / 'out' / 'test')
    assert sorted(test) == mini.gopro_keys('test')
    scene, frame = mini.gopro_keys('test')[-1].split('-')
    assert frame == f'{mini.GOPRO_TEST_SCENES[scene] + 1:06d}'  # numbering kept, not renumbered from 1
    lq, gt = test[f'{scene}-{frame}']
    assert np.array_equal(lq, read_image(raw / 'test' / scene / 'blur' / f'{frame}.png'))
    assert np.array_equal(gt, read_image(raw / 'test' / scene / 'sharp' / f'{frame}.png'))
    assert not np.array_equal(lq, read_image(raw / 'test' / scene / 'blur_gamma' / f'{frame}.png'))


def test_gopro_blur_gamma_only_when_asked(tmp_path):
    raw = mini.make_gopro(tmp_path / 'raw')
    key = mini.gopro_keys('test')[0]
    scene, frame = key.split('-')
    for folder, flags in (('blur', ()), ('blur_gamma', ('--blur-gamma',)), ('blur', ())):
        # same keys, other sources: a re-run must not take the previous output for complete
        run_prep('gopro', '--src', raw, '--dst', tmp_path / 'out', '--splits', 'test', '--workers', 1, *flags)
        lq, _ = read_pairs(tmp_path / 'out' / 'test')[key]
        assert np.array_equal(lq, read_image(raw / 'test' / scene / folder / f'{frame}.png')), folder
    assert not (tmp_path / 'out' / 'train').exists()


def test_hide_test_set_and_subsets(tmp_path):
    raw = mini.make_hide(tmp_path / 'raw')
    run_prep('hide', '--src', tmp_path / 'raw', '--dst', tmp_path / 'out', '--workers', 1)
    pairs = read_pairs(tmp_path / 'out' / 'test')
    names = mini.HIDE_CLOSE_UPS + mini.HIDE_LONG_SHOTS
    assert sorted(pairs) == sorted(mini.hide_key(n) for n in names)
    assert '110fromGOPR1087_MP4' in pairs
    for name in names:
        folder = 'test-close-ups' if name in mini.HIDE_CLOSE_UPS else 'test-long-shot'
        lq, gt = pairs[mini.hide_key(name)]
        assert np.array_equal(lq, read_image(raw / 'test' / folder / name))
        assert np.array_equal(gt, read_image(raw / 'GT' / name))
    subsets = json.loads((tmp_path / 'out' / 'test' / 'subsets.json').read_text())
    assert subsets == {'close-up': sorted(mini.hide_key(n) for n in mini.HIDE_CLOSE_UPS),
                       'long-shot': sorted(mini.hide_key(n) for n in mini.HIDE_LONG_SHOTS)}


@pytest.mark.parametrize('variant,folder', [('realblur-j', mini.REALBLUR_J_DIR), ('realblur-r', mini.REALBLUR_R_DIR)])
def test_realblur_from_list_files_gt_first(tmp_path, variant, folder):
    raw = mini.make_realblur(tmp_path / 'raw')
    run_prep(variant, '--src', raw, '--dst', tmp_path / 'out', '--workers', 1)
    for split in ('train', 'test'):
        pairs = read_pairs(tmp_path / 'out' / split)
        assert sorted(pairs) == mini.realblur_keys(split)
        for key, (lq, gt) in pairs.items():
            scene, i = key.split('_')
            assert np.array_equal(lq, read_image(raw / folder / scene / 'blur' / f'blur_{i}.png'))
            assert np.array_equal(gt, read_image(raw / folder / scene / 'gt' / f'gt_{i}.png'))
            assert lq.shape[0] % 8 != 0  # kept at their odd sizes


def test_realblur_16_bit_is_stored_losslessly(tmp_path):
    raw = mini.make_realblur(tmp_path / 'raw', dtype=np.uint16)
    run_prep('realblur-r', '--src', raw, '--dst', tmp_path / 'out', '--splits', 'test', '--workers', 1)
    env = lmdb.open(str(tmp_path / 'out' / 'test' / 'target.lmdb'), readonly=True, lock=False)
    with env.begin() as txn:
        stored = cv2.imdecode(np.frombuffer(txn.get(b'scene183_7'), np.uint8), cv2.IMREAD_UNCHANGED)
    env.close()
    original = read_image(raw / mini.REALBLUR_R_DIR / 'scene183' / 'gt' / 'gt_7.png')
    assert original.dtype == stored.dtype == np.uint16 and np.array_equal(stored, original)


@pytest.mark.slow
def test_rain13k_train_and_test_sets(tmp_path):
    raw = mini.make_rain13k(tmp_path / 'raw')
    run_prep('rain13k', '--src', raw, '--dst', tmp_path / 'out', '--workers', 2)
    train = read_pairs(tmp_path / 'out' / 'train')
    assert sorted(train) == sorted(Path(n).stem.replace('.', '_') for n in mini.RAIN13K_TRAIN)
    lq, gt = train['1']
    assert np.array_equal(lq, read_image(raw / 'train' / 'Rain13K' / 'input' / '1.jpg'))  # JPEG pixels, as decoded
    assert np.array_equal(gt, read_image(raw / 'train' / 'Rain13K' / 'target' / '1.jpg'))
    for name, files in mini.RAIN_TEST_SETS.items():
        pairs = read_pairs(tmp_path / 'out' / 'test' / name)
        assert sorted(pairs) == sorted(Path(f).stem for f in files if f != '926_10(1).jpg'), name
        for f in files:
            if f != '926_10(1).jpg':
                assert np.array_equal(pairs[Path(f).stem][0], read_image(raw / 'test' / name / 'input' / f))


@pytest.mark.slow
def test_sidd_training_crops_and_validation_blocks(tmp_path):
    raw = mini.make_sidd(tmp_path / 'raw')
    run_prep('sidd', '--src', raw, '--dst', tmp_path / 'out', '--crop-size', 16, '--step', 12, '--workers', 2)
    boxes = crop_boxes(*mini.SIDD_SIZE, 16, 12)
    train = read_pairs(tmp_path / 'out' / 'train', '_crops')
    assert sorted(train) == mini.sidd_train_keys(len(boxes))
    scene = mini.SIDD_SCENES[1]
    noisy = read_image(raw / 'SIDD_Medium_Srgb' / 'Data' / scene / f'{scene[:4]}_NOISY_SRGB_011.PNG')
    clean = read_image(raw / 'SIDD_Medium_Srgb' / 'Data' / scene / f'{scene[:4]}_GT_SRGB_011.PNG')
    for i, (y, x) in enumerate(boxes, 1):
        lq, gt = train[f'{scene[:4]}_SRGB_011_s{i:03d}']
        assert np.array_equal(lq, noisy[y:y + 16, x:x + 16]) and np.array_equal(gt, clean[y:y + 16, x:x + 16])
    val = read_pairs(tmp_path / 'out' / 'val')
    assert len(val) == 1280
    noisy_blocks = loadmat(raw / 'ValidationNoisyBlocksSrgb.mat')['ValidationNoisyBlocksSrgb']
    gt_blocks = loadmat(raw / 'ValidationGtBlocksSrgb.mat')['ValidationGtBlocksSrgb']
    for image, block in ((0, 0), (3, 17), (39, 31)):
        lq, gt = val[f'ValidationBlocksSrgb_{image * 32 + block}']
        assert np.array_equal(lq[..., ::-1], noisy_blocks[image, block])  # stored BGR, the .mat is RGB
        assert np.array_equal(gt[..., ::-1], gt_blocks[image, block])


def test_count_mismatch_is_a_python_warning_through_the_api(tmp_path):
    from mprnet_plugin.data.prep import PrepOptions, prepare_dataset
    raw = mini.make_hide(tmp_path / 'raw')
    with pytest.warns(CountMismatchWarning, match='expected 2025 as published, found 5'):
        result = prepare_dataset('hide', PrepOptions(src=raw, dst=tmp_path / 'out'))
    assert not result.counts_ok and result.outputs[str(tmp_path / 'out' / 'test' / 'input.lmdb')] == 5


@pytest.mark.slow
def test_dnd_prep_checks_the_files(tmp_path, capsys):
    raw = mini.make_dnd(tmp_path / 'raw')
    assert prep_main(['dnd', '--src', str(raw)]) == 0
    assert '1000' in capsys.readouterr().out
    (raw / 'images_srgb' / '0050.mat').unlink()
    err = run_prep_failing(capsys, 'dnd', '--src', raw)
    assert '0050.mat' in err


@pytest.mark.slow
def test_script_runs_the_same_preparation(tmp_path):
    raw = mini.make_hide(tmp_path / 'raw')
    proc = subprocess.run([sys.executable, str(REPO / 'datasets_prep' / 'hide.py'), '--src', str(raw), '--dst',
                           str(tmp_path / 'out'), '--workers', '1'], capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    assert 'expected 2025 as published, found 5' in proc.stderr
    assert len(read_pairs(tmp_path / 'out' / 'test')) == 5


# -- counts, re-runs -------------------------------------------------------------------------------------------------

def test_counts_strict_and_published(tmp_path, capsys, monkeypatch):
    raw = mini.make_hide(tmp_path / 'raw')
    err = run_prep_failing(capsys, 'hide', '--src', raw, '--dst', tmp_path / 'out', '--strict')
    assert 'expected 2025 as published, found 5' in err and '--strict' in err
    assert not (tmp_path / 'out' / 'test' / 'input.lmdb').exists()
    monkeypatch.setattr(hide_prep, 'PUBLISHED_TEST_PAIRS', 5)  # as if this were the full set
    import warnings
    with warnings.catch_warnings():
        warnings.simplefilter('error', CountMismatchWarning)
        assert prep_main(['hide', '--src', str(raw), '--dst', str(tmp_path / 'out'), '--strict']) == 0


def test_rerun_skips_complete_outputs_unless_overwrite(tmp_path):
    raw = mini.make_realblur(tmp_path / 'raw')
    args = ('realblur-j', '--src', raw, '--dst', tmp_path / 'out', '--splits', 'test', '--workers', 1)
    run_prep(*args)
    data = tmp_path / 'out' / 'test' / 'input.lmdb' / 'data.mdb'
    inode = data.stat().st_ino
    run_prep(*args)
    assert data.stat().st_ino == inode
    run_prep(*args, '--overwrite')
    assert data.stat().st_ino != inode


# -- bad input: errors name both files -------------------------------------------------------------------------------

def test_gopro_missing_partner(tmp_path, capsys):
    raw = mini.make_gopro(tmp_path / 'raw')
    scene = next(iter(mini.GOPRO_TEST_SCENES))
    (raw / 'test' / scene / 'sharp' / '000002.png').unlink()
    err = run_prep_failing(capsys, 'gopro', '--src', raw, '--dst', tmp_path / 'out', '--splits', 'test')
    assert f'{scene}/blur/000002.png' in err and f'{scene}/sharp' in err and 'no target partner' in err


def test_gopro_size_mismatch_and_unreadable(tmp_path, capsys):
    raw = mini.make_gopro(tmp_path / 'raw')
    scene = next(iter(mini.GOPRO_TEST_SCENES))
    sharp = raw / 'test' / scene / 'sharp' / '000001.png'
    cv2.imwrite(str(sharp), read_image(sharp)[:-2])
    err = run_prep_failing(capsys, 'gopro', '--src', raw, '--dst', tmp_path / 'out', '--splits', 'test',
                           '--workers', 1)
    assert f'{scene}/blur/000001.png' in err and f'{scene}/sharp/000001.png' in err and 'shape' in err
    sharp.write_bytes(b'\x89PNG truncated')
    err = run_prep_failing(capsys, 'gopro', '--src', raw, '--dst', tmp_path / 'out', '--splits', 'test',
                           '--workers', 2)
    assert f'{scene}/blur/000001.png' in err and f'{scene}/sharp/000001.png' in err and 'cannot decode' in err
    assert not (tmp_path / 'out' / 'test').exists() or not any((tmp_path / 'out' / 'test').iterdir())


def test_realblur_list_problems(tmp_path, capsys):
    raw = mini.make_realblur(tmp_path / 'raw')
    scene, i = mini.REALBLUR_TEST[0]
    (raw / mini.REALBLUR_J_DIR / scene / 'gt' / f'gt_{i}.png').unlink()
    err = run_prep_failing(capsys, 'realblur-j', '--src', raw, '--dst', tmp_path / 'out', '--splits', 'test')
    assert f'{scene}/gt/gt_{i}.png' in err and f'{scene}/blur/blur_{i}.png' in err and 'RealBlur_J_test_list' in err
    listing = raw / 'RealBlur_R_test_list.txt'
    listing.write_text(listing.read_text().replace('gt/gt_7.png', 'gt/gt_10.png', 1))
    err = run_prep_failing(capsys, 'realblur-r', '--src', raw, '--dst', tmp_path / 'out', '--splits', 'test')
    assert 'gt_10.png' in err and 'blur_7.png' in err and 'not the same scene and index' in err


def test_hide_sidd_rain_missing_partners(tmp_path, capsys):
    hide = mini.make_hide(tmp_path / 'raw')
    (hide / 'GT' / mini.HIDE_LONG_SHOTS[0]).unlink()
    err = run_prep_failing(capsys, 'hide', '--src', hide, '--dst', tmp_path / 'out')
    assert f'test-long-shot/{mini.HIDE_LONG_SHOTS[0]}' in err and f'GT/{mini.HIDE_LONG_SHOTS[0]}' in err

    sidd = mini.make_sidd(tmp_path / 'raw')
    scene = mini.SIDD_SCENES[0]
    (sidd / 'SIDD_Medium_Srgb' / 'Data' / scene / f'{scene[:4]}_GT_SRGB_010.PNG').unlink()
    err = run_prep_failing(capsys, 'sidd', '--src', sidd, '--dst', tmp_path / 'out', '--splits', 'train')
    assert f'{scene[:4]}_NOISY_SRGB_010.PNG' in err and f'{scene[:4]}_GT_SRGB_010.PNG' in err

    rain = mini.make_rain13k(tmp_path / 'raw')
    (rain / 'train' / 'Rain13K' / 'input' / '2.jpg').unlink()
    err = run_prep_failing(capsys, 'rain13k', '--src', rain, '--dst', tmp_path / 'out', '--splits', 'train')
    assert 'target/2.jpg' in err and 'no input partner' in err and 'Rain13K/input' in err


def test_missing_layout_and_bad_arguments(tmp_path, capsys):
    err = run_prep_failing(capsys, 'gopro', '--src', tmp_path / 'nowhere', '--dst', tmp_path / 'out')
    assert 'nowhere' in err and 'expected a folder' in err
    assert prep_main(['hide', '--src', str(tmp_path), '--dst', str(tmp_path / 'o'), '--crop-size', '8',
                      '--step', '4']) == 2
    assert prep_main(['gopro', '--src', str(tmp_path)]) == 2
    assert 'required' in capsys.readouterr().err
    (tmp_path / 'raw').mkdir()
    err = run_prep_failing(capsys, 'gopro', '--src', tmp_path / 'raw', '--dst', tmp_path / 'o', '--splits', 'val')
    assert "no split(s) ['val']" in err
