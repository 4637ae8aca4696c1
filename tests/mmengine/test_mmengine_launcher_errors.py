"""Both MMEngine launchers under the CLI convention: a bad config, ``--cfg-options`` item, flag or file is one line
naming it, exit 2, found before MMEngine's Runner is built; the traceback only with MPRNET_TRACEBACK=1."""
import os
import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np
import pytest
import torch
from mmengine.config import Config

from mprnet_plugin.errors import OptionError
from mprnet_plugin.config.mmengine_checks import check_mmengine_config
from mprnet_plugin.mmengine import launch
from mprnet_plugin.mmengine import test as mm_test
from mprnet_plugin.mmengine import train as mm_train

REPO = Path(__file__).resolve().parents[2]
SHIPPED = sorted((REPO / 'options' / 'mmengine').glob('*.py'))
ENV = {**os.environ, 'OMP_NUM_THREADS': '1', 'PYTHONWARNINGS': 'ignore',
       'PYTHONPATH': os.pathsep.join([str(REPO), os.environ.get('PYTHONPATH', '')])}


@pytest.fixture(scope='module')
def good(tmp_path_factory) -> Path:
    """A tiny config inheriting the GoPro recipe, on two 40x40 pairs in folders."""
    root = tmp_path_factory.mktemp('mm')
    rng = np.random.default_rng(0)
    for folder in ('input', 'target'):
        (root / folder).mkdir()
        for i in range(2):
            cv2.imwrite(str(root / folder / f'{i}.png'), rng.integers(0, 256, (40, 40, 3), np.uint8))
    config = root / 'tiny.py'
    config.write_text(f'''
_base_ = {str(REPO / 'options' / 'mmengine' / 'mprnet_gopro.py')!r}
work_dir = {str(root / 'work')!r}
model = dict(generator=dict(n_feat=8, scale_unetfeats=4, scale_orsnetfeats=4, num_cab=1))
train_dataloader = dict(batch_size=2, num_workers=0, persistent_workers=False,
                        dataset=dict(dataroot_lq={str(root / 'input')!r}, dataroot_gt={str(root / 'target')!r},
                                     gt_size=32))
val_dataloader = dict(num_workers=0, dataset=dict(dataroot_lq={str(root / 'input')!r},
                                                  dataroot_gt={str(root / 'target')!r}))
test_dataloader = val_dataloader
train_cfg = dict(max_iters=2, val_interval=2)
''')
    return config


@pytest.fixture
def no_runner(monkeypatch):
    """Every case must be refused before the Runner is built: building one fails the test."""
    def refuse(cfg):
        raise AssertionError('the Runner was built before the mistake was found')
    monkeypatch.setattr(launch, 'build_runner', refuse)


def one_error_line(capsys, prog: str) -> str:
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith(f'{prog}: error: '), err
    return err[0]


TRAIN_CASES = {
    'batch_size_0': (['--cfg-options', 'train_dataloader.batch_size=0'],
                     'train_dataloader.batch_size: 0 (int); expected an integer >= 1'),
    'num_workers_negative': (['--cfg-options', 'train_dataloader.num_workers=-1'],
                             'train_dataloader.num_workers: -1 (int); expected an integer >= 0'),
    'missing_dataroot': (['--cfg-options', 'train_dataloader.dataset.dataroot_lq=/no/such/input.lmdb'],
                         "train_dataloader.dataset.dataroot_lq: '/no/such/input.lmdb' is not a folder or an LMDB"),
    'accumulative_counts_0': (['--cfg-options', 'optim_wrapper.accumulative_counts=0'],
                              'optim_wrapper.accumulative_counts: 0 (int); expected an integer >= 1'),
    'max_iters_text': (['--cfg-options', 'train_cfg.max_iters=many'], "train_cfg.max_iters: 'many' (text)"),
    'val_interval_0': (['--cfg-options', 'train_cfg.val_interval=0'], 'train_cfg.val_interval: 0 (int)'),
    'checkpoint_interval_0': (['--cfg-options', 'default_hooks.checkpoint.interval=0'],
                              'default_hooks.checkpoint.interval: 0 (int)'),
    'gt_size_not_multiple': (['--cfg-options', 'train_dataloader.dataset.gt_size=30'],
                             'train_dataloader.dataset.gt_size: 30; expected a multiple of 8'),
    'unknown_network': (['--cfg-options', 'model.generator.type=MPRNett'],
                        "model.generator.type: 'MPRNett' is not a registered network"),
    'unknown_model_argument': (['--cfg-options', 'model.tiles=4'], 'model.tiles: not an argument of MPRNetRestorer'),
    'identity_init_text': (['--cfg-options', 'model.identity_init=no'], "model.identity_init: 'no' (text)"),
    'cfg_options_into_a_number': (['--cfg-options', 'train_cfg.max_iters.x=1'],
                                  '--cfg-options train_cfg.max_iters.x=1'),
    'resume_missing': (['--resume', '/no/such/iter_4.pth'], "--resume '/no/such/iter_4.pth' is not a file"),
}


