"""Values that used to fail deep inside BasicSR with messages naming nothing are refused by ``mprnet-train`` before
any work, in one line naming the option: LMDBs with different keys (the dataset section, both folders, the first
differing key), ``val.val_freq: 0`` (was "integer modulo by zero"), ``gt_size: 0`` (OpenCV's "!_src.empty()"),
``num_gpu: -1`` (was about ``batch_size=-2``)."""
import sys
from pathlib import Path

import numpy as np
import pytest
import yaml
from tests.training.test_train_pipeline import paired_dataset, train_options, write_yml

from mprnet_plugin.cli import train as train_cli
from mprnet_plugin.config.basicsr_checks import check_option_file
from mprnet_plugin.data.lmdb_writer import make_paired_lmdb, write_lmdb

IMAGE = np.full((40, 40, 3), 90, np.uint8)


@pytest.fixture(scope='module')
def workspace(tmp_path_factory) -> Path:
    """Paired LMDBs (keys a, b, c) and a target LMDB whose keys differ (a, b, d), plus a valid option file."""
    root = tmp_path_factory.mktemp('values')
    pairs = [(key, IMAGE, IMAGE) for key in ('a', 'b', 'c')]
    make_paired_lmdb(pairs, root / 'input.lmdb', root / 'target.lmdb')
    write_lmdb(root / 'other_target.lmdb', [(key, IMAGE) for key in ('a', 'b', 'd')])
    opt = train_options('values', {'train': paired_dataset('pairs', root / 'input.lmdb', root / 'target.lmdb',
                                                           'train', backend='lmdb')}, total_iter=2)
    write_yml(root / 'good.yml', opt)
    return root


def edited(workspace: Path, name: str, edit) -> str:
    opt = yaml.safe_load((workspace / 'good.yml').read_text())
    edit(opt)
    write_yml(workspace / f'{name}.yml', opt)
    return f'{name}.yml'


def set_in(path: str, value):
    def edit(opt):
        *parents, last = path.split('.')
        target = opt
        for key in parents:
            target = target[key]
        target[last] = value
    return edit


CASES = {
    'lmdb_keys_differ': (lambda opt: opt['datasets']['train'].update(dataroot_lq='input.lmdb',
                                                                      dataroot_gt='other_target.lmdb'),
                         "datasets.train: dataroot_lq 'input.lmdb' and dataroot_gt 'other_target.lmdb' hold different "
                         "keys; first difference: 'c' is in dataroot_lq only (1 key(s) only in gt, 1 only in lq)"),
    'lmdb_without_meta_info': (set_in('datasets.train.dataroot_gt', 'plain.lmdb'),
                               "datasets.train.dataroot_gt: 'plain.lmdb' has no meta_info.txt; expected a BasicSR "
                               'LMDB'),
    'lmdb_root_not_named_lmdb': (set_in('datasets.train.dataroot_gt', 'folder'),
                                 "datasets.train.dataroot_gt: 'folder' with io_backend lmdb; expected a folder named "
                                 '*.lmdb'),
    'val_freq_zero': (lambda opt: opt['val'].update(val_freq=0), 'val.val_freq: 0; expected a whole number > 0'),
    'gt_size_zero': (set_in('datasets.train.gt_size', 0), 'datasets.train.gt_size: 0; expected an integer > 0'),
    'num_gpu_negative': (set_in('num_gpu', -1), 'num_gpu: -1; expected an integer >= 0'),
}


@pytest.mark.parametrize('case', sorted(CASES))
def test_mprnet_train_names_the_option(workspace, monkeypatch, capsys, case):
    (workspace / 'plain.lmdb').mkdir(exist_ok=True)
    (workspace / 'folder').mkdir(exist_ok=True)
    monkeypatch.chdir(workspace)
    monkeypatch.setattr(sys, 'argv', ['mprnet-train'])
    edit, message = CASES[case]
    assert train_cli.main(['-opt', edited(workspace, case, edit)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith('mprnet-train: error: ') and message in err[0], err
    assert not (workspace / 'experiments').exists()  # refused before BasicSR made any folder


def test_paired_lmdbs_with_the_same_keys_pass(workspace, monkeypatch):
    monkeypatch.chdir(workspace)
    assert check_option_file(['-opt', 'good.yml'], testing=False) == []
