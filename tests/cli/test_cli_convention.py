"""Every console script and both MMEngine launchers follow the one CLI convention: a bad flag is an error line and
exit 2, ``--version`` answers, and Ctrl-C is one line and exit 130 (no tracebacks, from workers neither)."""
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

from mprnet_plugin.cli import memory as memory_cli
from tests.helpers.miniature_datasets import make_gopro

REPO = Path(__file__).resolve().parents[2]
ENV = {**os.environ, 'OMP_NUM_THREADS': '1', 'PYTHONWARNINGS': 'ignore',
       'PYTHONPATH': os.pathsep.join([str(REPO), os.environ.get('PYTHONPATH', '')])}


def console_scripts():
    """The ``name = module:function`` entries of setup.py, as (name, module)."""
    text = (REPO / 'setup.py').read_text()
    return re.findall(r"'(mprnet-[a-z]+) = ([\w.]+):main'", text)


COMMANDS = console_scripts() + [('python -m mprnet_plugin.mmengine.train', 'mprnet_plugin.mmengine.train'),
                                ('python -m mprnet_plugin.mmengine.test', 'mprnet_plugin.mmengine.test')]


def python_m(module: str, *args: str, **kwargs) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, '-m', module, *args], env=ENV, capture_output=True, text=True,
                          timeout=300, **kwargs)


def test_there_are_eleven_console_scripts():
    assert len(console_scripts()) == 11


@pytest.mark.slow
@pytest.mark.parametrize('prog,module', COMMANDS, ids=[name for name, _ in COMMANDS])
def test_a_bad_flag_is_an_error_line_exit_2_and_version_answers(prog, module, tmp_path):
    proc = python_m(module, '--no-such-flag', cwd=tmp_path)
    assert proc.returncode == 2, proc.stderr
    assert 'Traceback' not in proc.stderr
    last = proc.stderr.strip().splitlines()[-1]
    assert re.match(r'\S.*: error: ', last), proc.stderr  # argparse may name a missing required option first
    version = python_m(module, '--version', cwd=tmp_path)
    assert version.returncode == 0 and '(mprnet_plugin)' in version.stdout, version.stderr


@pytest.mark.slow
def test_ctrl_c_during_prep_is_one_line_exit_130_without_worker_tracebacks(tmp_path):
    src = make_gopro(tmp_path / 'raw', size=(256, 384), frames=6).parent
    dst = tmp_path / 'GoPro'
    # Its own process group, as a terminal's foreground job: Ctrl-C reaches the main process and every worker.
    proc = subprocess.Popen([sys.executable, '-m', 'mprnet_plugin.cli.prep', 'gopro', '--src', str(src), '--dst',
                             str(dst), '--workers', '2', '--crop-size', '32', '--step', '8'], env=ENV,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True)
    deadline = time.time() + 120
    while not (dst.exists() and any(dst.rglob('.*.tmp-*'))):  # encoding has started (an atomic output is open)
        assert proc.poll() is None and time.time() < deadline, 'prep ended before it could be interrupted'
        time.sleep(0.2)
    time.sleep(1.0)  # the pool's workers are busy now
    os.killpg(proc.pid, signal.SIGINT)
    out, err = proc.communicate(timeout=120)
    assert proc.returncode == 130, err[-3000:]
    assert 'Traceback' not in err and 'KeyboardInterrupt' not in err, err[-3000:]
    errors = [line for line in err.splitlines() if ': error: ' in line]
    assert errors == ['mprnet-prep: error: interrupted'], err[-3000:]
    assert not list(dst.rglob('.*.tmp-*')), 'a half-written output was left'


def memory_option_file(path: Path) -> Path:
    """A whole tiny training file for mprnet-memory (its data folders are not read)."""
    import yaml
    opt = {'name': 'tiny', 'model_type': 'MPRNetModel', 'num_gpu': 0, 'scale': 1,
           'datasets': {'train': {'name': 'tiny', 'type': 'PairedImageDataset', 'dataroot_lq': 'lq',
                                  'dataroot_gt': 'gt', 'io_backend': {'type': 'disk'}, 'gt_size': 32,
                                  'batch_size_per_gpu': 2, 'num_worker_per_gpu': 0}},
           'network_g': {'type': 'MPRNet', 'n_feat': 8, 'scale_unetfeats': 4, 'scale_orsnetfeats': 4, 'num_cab': 1},
           'path': {'pretrain_network_g': None},
           'train': {'optim_g': {'type': 'Adam', 'lr': 2e-4}, 'pixel_opt': {'type': 'MPRNetLoss'}, 'total_iter': 10},
           'logger': {'print_freq': 1, 'save_checkpoint_freq': 10, 'use_tb_logger': False}}
    path.write_text(yaml.safe_dump(opt))
    return path


@pytest.mark.parametrize('value', ['inf', 'nan', '0', '-3'])
def test_memory_refuses_a_gpu_memory_that_is_not_a_positive_number(value, tmp_path, capsys):
    with pytest.raises(SystemExit) as exit_info:
        memory_cli.main(['-opt', str(memory_option_file(tmp_path / 'm.yml')), '--gpu-memory', value])
    assert exit_info.value.code == 2
    assert '--gpu-memory must be finite positive numbers' in capsys.readouterr().err


def test_memory_out_of_memory_is_an_answer_not_a_traceback(tmp_path, capsys, monkeypatch):
    def out_of_memory(*args, **kwargs):
        raise torch.cuda.OutOfMemoryError('CUDA out of memory. Tried to allocate 20.00 GiB')
    monkeypatch.setattr(memory_cli, '_measure', out_of_memory)
    assert memory_cli.main(['-opt', str(memory_option_file(tmp_path / 'm.yml')), '--device', 'cpu']) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith('mprnet-memory: error: one training step does not fit'), err
    assert '2x3x32x32 micro-batch' in err[0]
