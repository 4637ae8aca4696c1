"""Every test option file, run through ``mprnet-test`` on miniature datasets prepared by ``mprnet-prep``.

The network is a reduced-width MPRNet whose weights are all zero: every stage adds its input image, so the model
returns its input exactly. The summary table must then hold, for every set, the metrics of the degraded inputs
against the targets, which the test works out independently from the LMDBs with BasicSR's own reader.
"""
import csv
import json
import shutil
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
import yaml
from tests.helpers.settings import TINY_MPRNET

import mprnet_plugin  # noqa: F401  isort: skip  (host fixes before basicsr loads)
from basicsr.data import build_dataset
from basicsr.metrics import calculate_metric
from basicsr.utils import tensor2img

from tests.helpers import miniature_datasets as mini
from mprnet_plugin.archs.mprnet_arch import MPRNet
from mprnet_plugin.cli.prep import main as prep
from mprnet_plugin.test import main as run_test

pytestmark = pytest.mark.slow  # see tests/README.md

OPTIONS = Path(__file__).resolve().parents[2] / 'options' / 'test'
DND_IMAGES = 3  # of the real 50: enough to check the bundle, fast to restore


@pytest.fixture(scope='module', autouse=True)
def _one_thread(single_torch_thread):
    # Tiny images: torch's thread pool only adds contention on a shared 2-core machine (seen: 100x slower).
    yield


def keep_first_sidd_blocks(sidd_root, images=4, blocks=8):
    """Cut the miniature's validation files (40 x 32 blocks, as published) down to ``images`` x ``blocks``."""
    from scipy.io import loadmat, savemat
    for name in ('ValidationGtBlocksSrgb', 'ValidationNoisyBlocksSrgb'):
        path = sidd_root / f'{name}.mat'
        savemat(path, {name: loadmat(path)[name][:images, :blocks]})


@pytest.fixture(scope='module')
def workspace(tmp_path_factory):
    """A folder laid out as the option files expect (datasets/...), plus an identity checkpoint of a tiny MPRNet."""
    root = tmp_path_factory.mktemp('workspace')
    raw = root / 'raw'
    keep_first_sidd_blocks(mini.make_sidd(raw))
    sources = {
        'gopro': (mini.make_gopro(raw), 'GoPro', ['--splits', 'test']),
        'hide': (mini.make_hide(raw), 'HIDE', []),
        'realblur-j': (mini.make_realblur(raw), 'RealBlur-J', ['--splits', 'test']),
        'realblur-r': (raw / 'RealBlur', 'RealBlur-R', ['--splits', 'test']),
        'rain13k': (mini.make_rain13k(raw), 'Rain13K', ['--splits', 'test']),
        'sidd': (raw / 'SIDD', 'SIDD', ['--splits', 'val']),
    }
    for name, (src, dst, extra) in sources.items():
        # One worker: forking this process, whose OpenCV and torch thread pools other tests have used, can hang.
        assert prep([name, '--src', str(src), '--dst', str(root / 'datasets' / dst), '--workers', '1'] + extra) == 0
    shutil.move(mini.make_dnd(raw, n_images=DND_IMAGES), root / 'datasets' / 'DND')
    net = MPRNet(**TINY_MPRNET)
    with torch.no_grad():
        for p in net.parameters():
            p.zero_()
    torch.save({'params': net.state_dict()}, root / 'identity.pth')
    return root


def run_option_file(workspace, monkeypatch, option_file):
    """``mprnet-test -opt <file>`` on the CPU with the identity network; returns (options, summary rows by name)."""
    monkeypatch.chdir(workspace)
    monkeypatch.setattr(sys, 'argv', ['mprnet-test'])
    # The shipped file with the tiny network's widths (--force_yml sets only keys a file has).
    tiny = yaml.safe_load((OPTIONS / option_file).read_text())
    tiny['network_g'].update(TINY_MPRNET)
    tiny_file = workspace / f'tiny_{option_file}'
    tiny_file.write_text(yaml.safe_dump(tiny, sort_keys=False))
    assert run_test(['-opt', str(tiny_file), '--force_yml', 'num_gpu=0', 'val:save_img=false', 'val:pbar=false',
                     f'path:pretrain_network_g={workspace / "identity.pth"}', 'path:param_key_g=params']) == 0
    opt = yaml.safe_load((OPTIONS / option_file).read_text())
    results = workspace / 'results' / opt['name']
    lines = (results / 'summary.csv').read_text().splitlines()
    assert lines[0].startswith('# versions:') and 'basicsr 1.4.2' in lines[0]
    rows = {r['set']: r for r in csv.DictReader(lines[1:])}
    markdown = (results / 'summary.md').read_text()
    assert all(f'| {name} |' in markdown for name in rows)
    return opt, rows


def input_metrics(workspace, dataset_opt, metric_opts):
    """Per-image metrics of the degraded inputs against the targets, read with BasicSR's PairedImageDataset."""
    opt = dict(dataset_opt, phase='test', scale=1)
    opt['dataroot_gt'] = str(workspace / opt['dataroot_gt'])
    opt['dataroot_lq'] = str(workspace / opt['dataroot_lq'])
    dataset = build_dataset(opt)
    values = {}
    for i in range(len(dataset)):
        item = dataset[i]
        data = dict(img=tensor2img([item['lq']]), img2=tensor2img([item['gt']]))
        values[item['lq_path']] = {n: calculate_metric(data, o) for n, o in metric_opts.items()}
    return values


