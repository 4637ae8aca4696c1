"""mprnet-train / mprnet-test under bad option files: one line naming the option or file, no traceback, exit 2;
``--auto_resume`` past an unreadable state; testing random weights only when asked for."""
import copy
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from tests.training.test_train_pipeline import (SUBPROCESS_ENV, paired_dataset, run_module, train_options,
                                                training_logs, write_folder_pairs, write_yml)

from mprnet_plugin.cli import test as test_cli
from mprnet_plugin.cli import train as train_cli

WORKTREE = Path(__file__).resolve().parents[2]
ENV = {**SUBPROCESS_ENV, 'PYTHONPATH': os.pathsep.join([str(WORKTREE), SUBPROCESS_ENV.get('PYTHONPATH', '')])}


@pytest.fixture(scope='module')
def workspace(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp('launch')
    lq, gt = write_folder_pairs(root / 'train', [(40, 40), (48, 40)], seed=2)
    opt = train_options('good', {'train': paired_dataset('tiny', lq, gt, 'train')}, total_iter=4)
    write_yml(root / 'good.yml', opt)
    return root


def broken(workspace: Path, name: str, edit) -> Path:
    """A copy of the good option file with ``edit`` applied."""
    import yaml
    opt = yaml.safe_load((workspace / 'good.yml').read_text())
    edit(opt)
    return write_yml(workspace / f'{name}.yml', opt)


def run_tool(module: str, args, cwd: Path, env=ENV) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, '-m', module, *args], cwd=cwd, env=env, capture_output=True, text=True,
                          timeout=300)


def set_in(path: str, value):
    def edit(opt):
        *parents, last = path.split('.')
        for key in parents:
            opt = opt[key]
        opt[last] = value
    return edit


# Through the real command in a subprocess: one stderr line naming the option or file, exit 2, no traceback.
SUBPROCESS_CASES = {
    'empty': (None, "is empty; expected a mapping"),
    'unknown_network': (set_in('network_g.type', 'MPRNett'),
                        "network_g.type: 'MPRNett' (text) is not a registered network (did you mean MPRNet?)"),
    'lr_text': (set_in('train.optim_g.lr', 'fast'), "train.optim_g.lr: 'fast' (text); expected a number"),
    'bad_tile': (lambda opt: opt['val'].update(tile={'size': 30}),
                 'val.tile.size: 30; expected a positive multiple of 8'),
}


@pytest.mark.slow
@pytest.mark.parametrize('case', sorted(SUBPROCESS_CASES))
def test_option_errors_are_one_line_through_mprnet_train(workspace, case):
    edit, message = SUBPROCESS_CASES[case]
    if edit is None:
        (workspace / f'{case}.yml').write_text('')
    else:
        broken(workspace, case, edit)
    proc = run_tool('mprnet_plugin.cli.train', ['-opt', f'{case}.yml'], workspace)
    lines = proc.stderr.strip().splitlines()
    assert proc.returncode == 2, proc.stderr
    assert len(lines) == 1 and lines[0].startswith('mprnet-train: error: ') and message in lines[0], proc.stderr
    assert 'Traceback' not in proc.stdout + proc.stderr


@pytest.mark.slow
def test_the_traceback_is_there_when_asked_for(workspace):
    proc = run_tool('mprnet_plugin.train', ['-opt', 'good.yml', '--force_yml', 'train:no_such_key=1'], workspace,
                    env={**ENV, 'MPRNET_TRACEBACK': '1'})
    assert proc.returncode == 2 and 'Traceback' in proc.stderr
    assert proc.stderr.strip().splitlines()[-1].startswith("mprnet-train: error: --force_yml 'train:no_such_key=1'")


