"""``mprnet-test`` with one of BasicSR's own models (SRModel + EDSR): the sets are scored and the summary written.

BasicSR's models keep each set's means in memory only; the record hook installed with the host fixes writes them
where the summary reads them. The figures are checked against EDSR's outputs scored independently here.
"""
import csv
import json
import os
import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np
import pytest
import torch
import yaml

import mprnet_plugin  # noqa: F401  isort: skip  (host fixes before basicsr loads)
from basicsr.archs import build_network
from basicsr.metrics import calculate_metric
from basicsr.utils import img2tensor, tensor2img

pytestmark = pytest.mark.slow  # see tests/README.md

REPO = Path(__file__).resolve().parents[2]
EDSR = dict(type='EDSR', num_in_ch=3, num_out_ch=3, num_feat=8, num_block=1, upscale=1)
METRICS = {'psnr': {'type': 'calculate_psnr', 'crop_border': 0, 'test_y_channel': False},
           'ssim': {'type': 'calculate_ssim', 'crop_border': 0, 'test_y_channel': False},
           'psnr_float': {'type': 'calculate_psnr_sidd_float'}}


def _pairs(root: Path, count: int = 3):
    rng = np.random.default_rng(5)
    for sub in ('gt', 'lq'):
        (root / sub).mkdir(parents=True)
    for i in range(count):
        gt = cv2.GaussianBlur(rng.integers(0, 256, (20 + 4 * i, 24, 3), dtype=np.uint8), (5, 5), 1.5)
        lq = np.clip(gt.astype(np.int16) + rng.integers(-12, 13, gt.shape), 0, 255).astype(np.uint8)
        cv2.imwrite(str(root / 'gt' / f'im{i}.png'), gt)
        cv2.imwrite(str(root / 'lq' / f'im{i}.png'), lq)


def _expected(net, root: Path):
    values = {}
    for lq_path in sorted((root / 'lq').iterdir()):
        lq = img2tensor(cv2.imread(str(lq_path)).astype(np.float32) / 255.0).unsqueeze(0)
        with torch.no_grad():
            out = tensor2img(net(lq))
        gt = cv2.imread(str(root / 'gt' / lq_path.name))
        values[lq_path.stem] = {n: calculate_metric(dict(img=out, img2=gt), o) for n, o in METRICS.items()}
    return values


def test_srmodel_with_edsr_writes_the_summary_and_exits_0(tmp_path):
    _pairs(tmp_path / 'data')
    torch.manual_seed(0)
    net = build_network(EDSR).eval()
    torch.save({'params': net.state_dict()}, tmp_path / 'edsr.pth')
    opt = {
        'name': 'edsr_tiny', 'model_type': 'SRModel', 'scale': 1, 'num_gpu': 0, 'manual_seed': 0,
        'datasets': {'test_1': {'name': 'Tiny', 'type': 'PairedImageDataset', 'io_backend': {'type': 'disk'},
                                'dataroot_gt': str(tmp_path / 'data/gt'), 'dataroot_lq': str(tmp_path / 'data/lq')}},
        'network_g': EDSR,
        'path': {'pretrain_network_g': str(tmp_path / 'edsr.pth'), 'param_key_g': 'params', 'strict_load_g': True},
        'val': {'save_img': False, 'metrics': METRICS},
    }
    (tmp_path / 'edsr.yml').write_text(yaml.safe_dump(opt), encoding='utf-8')
    env = dict(os.environ, PYTHONPATH=str(REPO), OMP_NUM_THREADS='1')
    run = subprocess.run([sys.executable, '-m', 'mprnet_plugin.test', '-opt', str(tmp_path / 'edsr.yml')],
                         cwd=tmp_path, env=env, capture_output=True, text=True, timeout=600)
    assert run.returncode == 0, run.stderr[-3000:]

    results = tmp_path / 'results' / 'edsr_tiny'
    record = json.loads((results / 'metrics' / 'Tiny.json').read_text())
    assert record['scored_by'] == 'SRModel' and record['num_images'] == 3 and record['images'] == {}
    assert record['mprnet_plugin_version'] == mprnet_plugin.__version__
    lines = (results / 'summary.csv').read_text().splitlines()
    row = next(csv.DictReader(lines[1:]))
    expected = _expected(net, tmp_path / 'data')
    for name in METRICS:
        assert float(row[name]) == pytest.approx(np.mean([v[name] for v in expected.values()]), rel=1e-9)
    assert row['set'] == 'Tiny' and row['images'] == '3'
    assert row['note'] == 'float metrics on 8-bit outputs (SRModel rounds them)'
    assert 'Summary of edsr_tiny' in run.stdout