@pytest.mark.parametrize('case', sorted(TRAIN_CASES))
def test_train_mistakes_are_one_line_exit_2_before_the_runner(good, no_runner, capsys, case):
    args, message = TRAIN_CASES[case]
    assert mm_train.main([str(good), *args]) == 2
    assert message in one_error_line(capsys, mm_train.PROG)


def test_a_missing_config_and_a_syntax_error_are_named(tmp_path, no_runner, capsys):
    assert mm_train.main([str(tmp_path / 'nope.py')]) == 2
    assert 'nope.py' in one_error_line(capsys, mm_train.PROG)
    broken = tmp_path / 'broken.py'
    broken.write_text('model = dict(\ntrain_cfg = 3\n')
    assert mm_test.main([str(broken), '--checkpoint', str(broken)]) == 2
    line = one_error_line(capsys, mm_test.PROG)
    assert 'broken.py' in line and 'syntax error at line' in line


def test_fp16_on_the_cpu_is_refused(good, no_runner, capsys):
    if torch.cuda.is_available():
        pytest.skip('this checks the refusal on machines without CUDA')
    assert mm_train.main([str(good), '--amp', 'fp16']) == 2
    assert '--amp fp16 needs a CUDA device' in one_error_line(capsys, mm_train.PROG)


def test_test_launcher_mistakes(good, tmp_path, no_runner, capsys):
    assert mm_test.main([str(good), '--checkpoint', str(tmp_path / 'nope.pth')]) == 2
    assert "--checkpoint '" in one_error_line(capsys, mm_test.PROG)
    weights = tmp_path / 'w.pth'
    weights.write_bytes(b'')
    assert mm_test.main([str(good), '--checkpoint', str(weights), '--cfg-options', 'test_dataloader.batch_size=0']) == 2
    assert 'test_dataloader.batch_size: 0' in one_error_line(capsys, mm_test.PROG)


@pytest.mark.slow
def test_through_the_real_command_no_traceback_unless_asked(good):
    def run(*args, env=ENV):
        return subprocess.run([sys.executable, '-m', 'mprnet_plugin.mmengine.train', str(good), *args], env=env,
                              capture_output=True, text=True, timeout=300)
    proc = run('--cfg-options', 'train_dataloader.batch_size=0')
    assert proc.returncode == 2 and 'Traceback' not in proc.stderr, proc.stderr
    assert proc.stderr.strip().splitlines() == [
        'python -m mprnet_plugin.mmengine.train: error: train_dataloader.batch_size: 0 (int); expected an integer '
        f'>= 1 (in {good})']
    # An item DictAction cannot read is argparse's error: usage, then the line naming --cfg-options.
    proc = run('--cfg-options', 'train_cfg.max_iters')
    assert proc.returncode == 2 and 'Traceback' not in proc.stderr, proc.stderr
    assert '--cfg-options' in proc.stderr.strip().splitlines()[-1]
    proc = run('--cfg-options', 'optim_wrapper.accumulative_counts=0', env={**ENV, 'MPRNET_TRACEBACK': '1'})
    assert proc.returncode == 2 and 'Traceback' in proc.stderr
    proc = run('--version')
    assert proc.returncode == 0 and 'mprnet_plugin' in proc.stdout


@pytest.mark.parametrize('path', SHIPPED, ids=lambda p: p.name)
def test_the_shipped_configs_pass(path):
    cfg = Config.fromfile(str(path))
    check_mmengine_config(cfg, 'train', str(path), check_paths=False)
    cfg.model.pretrained = None
    check_mmengine_config(cfg, 'test', str(path), check_paths=False)


def test_the_check_refuses_what_the_runner_would_fail_on():
    cfg = Config.fromfile(str(SHIPPED[0]))
    cfg.train_dataloader.batch_size = True  # a boolean is not a batch size
    with pytest.raises(OptionError, match='train_dataloader.batch_size: True'):
        check_mmengine_config(cfg, 'train', check_paths=False)
