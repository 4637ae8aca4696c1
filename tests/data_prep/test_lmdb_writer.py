"""The LMDB writer: BasicSR's format, lossless storage, key rules, atomic writes, re-run skipping, the crop grid."""
import os
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import cv2
import lmdb
import numpy as np
import pytest

import mprnet_plugin  # noqa: F401  (first: installs the torchvision alias basicsr needs, registers our classes)
from basicsr.data import build_dataset
from mprnet_plugin.data import lmdb_writer
from mprnet_plugin.data.crop_grid import crop_boxes, crop_starts
from mprnet_plugin.data.lmdb_writer import (LmdbKeyError, PairError, lmdb_is_complete, lmdb_keys, make_paired_lmdb,
                                            read_meta_info, read_prep_info, write_lmdb)
from mprnet_plugin.io.images import read_image


def stored_image(lmdb_path, key):
    """Decode one value of an LMDB exactly as stored (IMREAD_UNCHANGED)."""
    env = lmdb.open(str(lmdb_path), readonly=True, lock=False)
    with env.begin() as txn:
        buf = txn.get(key.encode('ascii'))
    env.close()
    assert buf is not None, key
    return cv2.imdecode(np.frombuffer(buf, np.uint8), cv2.IMREAD_UNCHANGED)


def paired_dataset(input_lmdb, target_lmdb):
    return build_dataset(dict(name='check', type='PairedImageDataset', dataroot_lq=str(input_lmdb),
                              dataroot_gt=str(target_lmdb), io_backend=dict(type='lmdb'), phase='val', scale=1))


def random_image(seed, h=20, w=28, c=3, dtype=np.uint8):
    rng = np.random.default_rng(seed)
    shape = (h, w) if c == 1 else (h, w, c)
    return rng.integers(0, np.iinfo(dtype).max, size=shape, endpoint=True, dtype=dtype)


def write_file(path, img, ext_params=()):
    ok, buf = cv2.imencode(Path(path).suffix, img, list(ext_params))
    assert ok
    Path(path).write_bytes(buf.tobytes())
    return Path(path)


# -- the crop grid ---------------------------------------------------------------------------------------------------

def test_crop_grid_matches_published_recipes():
    assert crop_starts(720, 512, 256) == [0, 208]
    assert crop_starts(1280, 512, 256) == [0, 256, 512, 768]
    assert len(crop_boxes(720, 1280, 512, 256)) == 8  # 2103 GoPro images -> 16,824 crops
    assert crop_boxes(720, 1280, 512, 256)[:5] == [(0, 0), (0, 256), (0, 512), (0, 768), (208, 0)]  # row-major
    assert crop_starts(512, 512, 384) == [0]
    assert crop_starts(1000, 512, 384) == [0, 384, 488]


def test_crop_grid_rejects_small_images_and_bad_steps():
    with pytest.raises(ValueError, match=r'30x40 \(HxW\)'):
        crop_boxes(30, 40, 32, 16)
    with pytest.raises(ValueError, match='positive'):
        crop_starts(100, 32, 0)


# -- lossless storage in BasicSR's format ----------------------------------------------------------------------------

def test_write_lmdb_stores_images_losslessly_with_meta_info(tmp_path):
    rgb8 = random_image(0)
    rgb16 = random_image(1, dtype=np.uint16)
    gray = random_image(2, c=1)
    rgba = random_image(3, c=4)
    jpeg_src = write_file(tmp_path / 'photo.jpg', random_image(4), (cv2.IMWRITE_JPEG_QUALITY, 80))
    png16_src = write_file(tmp_path / 'deep.png', rgb16)
    items = [('rgb8', rgb8), ('gray', gray), ('rgba', rgba), ('from_jpeg', jpeg_src), ('from_png16', png16_src),
             ('nested/key-1', rgb8)]
    n = write_lmdb(tmp_path / 'all.lmdb', items, compress_level=3)
    assert n == 6
    expected = {'rgb8': rgb8, 'gray': gray, 'rgba': rgba, 'from_jpeg': read_image(jpeg_src),
                'from_png16': rgb16, 'nested/key-1': rgb8}
    for key, img in expected.items():
        got = stored_image(tmp_path / 'all.lmdb', key)
        assert got.dtype == img.dtype and got.shape == img.shape and np.array_equal(got, img), key
    meta = (tmp_path / 'all.lmdb' / 'meta_info.txt').read_text().splitlines()
    assert meta[0] == 'rgb8.png (20,28,3) 3'
    assert meta[1] == 'gray.png (20,28,1) 3'
    assert dict(read_meta_info(tmp_path / 'all.lmdb'))['rgba'] == (20, 28, 4)
    assert sorted(lmdb_keys(tmp_path / 'all.lmdb')) == sorted(expected)
    assert read_prep_info(tmp_path / 'all.lmdb')['count'] == 6


