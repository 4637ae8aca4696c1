"""Two CPU processes started by torchrun train and validate MPRNet with MMEngine over gloo."""
from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest
from tests.helpers.mmengine_fixtures import make_lmdb_data, write_tiny_config

from mprnet_plugin.checkpoints import build_mprnet_from_checkpoint
from mprnet_plugin.mmengine import test as mm_test

pytestmark = pytest.mark.slow  # see tests/README.md


def test_torchrun_two_processes_on_cpu(tmp_path):
    data = make_lmdb_data(tmp_path / 'data')
    work_dir = tmp_path / 'work'
    config = write_tiny_config(tmp_path / 'dist.py', data, work_dir, max_iters=2, interval=2)
    env = dict(os.environ, OMP_NUM_THREADS='1', CUDA_VISIBLE_DEVICES='')
    cmd = [sys.executable, '-m', 'torch.distributed.run', '--standalone', '--nproc_per_node=2',
           '-m', 'mprnet_plugin.mmengine.train', str(config), '--launcher', 'pytorch']
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=600)
    log = proc.stdout + proc.stderr
    assert proc.returncode == 0, log[-4000:]
    assert 'Distributed training: True' in log and 'AnyDeviceDistributedDataParallel' in log
    assert build_mprnet_from_checkpoint(work_dir / 'iter_2.pth') is not None

    # Validation ran on both ranks (one image each) and was gathered: the same mean as one process on both images.
    rows = [json.loads(line) for path in work_dir.glob('*/vis_data/scalars.json')
            for line in path.read_text().splitlines()]
    val = [r for r in rows if 'psnr' in r]
    assert len(val) == 1 and val[0]['step'] == 2
    single = mm_test.run_test([str(config), '--checkpoint', str(work_dir / 'iter_2.pth'),
                           '--work-dir', str(tmp_path / 'single')])
    assert single['psnr'] == pytest.approx(val[0]['psnr'], abs=1e-4)
    assert single['ssim'] == pytest.approx(val[0]['ssim'], abs=1e-4)
