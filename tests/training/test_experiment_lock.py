"""A training run holds a lock on experiments/<name>: a second mprnet-train of the same name, started while the first
runs, is refused (one line naming the folder and the running PID, exit 2) and never renames the live run's folder; a
lock file left by a process that died blocks nobody."""
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import cv2
import numpy as np
import pytest
import yaml

from mprnet_plugin.runtime.run_lock import RunLock, RunLockedError, lock_path

pytestmark = pytest.mark.slow  # real processes and a training run
WORKTREE = Path(__file__).resolve().parents[2]
ENV = {**os.environ, 'OMP_NUM_THREADS': '1', 'PYTHONWARNINGS': 'ignore',
       'PYTHONPATH': os.pathsep.join([str(WORKTREE), os.environ.get('PYTHONPATH', '')])}
HOLDER = ('import sys, time\n'
          'from mprnet_plugin.runtime.run_lock import RunLock\n'
          'lock = RunLock(sys.argv[1]).acquire()  # kept: a closed file lets the lock go\n'
          'print("locked", flush=True)\n'
          'time.sleep(300)\n')


def write_options(root: Path, name: str) -> Path:
    """A tiny CPU training option file (two pairs, one iteration, MPRNet of width 8)."""
    rng = np.random.default_rng(0)
    for folder in ('input', 'target'):
        (root / 'data' / folder).mkdir(parents=True, exist_ok=True)
        for i in range(2):
            cv2.imwrite(str(root / 'data' / folder / f'{i:03d}.png'), rng.integers(0, 256, (40, 40, 3), np.uint8))
    opt = {
        'name': name, 'model_type': 'MPRNetModel', 'scale': 1, 'num_gpu': 0, 'manual_seed': 3,
        'datasets': {'train': {'name': 'tiny', 'type': 'PairedImageDataset', 'dataroot_lq': str(root / 'data/input'),
                               'dataroot_gt': str(root / 'data/target'), 'io_backend': {'type': 'disk'},
                               'gt_size': 32, 'use_hflip': True, 'use_rot': True, 'num_worker_per_gpu': 0,
                               'batch_size_per_gpu': 2, 'dataset_enlarge_ratio': 1}},
        'network_g': {'type': 'MPRNet', 'n_feat': 8, 'scale_unetfeats': 4, 'scale_orsnetfeats': 4, 'num_cab': 1},
        'path': {'pretrain_network_g': None, 'strict_load_g': True, 'resume_state': None},
        'train': {'optim_g': {'type': 'Adam', 'lr': 1e-3, 'betas': [0.9, 0.999]}, 'total_iter': 1,
                  'pixel_opt': {'type': 'MPRNetLoss'}},
        'logger': {'print_freq': 1, 'save_checkpoint_freq': 1, 'use_tb_logger': False},
        'dist_params': {'backend': 'nccl', 'port': 29500},
    }
    path = root / f'{name}.yml'
    path.write_text(yaml.safe_dump(opt, sort_keys=False), encoding='utf-8')
    return path


def start_holder(root: Path, folder: str) -> subprocess.Popen:
    """A real second process holding the lock of ``root/folder``, as a running training does."""
    proc = subprocess.Popen([sys.executable, '-c', HOLDER, folder], cwd=root, env=ENV, stdout=subprocess.PIPE,
                            text=True)
    assert proc.stdout.readline().strip() == 'locked'
    return proc


def mprnet_train(root: Path, opt: Path) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, '-m', 'mprnet_plugin.cli.train', '-opt', str(opt)], cwd=root, env=ENV,
                          capture_output=True, text=True, timeout=300)


def test_a_second_run_of_a_live_name_is_refused_and_renames_nothing(tmp_path):
    opt = write_options(tmp_path, 'live')
    live = tmp_path / 'experiments' / 'live'
    (live / 'models').mkdir(parents=True)
    (live / 'models' / 'net_g_1.pth').write_bytes(b'the first run is writing this')
    holder = start_holder(tmp_path, 'experiments/live')
    try:
        proc = mprnet_train(tmp_path, opt)
    finally:
        holder.kill()
        holder.wait()
    lines = proc.stderr.strip().splitlines()
    assert proc.returncode == 2, proc.stderr
    assert len(lines) == 1 and lines[0].startswith('mprnet-train: error: '), proc.stderr
    assert 'experiments/live' in lines[0] and f'PID {holder.pid}' in lines[0], lines[0]
    assert 'Traceback' not in proc.stdout + proc.stderr
    # The live run's folder is where it was, as it was; nothing was archived beside it.
    assert (live / 'models' / 'net_g_1.pth').read_bytes() == b'the first run is writing this'
    assert sorted(p.name for p in (tmp_path / 'experiments').iterdir()) == ['.live.lock', 'live']


def test_a_lock_file_left_by_a_dead_process_blocks_nobody(tmp_path):
    opt = write_options(tmp_path, 'crashed')
    holder = start_holder(tmp_path, 'experiments/crashed')
    holder.send_signal(signal.SIGKILL)  # a crash: no clean-up ran, the lock file stays
    holder.wait()
    assert lock_path(tmp_path / 'experiments' / 'crashed').is_file()
    proc = mprnet_train(tmp_path, opt)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert (tmp_path / 'experiments' / 'crashed' / 'models' / 'net_g_1.pth').is_file()
    # The finished run let the lock go: this process can take it now.
    with RunLock(tmp_path / 'experiments' / 'crashed'):
        pass


def test_the_lock_is_exclusive_between_processes_and_names_the_holder(tmp_path):
    holder = start_holder(tmp_path, 'experiments/x')
    try:
        with pytest.raises(RunLockedError, match=rf'experiments/x is in use by a running process \(PID {holder.pid}'):
            RunLock(tmp_path / 'experiments' / 'x', 'experiments/x').acquire()
    finally:
        holder.kill()
        holder.wait()
    deadline = time.time() + 10
    while True:  # the OS lets the lock go as soon as the holder is gone
        try:
            RunLock(tmp_path / 'experiments' / 'x').acquire().release()
            break
        except RunLockedError:
            assert time.time() < deadline
            time.sleep(0.1)