def test_paired_lmdb_is_read_by_basicsr_paired_dataset(tmp_path):
    pairs = []
    for i in range(3):
        gt = random_image(10 + i, 24, 32)
        lq = random_image(20 + i, 24, 32)
        pairs.append((f'img{i}', write_file(tmp_path / f'lq{i}.png', lq), write_file(tmp_path / f'gt{i}.png', gt)))
    assert make_paired_lmdb(pairs[::-1], tmp_path / 'in.lmdb', tmp_path / 'gt.lmdb') == 3
    ds = paired_dataset(tmp_path / 'in.lmdb', tmp_path / 'gt.lmdb')
    assert len(ds) == 3
    for i in range(3):
        item = ds[i]
        key, lq_path, gt_path = pairs[i]
        assert item['lq_path'] == item['gt_path'] == key
        want_lq = read_image(lq_path)[..., ::-1].astype(np.float32) / 255.0
        want_gt = read_image(gt_path)[..., ::-1].astype(np.float32) / 255.0
        assert np.array_equal(item['lq'].numpy().transpose(1, 2, 0), want_lq)
        assert np.array_equal(item['gt'].numpy().transpose(1, 2, 0), want_gt)


@pytest.mark.slow
def test_paired_crops_follow_the_grid_and_parallel_output_is_identical(tmp_path):
    lq, gt = random_image(5, 48, 80), random_image(6, 48, 80)
    pairs = [('a', lq, gt), ('b', gt, lq)]
    make_paired_lmdb(pairs, tmp_path / 'p1/in.lmdb', tmp_path / 'p1/gt.lmdb', crop_size=32, step=16, workers=1)
    make_paired_lmdb(pairs, tmp_path / 'p2/in.lmdb', tmp_path / 'p2/gt.lmdb', crop_size=32, step=16, workers=2)
    keys = [k for k, _ in read_meta_info(tmp_path / 'p1/in.lmdb')]
    assert keys == [f'{s}_s{i:03d}' for s in 'ab' for i in range(1, 9)]
    for i, (y, x) in enumerate(crop_boxes(48, 80, 32, 16)):
        assert np.array_equal(stored_image(tmp_path / 'p1/in.lmdb', f'a_s{i + 1:03d}'), lq[y:y + 32, x:x + 32])
        assert np.array_equal(stored_image(tmp_path / 'p1/gt.lmdb', f'a_s{i + 1:03d}'), gt[y:y + 32, x:x + 32])
    for name in ('in.lmdb', 'gt.lmdb'):
        assert read_meta_info(tmp_path / 'p1' / name) == read_meta_info(tmp_path / 'p2' / name)
        for key in keys:
            assert np.array_equal(stored_image(tmp_path / 'p1' / name, key), stored_image(tmp_path / 'p2' / name, key))


def test_map_grows_when_full(tmp_path, monkeypatch):
    monkeypatch.setattr(lmdb_writer, 'INITIAL_MAP_SIZE', 64 * 1024)
    items = [(f'k{i}', random_image(i, 64, 64)) for i in range(12)]  # ~150 KB of incompressible PNGs
    assert write_lmdb(tmp_path / 'grow.lmdb', items) == 12
    assert lmdb_is_complete(tmp_path / 'grow.lmdb', [k for k, _ in items])
    assert np.array_equal(stored_image(tmp_path / 'grow.lmdb', 'k11'), items[11][1])


# -- bad input -------------------------------------------------------------------------------------------------------