# The same checks in this process (cheaper), for the other classes of mistakes.
IN_PROCESS_CASES = {
    'list': (None, 'is a list; expected a mapping'),
    'unknown_loss': (set_in('train.pixel_opt.type', 'NoLoss'),
                     "train.pixel_opt.type: 'NoLoss' (text) is not a registered loss"),
    'total_iter_text': (set_in('train.total_iter', '1e3'), 'YAML reads 1e-4 as text'),
    'num_gpu': (set_in('num_gpu', 64), 'num_gpu: 64, but torch sees'),
    'missing_dataroot': (set_in('datasets.train.dataroot_gt', 'nowhere/target'), "'nowhere/target' does not exist"),
    'batch_text': (set_in('datasets.train.batch_size_per_gpu', 'four'), 'batch_size_per_gpu'),
    'names_differ': (None, "must hold the same file names; '001.png' is in dataroot_gt only"),
    # The tile multiple is the network's own (a depth-4 U-Net halves four times), not MPRNet's 8.
    'tile_unet': (lambda opt: (opt.update(network_g={'type': 'PlainUNet', 'depth': 4, 'base_channels': 4}),
                               opt['val'].update(tile=24)), 'val.tile: 24; expected a positive multiple of 16'),
}


@pytest.mark.parametrize('case', sorted(IN_PROCESS_CASES))
def test_more_option_errors_name_the_option(workspace, monkeypatch, capsys, case):
    monkeypatch.chdir(workspace)
    monkeypatch.setattr(sys, 'argv', ['mprnet-train'])
    edit, message = IN_PROCESS_CASES[case]
    if case == 'list':
        (workspace / 'list.yml').write_text('- name: x\n')
    elif case == 'names_differ':
        (workspace / 'odd' / 'gt').mkdir(parents=True, exist_ok=True)
        (workspace / 'odd' / 'lq').mkdir(parents=True, exist_ok=True)
        (workspace / 'odd' / 'gt' / '001.png').write_bytes((workspace / 'train' / 'target' / '000.png').read_bytes())
        (workspace / 'odd' / 'lq' / '002.png').write_bytes((workspace / 'train' / 'input' / '000.png').read_bytes())
        broken(workspace, case, lambda opt: opt['datasets']['train'].update(dataroot_lq='odd/lq', dataroot_gt='odd/gt'))
    else:
        broken(workspace, case, edit)
    assert train_cli.main(['-opt', f'{case}.yml']) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith('mprnet-train: error: ') and message in err[0]


@pytest.mark.parametrize('force, message', [(['num_gpu'], 'expected key:subkey=value'),
                                            (['a=b=c'], 'expected key:subkey=value'),
                                            (['train:optim_g:momentum=0.9'], 'has no key train:optim_g:momentum')])
def test_force_yml_must_be_well_formed_and_name_existing_keys(workspace, monkeypatch, capsys, force, message):
    monkeypatch.chdir(workspace)
    monkeypatch.setattr(sys, 'argv', ['mprnet-train'])
    assert train_cli.main(['-opt', 'good.yml', '--force_yml', *force]) == 2
    assert message in capsys.readouterr().err


@pytest.mark.slow
def test_a_corrupt_image_in_a_folder_dataset_is_named(workspace):
    lq, gt = write_folder_pairs(workspace / 'corrupt', [(40, 40), (40, 48)], seed=5)
    (lq / '001.png').write_bytes(b'not a png')
    broken(workspace, 'corrupt', lambda opt: opt['datasets']['train'].update(dataroot_lq=str(lq), dataroot_gt=str(gt)))
    proc = run_tool('mprnet_plugin.cli.train', ['-opt', 'corrupt.yml'], workspace)
    assert proc.returncode == 1, proc.stderr
    line = proc.stderr.strip().splitlines()[-1]
    assert line.startswith('mprnet-train: error: ') and f"cannot decode lq '{lq / '001.png'}'" in line
    assert 'Traceback' not in proc.stderr