def mean(values, name):
    return float(np.mean([v[name] for v in values.values()]))


@pytest.mark.parametrize('option_file', ['MPRNet_GoPro.yml', 'MPRNet_GoPro_Local.yml', 'MPRNet_RealBlur-J.yml',
                                         'MPRNet_RealBlur-R.yml'])
def test_single_set_option_files(workspace, monkeypatch, option_file):
    opt, rows = run_option_file(workspace, monkeypatch, option_file)
    dataset_opt = opt['datasets']['test_1']
    row = rows[dataset_opt['name']]
    expected = input_metrics(workspace, dataset_opt, opt['val']['metrics'])
    assert int(row['images']) == len(expected) == (3 if 'RealBlur' in option_file else 4)
    for name in opt['val']['metrics']:
        assert float(row[name]) == pytest.approx(mean(expected, name), rel=1e-9)
    assert 8 < float(row['psnr']) < 40  # degraded inputs: finite, neither perfect nor noise
    assert float(row['paper_psnr']) > 0
    if 'Local' in option_file:  # TLC's published figure for MPRNet-Local, not MPRNet's
        assert float(row['paper_psnr']) == 33.31 and opt['network_g']['type'] == 'MPRNetLocal'


def test_hide_reports_each_subset(workspace, monkeypatch):
    opt, rows = run_option_file(workspace, monkeypatch, 'MPRNet_HIDE.yml')
    assert list(rows) == ['HIDE', 'HIDE close-up', 'HIDE long-shot']
    expected = input_metrics(workspace, opt['datasets']['test_1'], opt['val']['metrics'])
    subsets = json.loads((workspace / 'datasets/HIDE/test/subsets.json').read_text())
    assert len(subsets['close-up']) == len(mini.HIDE_CLOSE_UPS)
    assert len(subsets['long-shot']) == len(mini.HIDE_LONG_SHOTS)
    for subset, keys in subsets.items():
        row = rows[f'HIDE {subset}']
        assert int(row['images']) == len(keys)
        chosen = {k: expected[k] for k in keys}
        for name in opt['val']['metrics']:
            assert float(row[name]) == pytest.approx(mean(chosen, name), rel=1e-9)
    assert float(rows['HIDE']['psnr']) == pytest.approx(mean(expected, 'psnr'), rel=1e-9)
    assert rows['HIDE']['paper_psnr'] == '30.96' and rows['HIDE close-up']['paper_psnr'] == ''


def test_deraining_sets_and_the_mean_of_set_means(workspace, monkeypatch):
    opt, rows = run_option_file(workspace, monkeypatch, 'MPRNet_Rain13K.yml')
    sets = list(mini.RAIN_TEST_SETS)
    assert list(rows) == sets + ['average']
    set_means = []
    for dataset_opt in opt['datasets'].values():
        expected = input_metrics(workspace, dataset_opt, opt['val']['metrics'])
        row = rows[dataset_opt['name']]
        assert float(row['psnr']) == pytest.approx(mean(expected, 'psnr'), rel=1e-9)
        assert float(row['ssim']) == pytest.approx(mean(expected, 'ssim'), rel=1e-9)
        set_means.append((mean(expected, 'psnr'), mean(expected, 'ssim')))
    assert int(rows['Test2800']['images']) == 2  # the known duplicate was dropped by the preparation
    average = rows['average']
    assert float(average['psnr']) == pytest.approx(np.mean([p for p, _ in set_means]), rel=1e-9)
    assert float(average['ssim']) == pytest.approx(np.mean([s for _, s in set_means]), rel=1e-9)
    assert (average['paper_psnr'], average['paper_ssim']) == ('32.73', '0.921')


def test_sidd_float_metrics_come_from_the_saved_float_outputs(workspace, monkeypatch):
    opt, rows = run_option_file(workspace, monkeypatch, 'MPRNet_SIDD.yml')
    row = rows['SIDD']
    assert row['note'] == 'float metrics on unrounded outputs'
    npy_dir = workspace / 'results' / opt['name'] / 'visualization' / 'SIDD'
    assert int(row['images']) == 4 * 8 == len(list(npy_dir.glob('*.npy')))
    expected = input_metrics(workspace, opt['datasets']['test_1'], opt['val']['metrics'])
    for name in ('psnr', 'ssim'):
        assert float(row[name]) == pytest.approx(mean(expected, name), rel=1e-6)


def test_dnd_writes_the_submission_bundle(workspace, monkeypatch):
    from scipy.io import loadmat

    opt, rows = run_option_file(workspace, monkeypatch, 'MPRNet_DND.yml')
    assert int(rows['DND']['images']) == DND_IMAGES * 20
    assert 'submission written' in rows['DND']['note']
    bundle = workspace / 'results' / opt['name'] / 'dnd_submission'
    files = sorted(p.name for p in bundle.glob('*.mat'))
    assert files == [f'{i:04d}.mat' for i in range(1, DND_IMAGES + 1)]
    noisy = mini.dnd_ground_truth_crops(workspace / 'datasets' / 'DND')  # the identity returns the noisy crops
    mat = loadmat(bundle / '0002.mat')
    assert mat['Idenoised'].size == 20 and not mat['israw'].item()
    for k in range(20):
        crop = mat['Idenoised'].reshape(-1)[k]
        np.testing.assert_allclose(crop, noisy[f'0002_{k + 1:02d}'], atol=1e-6)