@pytest.mark.parametrize('key', ['has.dot', 'sp ace', 'ünïcode', ''])
def test_bad_keys_are_rejected_before_writing(tmp_path, key):
    with pytest.raises(LmdbKeyError, match='invalid'):
        write_lmdb(tmp_path / 'bad.lmdb', [(key, random_image(0))])
    assert not (tmp_path / 'bad.lmdb').exists()


def test_duplicate_keys_name_both_sources(tmp_path):
    a, b = write_file(tmp_path / 'a.png', random_image(0)), write_file(tmp_path / 'b.png', random_image(1))
    with pytest.raises(LmdbKeyError, match=r"'x'.*a\.png.*b\.png"):
        make_paired_lmdb([('x', a, a), ('x', b, b)], tmp_path / 'in.lmdb', tmp_path / 'gt.lmdb')
    with pytest.raises(LmdbKeyError, match='twice'):
        write_lmdb(tmp_path / 'single.lmdb', [('x', a), ('x', b)])
    assert not (tmp_path / 'single.lmdb').exists()


def test_size_mismatch_names_both_files(tmp_path):
    lq = write_file(tmp_path / 'lq.png', random_image(0, 20, 28))
    gt = write_file(tmp_path / 'gt.png', random_image(1, 20, 30))
    with pytest.raises(PairError, match=r"lq\.png.*\(20, 28, 3\).*gt\.png.*\(20, 30, 3\)"):
        make_paired_lmdb([('k', lq, gt)], tmp_path / 'in.lmdb', tmp_path / 'gt.lmdb')
    assert not (tmp_path / 'in.lmdb').exists() and not (tmp_path / 'gt.lmdb').exists()


@pytest.mark.slow  # two worker processes
def test_unreadable_image_names_both_files_and_leaves_nothing(tmp_path):
    good = [(f'k{i}', write_file(tmp_path / f'lq{i}.png', random_image(i)),
             write_file(tmp_path / f'gt{i}.png', random_image(i + 9))) for i in range(4)]
    broken = tmp_path / 'gt_broken.png'
    broken.write_bytes(b'not a png at all')
    pairs = good[:2] + [('k9', good[2][1], broken)] + good[3:]
    for workers in (1, 2):
        with pytest.raises(PairError, match=r"lq2\.png.*gt_broken\.png.*cannot decode"):
            make_paired_lmdb(pairs, tmp_path / 'in.lmdb', tmp_path / 'gt.lmdb', workers=workers)
        assert sorted(p.name for p in tmp_path.iterdir() if 'lmdb' in p.name) == []


def test_crop_larger_than_image_names_the_pair(tmp_path):
    with pytest.raises(PairError, match=r"pair 'k'.*smaller than the crop size 32"):
        make_paired_lmdb([('k', random_image(0, 20, 40), random_image(1, 20, 40))], tmp_path / 'in.lmdb',
                         tmp_path / 'gt.lmdb', crop_size=32, step=16)


def test_path_must_end_in_lmdb(tmp_path):
    with pytest.raises(ValueError, match='must end in ".lmdb"'):
        write_lmdb(tmp_path / 'folder', [('a', random_image(0))])


# -- re-runs and interruption ----------------------------------------------------------------------------------------

def test_rerun_skips_complete_outputs_and_redoes_changed_or_damaged_ones(tmp_path):
    pairs = [(f'k{i}', random_image(i), random_image(i + 5)) for i in range(3)]
    out_in, out_gt = tmp_path / 'in.lmdb', tmp_path / 'gt.lmdb'
    make_paired_lmdb(pairs, out_in, out_gt)
    stamp = (out_in / 'data.mdb').stat().st_mtime_ns, (out_in / 'data.mdb').stat().st_ino
    make_paired_lmdb(pairs, out_in, out_gt)  # same pairs and settings: skipped
    assert ((out_in / 'data.mdb').stat().st_mtime_ns, (out_in / 'data.mdb').stat().st_ino) == stamp
    make_paired_lmdb(pairs, out_in, out_gt, overwrite=True)  # asked to: rewritten
    assert (out_in / 'data.mdb').stat().st_ino != stamp[1]
    make_paired_lmdb(pairs[:2], out_in, out_gt)  # different sources: rewritten
    assert [k for k, _ in read_meta_info(out_in)] == ['k0', 'k1']
    make_paired_lmdb(pairs[:2], out_in, out_gt, compress_level=4)  # different settings: rewritten
    assert read_meta_info(out_gt) and (out_gt / 'meta_info.txt').read_text().endswith(' 4\n')
    # damaged: a meta_info line lost -> not complete -> rewritten on the next run
    (out_gt / 'meta_info.txt').write_text('k0.png (20,28,3) 4\n')
    assert not lmdb_is_complete(out_gt)
    make_paired_lmdb(pairs[:2], out_in, out_gt, compress_level=4)
    assert lmdb_is_complete(out_gt, ['k0', 'k1'])


