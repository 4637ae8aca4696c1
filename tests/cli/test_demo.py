"""The demo: its built-in deblurring set (read back by BasicSR) and ``mprnet-demo`` end to end at a tiny scale."""
import os
import re
import subprocess
import sys

import cv2
import numpy as np
import pytest

import mprnet_plugin  # noqa: F401
from mprnet_plugin.cli.demo import read_pairs
from mprnet_plugin.data.demo_data import build_demo_dataset, camera_shake_kernel, load_sample_image

SUBPROCESS_ENV_THREADS = {'OMP_NUM_THREADS': '1', 'PYTHONWARNINGS': 'ignore'}


@pytest.mark.parametrize('length', [3.0, 7.5, 11.0])
def test_camera_shake_kernel_is_a_normalised_path_of_the_asked_length(length):
    kernel = camera_shake_kernel(np.random.default_rng(1), length)
    assert kernel.shape == (17, 17) and kernel.dtype == np.float32
    assert kernel.min() >= 0 and kernel.sum() == pytest.approx(1.0, abs=1e-5)
    ys, xs = np.nonzero(kernel > 1e-4)
    extent = np.hypot(ys.max() - ys.min(), xs.max() - xs.min())
    assert length - 1 <= extent <= length + 3  # bilinear splatting widens the path by up to a pixel each side
    with pytest.raises(ValueError, match='camera shake length'):
        camera_shake_kernel(np.random.default_rng(1), 20.0)


def test_demo_set_is_read_by_basicsr_and_reproducible(tmp_path):
    from basicsr.data import build_dataset
    from basicsr.metrics import calculate_psnr

    kwargs = dict(train_images=('astronaut', 'coffee'), test_images=('chelsea',), train_copies=2, test_copies=2,
                  max_side=128, train_crop=(64, 32))
    data = build_demo_dataset(tmp_path / 'a', **kwargs)
    # Training pairs cut into 64x64 crops: 3 x 3 of the 128x128 astronaut, 2 x 3 of the 85x128 coffee, per copy.
    assert len(data.train_keys) == 2 * 9 + 2 * 6 and data.train_keys[:2] == ('astronaut_k01_s001', 'astronaut_k01_s002')
    assert data.test_keys == ('chelsea_k01', 'chelsea_k02')
    # Same arguments and seed: the same pixels; another seed: other shakes.
    again = build_demo_dataset(tmp_path / 'b', **kwargs)
    other = build_demo_dataset(tmp_path / 'c', seed=1, **kwargs)
    first, second, third = (read_pairs(d.test_input, d.test_target, d.test_keys) for d in (data, again, other))
    for key in data.test_keys:
        assert np.array_equal(first[key][0], second[key][0]) and not np.array_equal(first[key][0], third[key][0])
        assert np.array_equal(first[key][1], third[key][1])  # the same sharp photograph
    # BasicSR's dataset reads the pairs back (after read_pairs released the environments: LMDB opens once).
    test_set = build_dataset({'name': 'demo', 'type': 'PairedImageDataset', 'phase': 'val', 'scale': 1,
                              'dataroot_lq': str(data.test_input), 'dataroot_gt': str(data.test_target),
                              'io_backend': {'type': 'lmdb'}})
    assert len(test_set) == 2
    sharp = load_sample_image('chelsea', 128)
    for item in test_set:
        lq = (item['lq'].numpy().transpose(1, 2, 0)[..., ::-1] * 255).round().astype(np.uint8)
        gt = (item['gt'].numpy().transpose(1, 2, 0)[..., ::-1] * 255).round().astype(np.uint8)
        assert gt.shape == sharp.shape == (85, 128, 3) and np.array_equal(gt, sharp)
        assert 20 < calculate_psnr(lq, gt, crop_border=0) < 38  # blurred, but mildly
    with pytest.raises(ValueError, match='both in training and held out'):
        build_demo_dataset(tmp_path / 'd', train_images=('chelsea',), test_images=('chelsea',))


@pytest.mark.slow
def test_demo_runs_end_to_end(tmp_path):
    out = tmp_path / 'demo_output'
    cmd = [sys.executable, '-m', 'mprnet_plugin.cli.demo', '--out', str(out), '--total-iter', '3', '--max-side', '200',
           '--train-copies', '1']
    proc = subprocess.run(cmd, cwd=tmp_path, env={**os.environ, **SUBPROCESS_ENV_THREADS}, capture_output=True,
                          text=True, timeout=400)
    assert proc.returncode == 0, f'{proc.stdout[-3000:]}\n{proc.stderr[-5000:]}'
    assert 'Start training from epoch: 0, iter: 0' in proc.stdout + proc.stderr  # BasicSR's own progress log
    rows = re.findall(r'^\| (\w+_k\d\d) \| ([\d.]+) / ([\d.]+) \| ([\d.]+) / ([\d.]+) \| ([+-][\d.]+) dB \|$',
                      proc.stdout, flags=re.M)
    assert [r[0] for r in rows] == ['chelsea_k01', 'chelsea_k02', 'rocket_k01', 'rocket_k02']
    for _, b_psnr, _, r_psnr, _, gain in rows:
        assert float(gain) == pytest.approx(float(r_psnr) - float(b_psnr), abs=0.011)
    assert re.search(r'^\| \*\*mean\*\* \| .* \| \*\*[+-][\d.]+ dB\*\* \|$', proc.stdout, flags=re.M)
    assert (out / 'demo_results.md').read_text().startswith('| held-out image |')
    for key in ('chelsea_k01', 'rocket_k02'):
        panel = cv2.imread(str(out / 'side_by_side' / f'{key}.png'))
        restored = cv2.imread(str(next((out / 'results').glob(f'*/visualization/*/{key}_restored.png'))))
        h, w = restored.shape[:2]
        assert panel.shape == (h, 3 * w + 2 * 6, 3)
    assert (out / 'experiments' / 'MPRNet_demo' / 'models' / 'net_g_latest.pth').is_file()
