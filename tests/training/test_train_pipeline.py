"""BasicSR's real train_pipeline and test_pipeline through ``python -m mprnet_plugin.train/test`` on the CPU."""
import json
import os
import re
import subprocess
import sys
from pathlib import Path
from typing import Dict, List, Sequence, Tuple

import cv2
import numpy as np
import pytest
import torch
import yaml
from tests.helpers.settings import TINY_MPRNET

import mprnet_plugin  # noqa: F401
from mprnet_plugin.compat.basicsr import normalize_local_rank_argv
from mprnet_plugin.data.lmdb_writer import make_paired_lmdb

# One thread per process: the tests' models are tiny, and several processes may share two cores.
SUBPROCESS_ENV = {**os.environ, 'OMP_NUM_THREADS': '1', 'PYTHONWARNINGS': 'ignore'}


def synthetic_pair(rng: np.random.Generator, h: int, w: int) -> Tuple[np.ndarray, np.ndarray]:
    """A (blurred, sharp) BGR uint8 pair: smooth colour texture, Gaussian blur plus a little noise."""
    coarse = rng.uniform(0, 255, size=(max(2, h // 6), max(2, w // 6), 3)).astype(np.float32)
    sharp = cv2.resize(coarse, (w, h), interpolation=cv2.INTER_CUBIC)
    sharp = np.clip(sharp + rng.normal(0, 6, sharp.shape), 0, 255)
    blurred = cv2.GaussianBlur(sharp, (0, 0), 1.5) + rng.normal(0, 2, sharp.shape)
    return np.clip(blurred, 0, 255).round().astype(np.uint8), sharp.round().astype(np.uint8)


def write_folder_pairs(root: Path, sizes: Sequence[Tuple[int, int]], seed: int) -> Tuple[Path, Path]:
    """``root/{input,target}/NNN.png`` pairs of the given sizes; returns the two folders."""
    rng = np.random.default_rng(seed)
    for i, (h, w) in enumerate(sizes):
        for folder, img in zip(('input', 'target'), synthetic_pair(rng, h, w)):
            (root / folder).mkdir(parents=True, exist_ok=True)
            cv2.imwrite(str(root / folder / f'{i:03d}.png'), img)
    return root / 'input', root / 'target'


def write_lmdb_pairs(root: Path, count: int, size: Tuple[int, int], seed: int) -> Tuple[Path, Path]:
    """Input and target LMDBs in BasicSR's format, written by the plugin's LMDB writer."""
    rng = np.random.default_rng(seed)
    pairs = [(f'pair{i:03d}', *synthetic_pair(rng, *size)) for i in range(count)]
    lq, gt = root / 'input.lmdb', root / 'target.lmdb'
    make_paired_lmdb(pairs, lq, gt)
    return lq, gt


def paired_dataset(name: str, lq: Path, gt: Path, phase: str, backend: str = 'disk') -> dict:
    """A ``PairedImageDataset`` section."""
    section = {'name': name, 'type': 'PairedImageDataset', 'dataroot_lq': str(lq), 'dataroot_gt': str(gt),
               'io_backend': {'type': backend}}
    if phase == 'train':
        section.update(gt_size=32, use_hflip=True, use_rot=True, num_worker_per_gpu=0, batch_size_per_gpu=2,
                       dataset_enlarge_ratio=1)
    return section


def train_options(name: str, datasets: Dict[str, dict], total_iter: int, **train_extra) -> dict:
    """A small CPU training recipe for MPRNetModel."""
    return {
        'name': name, 'model_type': 'MPRNetModel', 'scale': 1, 'num_gpu': 0, 'manual_seed': 3,
        'datasets': datasets,
        'network_g': {'type': 'MPRNet', **TINY_MPRNET},
        'path': {'pretrain_network_g': None, 'strict_load_g': True, 'resume_state': None},
        'train': {'optim_g': {'type': 'Adam', 'lr': 1e-3, 'betas': [0.9, 0.999]},
                  'scheduler': {'type': 'LinearWarmupCosineLR', 'warmup_iter': 1, 'eta_min': 1e-6},
                  'total_iter': total_iter, 'pixel_opt': {'type': 'MPRNetLoss'}, **train_extra},
        'val': {'val_freq': 2, 'save_img': False,
                'metrics': {'psnr': {'type': 'calculate_psnr', 'crop_border': 0, 'test_y_channel': False}}},
        'logger': {'print_freq': 1, 'save_checkpoint_freq': 2, 'use_tb_logger': False},
        'dist_params': {'backend': 'nccl', 'port': 29500},
    }


def write_yml(path: Path, opt: dict) -> Path:
    path.write_text(yaml.safe_dump(opt, sort_keys=False), encoding='utf-8')
    return path


def run_module(module: str, args: List[str], cwd: Path, timeout: int = 300) -> subprocess.CompletedProcess:
    """Run ``python -m module args`` in ``cwd``; fail with the end of its output when it does not exit 0."""
    proc = subprocess.run([sys.executable, '-m', module, *args], cwd=cwd, env=SUBPROCESS_ENV, capture_output=True,
                          text=True, timeout=timeout)
    if proc.returncode != 0:
        pytest.fail(f'{module} {" ".join(args)} exited {proc.returncode}:\n{proc.stdout[-3000:]}\n'
                    f'{proc.stderr[-5000:]}')
    return proc


def training_logs(experiment: Path) -> List[str]:
    return [p.read_text() for p in sorted(experiment.glob('train_*.log'))]


def logged_iterations(log: str) -> List[int]:
    return [int(m.replace(',', '')) for m in re.findall(r'iter:\s*([\d,]+), lr', log)]


@pytest.mark.slow
def test_train_on_lmdb_then_auto_resume(tmp_path):
    lq, gt = write_lmdb_pairs(tmp_path / 'train', count=4, size=(40, 48), seed=0)
    val_lq, val_gt = write_folder_pairs(tmp_path / 'val', [(37, 45), (40, 52)], seed=1)
    opt = train_options('lmdb_run', {'train': paired_dataset('tiny_lmdb', lq, gt, 'train', backend='lmdb'),
                                     'val': paired_dataset('tiny_val', val_lq, val_gt, 'val')},
                        total_iter=6, ema_decay=0.5, grad_clip=0.5)
    opt['train']['scheduler']['total_iter'] = 6
    opt['logger']['save_safetensors'] = True  # a .safetensors copy of the weights beside each .pth
    yml = write_yml(tmp_path / 'train.yml', opt)

    # A run stopped at iteration 4 (as if interrupted), then --auto_resume to the planned 6.
    run_module('mprnet_plugin.train', ['-opt', str(yml), '--force_yml', 'train:total_iter=4'], cwd=tmp_path)
    experiment = tmp_path / 'experiments' / 'lmdb_run'
    for n in (2, 4):
        assert (experiment / 'models' / f'net_g_{n}.pth').is_file()
        assert (experiment / 'training_states' / f'{n}.state').is_file()
    saved = torch.load(experiment / 'models' / 'net_g_4.pth', weights_only=True)
    assert set(saved) == {'params', 'params_ema'}
    from safetensors.torch import load_file
    copy = load_file(experiment / 'models' / 'net_g_4.safetensors')  # the EMA weights, what inference uses
    assert set(copy) == set(saved['params_ema'])
    assert all(torch.equal(copy[k], v) for k, v in saved['params_ema'].items())
    assert not any(p.name.startswith('.') for p in (experiment / 'models').iterdir())  # no temporary leftovers
    (first_log,) = training_logs(experiment)
    assert logged_iterations(first_log) == [1, 2, 3, 4]
    assert re.search(r'Validation tiny_val\s+# psnr: \d+\.\d+', first_log)
    for name in ('l_total', 'l_char_0', 'l_char_2', 'l_edge_1'):
        assert f'{name}: ' in first_log

    run_module('mprnet_plugin.train', ['-opt', str(yml), '--auto_resume'], cwd=tmp_path)
    logs = training_logs(experiment)
    assert len(logs) == 2
    resumed = logs[1]
    assert 'Resuming training from epoch' in resumed and 'iter: 4.' in resumed
    assert logged_iterations(resumed) == [5, 6]
    assert (experiment / 'training_states' / '6.state').is_file()
    # The schedule continues where it stopped: iteration 5's lr follows warm-up-then-cosine over 6 iterations.
    lr5 = float(re.search(r'iter:\s*5, lr:\(([\d.e+-]+),\)', resumed).group(1))
    expected = 1e-6 + 0.5 * (1e-3 - 1e-6) * (1 + np.cos(np.pi * (5 - 1) / (6 - 1)))
    assert lr5 == pytest.approx(expected, rel=1e-3)


@pytest.mark.slow
def test_train_on_folders_then_test_any_size(tmp_path):
    lq, gt = write_folder_pairs(tmp_path / 'train', [(40, 40), (48, 56), (44, 40)], seed=2)
    sizes = [(37, 45), (50, 61)]  # not multiples of 8
    test_lq, test_gt = write_folder_pairs(tmp_path / 'test', sizes, seed=3)
    opt = train_options('folder_run', {'train': paired_dataset('tiny_folder', lq, gt, 'train'),
                                       'val': paired_dataset('tiny_val', test_lq, test_gt, 'val')},
                        total_iter=2, optim_g={'type': 'AdamW', 'lr': 1e-3, 'weight_decay': 1e-4})
    opt['val'].update(save_img=True, tile={'size': 32, 'overlap': 8})
    run_module('mprnet_plugin.train', ['-opt', str(write_yml(tmp_path / 'train.yml', opt))], cwd=tmp_path)
    experiment = tmp_path / 'experiments' / 'folder_run'
    checkpoint = experiment / 'models' / 'net_g_latest.pth'
    assert checkpoint.is_file() and (experiment / 'training_states' / '2.state').is_file()
    assert cv2.imread(str(experiment / 'visualization' / '001' / '001_2.png')).shape == (50, 61, 3)

    test_opt = {
        'name': 'folder_test', 'model_type': 'MPRNetModel', 'scale': 1, 'num_gpu': 0, 'manual_seed': 3,
        'datasets': {'test_1': paired_dataset('odd_sizes', test_lq, test_gt, 'test')},
        'network_g': {'type': 'MPRNet', **TINY_MPRNET},
        'path': {'pretrain_network_g': str(checkpoint), 'param_key_g': 'params', 'strict_load_g': True},
        'val': {'save_img': True, 'save_npy': True,
                'metrics': {'psnr': {'type': 'calculate_psnr', 'crop_border': 0, 'test_y_channel': False},
                            'ssim': {'type': 'calculate_ssim', 'crop_border': 0, 'test_y_channel': False}}},
    }
    run_module('mprnet_plugin.test', ['-opt', str(write_yml(tmp_path / 'test.yml', test_opt))], cwd=tmp_path)
    results = tmp_path / 'results' / 'folder_test'
    from basicsr.metrics import calculate_psnr
    record = json.loads((results / 'metrics' / 'odd_sizes.json').read_text())
    assert record['dataset'] == 'odd_sizes' and record['num_images'] == 2
    assert set(record['images']) == {'000', '001'}
    for name, (h, w) in zip(('000', '001'), sizes):
        out = cv2.imread(str(results / 'visualization' / 'odd_sizes' / f'{name}_folder_test.png'))
        assert out.shape == (h, w, 3)
        array = np.load(results / 'visualization' / 'odd_sizes' / f'{name}.npy')
        assert array.shape == (h, w, 3) and array.dtype == np.float32 and 0 <= array.min() <= array.max() <= 1
        # The .npy is the unrounded RGB of the saved 8-bit BGR PNG.
        assert np.abs(array[..., ::-1] * 255 - out).max() <= 0.5 + 1e-3
        target = cv2.imread(str(test_gt / f'{name}.png'))
        assert record['images'][name]['psnr'] == pytest.approx(calculate_psnr(out, target, crop_border=0), abs=1e-6)
    for metric in ('psnr', 'ssim'):
        assert record['metrics'][metric] == pytest.approx(np.mean([v[metric] for v in record['images'].values()]))


def test_old_launcher_local_rank_spelling_is_accepted(tmp_path, monkeypatch):
    assert normalize_local_rank_argv(['-opt', 'a.yml', '--local-rank=1', '--launcher', 'pytorch']) == \
        ['-opt', 'a.yml', '--local_rank=1', '--launcher', 'pytorch']
    assert normalize_local_rank_argv(['--local-rank', '0']) == ['--local_rank', '0']
    # BasicSR's own parser takes the rewritten arguments.
    from basicsr.utils.options import parse_options
    val_lq, val_gt = write_folder_pairs(tmp_path / 'val', [(16, 16)], seed=4)
    yml = write_yml(tmp_path / 'x.yml', {'name': 'x', 'model_type': 'MPRNetModel', 'num_gpu': 0, 'manual_seed': 1,
                                         'datasets': {'test': paired_dataset('t', val_lq, val_gt, 'test')},
                                         'path': {}, 'network_g': {'type': 'MPRNet'}})
    monkeypatch.setattr(sys, 'argv', ['prog', *normalize_local_rank_argv(['-opt', str(yml), '--local-rank=3'])])
    opt, args = parse_options(str(tmp_path), is_train=False)
    assert args.local_rank == 3 and opt['dist'] is False