def test_interrupted_run_leaves_no_lmdb_under_the_final_name(tmp_path, monkeypatch):
    calls = []
    real_encode = lmdb_writer._encode

    def encode_then_interrupt(img, level):
        calls.append(1)
        if len(calls) == 5:
            raise KeyboardInterrupt
        return real_encode(img, level)

    monkeypatch.setattr(lmdb_writer, '_encode', encode_then_interrupt)
    pairs = [(f'k{i}', random_image(i), random_image(i + 5)) for i in range(6)]
    with pytest.raises(KeyboardInterrupt):
        make_paired_lmdb(pairs, tmp_path / 'in.lmdb', tmp_path / 'gt.lmdb')
    assert list(tmp_path.iterdir()) == []  # neither final names nor temporaries


@pytest.mark.slow
def test_killed_run_is_not_taken_for_complete_and_is_redone(tmp_path, caplog):
    """A process killed mid-write (SIGKILL: no clean-up runs) leaves only a hidden temporary; a re-run completes."""
    script = textwrap.dedent(f'''
        import os, signal
        import numpy as np
        from mprnet_plugin.data import lmdb_writer
        real, calls = lmdb_writer._encode, []
        def encode(img, level):
            calls.append(1)
            if len(calls) == 7:
                os.kill(os.getpid(), signal.SIGKILL)
            return real(img, level)
        lmdb_writer._encode = encode
        pairs = [(f'k{{i}}', np.full((8, 8, 3), i, np.uint8), np.full((8, 8, 3), i + 1, np.uint8)) for i in range(6)]
        lmdb_writer.make_paired_lmdb(pairs, {str(tmp_path / 'in.lmdb')!r}, {str(tmp_path / 'gt.lmdb')!r})
    ''')
    proc = subprocess.run([sys.executable, '-c', script], capture_output=True, text=True, timeout=120)
    assert proc.returncode == -signal.SIGKILL, proc.stderr
    leftovers = sorted(p.name for p in tmp_path.iterdir())
    assert leftovers and all(name.startswith('.') and '.tmp-' in name for name in leftovers), leftovers
    assert not (tmp_path / 'in.lmdb').exists() and not (tmp_path / 'gt.lmdb').exists()
    pairs = [(f'k{i}', np.full((8, 8, 3), i, np.uint8), np.full((8, 8, 3), i + 1, np.uint8)) for i in range(6)]
    assert make_paired_lmdb(pairs, tmp_path / 'in.lmdb', tmp_path / 'gt.lmdb') == 6
    assert any('left over from an interrupted run' in r.getMessage() and leftovers[0] in r.getMessage()
               for r in caplog.records)
    assert len(paired_dataset(tmp_path / 'in.lmdb', tmp_path / 'gt.lmdb')) == 6
    assert os.path.isdir(tmp_path / 'in.lmdb')


@pytest.mark.timeout(180)
def test_parallel_workers_after_torch_and_opencv_threads_ran(tmp_path):
    """Workers must not inherit thread pools that already ran in this process (a forked child can deadlock)."""
    import torch
    torch.nn.functional.conv2d(torch.rand(1, 8, 64, 64), torch.rand(8, 8, 3, 3)).sum()
    cv2.GaussianBlur(np.zeros((256, 256, 3), np.uint8), (5, 5), 1.0)
    images = [(f'k{i}', np.full((24, 24, 3), i, np.uint8)) for i in range(6)]
    assert lmdb_writer.write_lmdb(tmp_path / 'par.lmdb', images, workers=2) == 6
    assert lmdb_keys(tmp_path / 'par.lmdb') == [k for k, _ in images]