@pytest.mark.slow
def test_auto_resume_skips_an_unreadable_latest_state(workspace):
    run_module('mprnet_plugin.cli.train', ['-opt', 'good.yml'], cwd=workspace)
    states = workspace / 'experiments' / 'good' / 'training_states'
    assert sorted(p.name for p in states.iterdir()) == ['2.state', '4.state']
    latest = states / '4.state'
    latest.write_bytes(latest.read_bytes()[:100])  # truncated, as by a full disk
    proc = run_module('mprnet_plugin.cli.train', ['-opt', 'good.yml', '--auto_resume', '--force_yml',
                                                  'train:total_iter=5'], cwd=workspace)
    assert f"skipped: training state '{os.path.join('experiments', 'good', 'training_states', '4.state')}' " \
           'cannot be read' in proc.stderr
    log = training_logs(workspace / 'experiments' / 'good')[-1]
    assert 'Resuming training from epoch' in log and 'iter: 2.' in log
    # Every state unreadable: the error names the folder.
    remaining = sorted(states.iterdir())
    remaining[0].write_bytes(b'')
    for state in remaining[1:]:
        state.write_bytes(b'garbage')
    proc = run_tool('mprnet_plugin.cli.train', ['-opt', 'good.yml', '--auto_resume'], workspace)
    assert proc.returncode == 2 and '(an empty file)' in proc.stderr
    assert proc.stderr.strip().splitlines()[-1].startswith(
        f'mprnet-train: error: --auto_resume: none of the {len(remaining)} training state(s)')


def test_testing_random_weights_must_be_asked_for(workspace, monkeypatch, capsys):
    monkeypatch.chdir(workspace)
    monkeypatch.setattr(sys, 'argv', ['mprnet-test'])
    import yaml
    opt = yaml.safe_load((workspace / 'good.yml').read_text())
    test_opt = {k: copy.deepcopy(opt[k]) for k in ('model_type', 'scale', 'num_gpu', 'manual_seed', 'network_g')}
    test_opt.update(name='random', path={'pretrain_network_g': None}, val={'save_img': False, 'metrics': {
        'psnr': {'type': 'calculate_psnr', 'crop_border': 0}}}, datasets={'test_1': paired_dataset(
            'tiny_test', workspace / 'train' / 'input', workspace / 'train' / 'target', 'test')})
    write_yml(workspace / 'random.yml', test_opt)
    assert test_cli.main(['-opt', 'random.yml']) == 2
    assert 'path.pretrain_network_g: null; expected the checkpoint to test' in capsys.readouterr().err
    assert not (workspace / 'results' / 'random').exists()
    test_opt['path']['allow_random_weights'] = True
    write_yml(workspace / 'random.yml', test_opt)
    assert test_cli.main(['-opt', 'random.yml']) == 0
    assert (workspace / 'results' / 'random' / 'summary.md').is_file()
    torch.manual_seed(0)


@pytest.mark.slow
def test_custom_imports_register_a_labs_network_before_training(workspace):
    """``custom_imports`` in a BasicSR option file: the lab's module registers its network, and training runs."""
    env = ENV  # the repository root is on its PYTHONPATH: the lab's module is tests.helpers.lab_restorers

    def use_lab_network(opt):
        opt['name'] = 'lab_net'
        opt['custom_imports'] = ['tests.helpers.lab_restorers']
        opt['network_g'] = {'type': 'LabTwoConvNet', 'channels': 4}
        opt['train']['total_iter'] = 2
    broken(workspace, 'lab_net', use_lab_network)
    proc = run_tool('mprnet_plugin.cli.train', ['-opt', 'lab_net.yml'], workspace, env=env)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert (workspace / 'experiments' / 'lab_net' / 'models' / 'net_g_latest.pth').is_file()

    broken(workspace, 'lab_missing', lambda opt: opt.update(custom_imports=['no_such_lab_module']))
    proc = run_tool('mprnet_plugin.cli.train', ['-opt', 'lab_missing.yml'], workspace, env=env)
    lines = proc.stderr.strip().splitlines()
    assert proc.returncode == 2 and len(lines) == 1, proc.stderr
    assert "custom_imports: module 'no_such_lab_module' failed to import" in lines[0]
