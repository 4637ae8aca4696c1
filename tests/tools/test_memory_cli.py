"""mprnet-memory: one real training step of an option file, its peak, and what fits; nothing written to disk."""
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
import torch
import yaml
from tests.helpers.settings import TINY_MPRNET

import mprnet_plugin
from mprnet_plugin.cli import memory as memory_cli
from mprnet_plugin.tools.train_memory import StepMeasurement, plan_fits

ROOT = Path(__file__).resolve().parents[2]
MIB = 1024 ** 2


def _option_file(path: Path, num_gpu: int = 0, **train) -> Path:
    # A whole training file: mprnet-memory checks it against the declared schema first, as mprnet-train does
    # (the data folders are not read: only the step is run).
    opt = {
        'name': 'tiny', 'model_type': 'MPRNetModel', 'num_gpu': num_gpu, 'scale': 1,
        'datasets': {'train': {'name': 'tiny', 'type': 'PairedImageDataset', 'dataroot_lq': 'lq', 'dataroot_gt': 'gt',
                               'io_backend': {'type': 'disk'}, 'gt_size': 32, 'batch_size_per_gpu': 2,
                               'num_worker_per_gpu': 0}},
        'network_g': {'type': 'MPRNet', **TINY_MPRNET, 'grad_checkpointing': 'cab'},
        'path': {'pretrain_network_g': None},
        'train': {'optim_g': {'type': 'Adam', 'lr': 2e-4}, 'pixel_opt': {'type': 'MPRNetLoss'}, 'total_iter': 10,
                  **train},
        'logger': {'print_freq': 1, 'save_checkpoint_freq': 10, 'use_tb_logger': False},
    }
    path.write_text(yaml.safe_dump(opt))
    return path


def _run(args, cwd):
    env = dict(os.environ, PYTHONPATH=str(ROOT), OMP_NUM_THREADS='1')
    return subprocess.run([sys.executable, '-m', 'mprnet_plugin.cli.memory', *args], cwd=cwd, env=env,
                          capture_output=True, text=True, timeout=600)


def _mib(text: str) -> float:
    value, unit = text.split()
    return float(value) * (1024 if unit == 'GiB' else 1)


@pytest.mark.slow
def test_measures_a_step_and_plans_a_gpu_without_writing_files(tmp_path):
    yml = _option_file(tmp_path / 'tiny.yml', grad_accumulation=2)
    cwd = tmp_path / 'cwd'
    cwd.mkdir()
    result = _run(['-opt', str(yml), '--device', 'cpu', '--gpu-memory', '0.05'], cwd)
    assert result.returncode == 0, result.stderr
    out = result.stdout
    assert 'grad_checkpointing cab' in out and '1x32x32 micro-batch' in out and '1 of 2 micro-batches' in out
    peak = re.search(r'peak tensor memory of a step: ([\d.]+ [MG]iB)', out)
    assert peak and _mib(peak.group(1)) > 0
    per_sample = {(m.group(1), m.group(2)): _mib(m.group(3))
                  for m in re.finditer(r'^  (false|cab|stage) +(none|bf16) +([\d.]+ [MG]iB)', out, re.M)}
    assert per_sample.keys() == {(level, amp) for level in ('false', 'cab', 'stage') for amp in ('none', 'bf16')}
    for amp in ('none', 'bf16'):
        assert per_sample[('stage', amp)] < per_sample[('cab', amp)] < per_sample[('false', amp)]
    # bf16 is measured on the CPU too (under CPU autocast), not assumed
    assert 'measured on cpu; bf16: under cpu bf16 autocast' in out and 'CUDA-only' not in out
    assert per_sample[('false', 'bf16')] < per_sample[('false', 'none')]
    assert re.search(r'recommended: network_g.grad_checkpointing: \w+, datasets.train.batch_size_per_gpu: 16, '
                     r'train.grad_accumulation: \d+, train.amp: (none|bf16)', out)
    assert 'derived' in out and 'measured' in out
    assert list(cwd.iterdir()) == []
    assert sorted(p.name for p in tmp_path.iterdir()) == ['cwd', 'tiny.yml']


def test_bf16_is_measured_on_the_cpu_and_the_default_plan_covers_common_gpus(tmp_path):
    yml = _option_file(tmp_path / 'bf16.yml', amp='bf16')
    result = _run(['-opt', str(yml), '--device', 'cpu', '--gpu-memory'], tmp_path)
    assert result.returncode == 0, result.stderr
    out = result.stdout
    assert '2x32x32 micro-batch' in out and 'bf16 (autocast on cpu), on cpu' in out and 'CUDA-only' not in out
    summary = out[out.index('summary: the recommended settings'):]
    assert re.findall(r'^ +(\d+) GiB ', summary, re.M) == ['12', '16', '24', '40', '80']
    assert out.count('recommended: ') == 5


def test_fp16_is_measured_in_bf16_on_the_cpu_and_says_so(tmp_path):
    yml = _option_file(tmp_path / 'fp16.yml', num_gpu=1, amp='fp16')  # a GPU recipe, planned on a CPU
    result = _run(['-opt', str(yml), '--device', 'cpu'], tmp_path)
    assert result.returncode == 0, result.stderr
    assert 'train.amp fp16 is CUDA-only: measured under bf16 autocast on the CPU here' in result.stdout


def test_version(capsys):
    with pytest.raises(SystemExit) as exit_info:
        memory_cli.main(['--version'])
    assert exit_info.value.code == 0
    assert capsys.readouterr().out.strip() == f'mprnet-memory (mprnet_plugin) {mprnet_plugin.__version__}'


@pytest.mark.parametrize('train, network, expected', [
    ({'grad_accumulation': 3}, {}, 'train.grad_accumulation: 3 does not divide datasets.train.batch_size_per_gpu 2'),
    ({'grad_accumulation': 0}, {}, 'train.grad_accumulation: 0; expected an integer >= 1'),
    ({}, {'grad_checkpointing': 'layers'},
     "network_g.grad_checkpointing: 'layers' (text); expected false, true, 'cab' or 'stage'"),
    ({'amp': 'fp8'}, {}, "train.amp: 'fp8' (text); expected one of"),
    ({}, {'preset': 'sharpening'}, "network_g.preset: 'sharpening' (text); expected one of"),
])
def test_bad_options_are_one_line_and_exit_2(tmp_path, capsys, train, network, expected):
    yml = _option_file(tmp_path / 'bad.yml', **train)
    opt = yaml.safe_load(yml.read_text())
    opt['network_g'].update(network)
    yml.write_text(yaml.safe_dump(opt))
    assert memory_cli.main(['-opt', str(yml), '--device', 'cpu']) == 2
    err = capsys.readouterr().err
    assert expected in err and err.count('\n') == 1


@pytest.mark.parametrize('content, expected', [
    (None, 'does not exist'),
    ('network_g: [unclosed', 'is not valid YAML'),
    ('- a list', 'expected a mapping of options'),
    ('network_g: {type: MPRNet}\ntrain: {optim_g: {type: Adam, lr: 1}}\n', 'name: missing'),
])
def test_missing_or_invalid_file(tmp_path, capsys, content, expected):
    yml = tmp_path / 'opt.yml'
    if content is not None:
        yml.write_text(content)
    assert memory_cli.main(['-opt', str(yml)]) == 2
    err = capsys.readouterr().err
    assert expected in err and str(yml) in err and err.count('\n') == 1


def test_bad_arguments_exit_2(capsys):
    for args in (['-opt', 'x.yml', '--gpu-memory', '0'], ['-opt', 'x.yml', '--batch', '0']):
        with pytest.raises(SystemExit) as exit_info:
            memory_cli.main(args)
        assert exit_info.value.code == 2


def test_plans_are_derived_from_per_sample_figures():
    gib = 1024 ** 3
    # batch-1 steps: 1 GiB weights, 2 GiB Adam state, 4 / 1 GiB per sample
    none = StepMeasurement(peak_bytes=7 * gib, optimizer_peak_bytes=4 * gib, seconds=1.0, micro_batch=1,
                           parameter_bytes=gib, optimizer_state_bytes=2 * gib)
    assert none.per_sample_bytes == 4 * gib and none.need_bytes(4) == 19 * gib
    stage = StepMeasurement(4 * gib, 4 * gib, 1.6, 1, gib, 2 * gib)
    plans = plan_fits({(None, None): none, ('stage', None): stage}, 16, 24 * gib)
    # 90% of 24 GiB: without checkpointing a micro-batch of 4 (19 GiB); stage takes all 16 at once (19 GiB)
    assert [(p.level, p.accumulation, p.micro_batch) for p in plans] == [(None, 4, 4), ('stage', 1, 16)]
    assert plan_fits({(None, None): none}, 16, 4 * gib) == []


@pytest.mark.slow
def test_measured_step_counts_the_weights_and_optimizer_state():
    from mprnet_plugin.tools.train_memory import build_network, build_pixel_loss, measure_training_step
    net = build_network({'type': 'MPRNet', **TINY_MPRNET})
    m = measure_training_step(net, build_pixel_loss({'type': 'MPRNetLoss'}), {'type': 'Adam', 'lr': 1e-4}, 1, 32,
                              torch.device('cpu'))
    params = sum(p.numel() * 4 for p in net.parameters())
    assert m.parameter_bytes == params and m.optimizer_state_bytes == 2 * params
    assert m.peak_bytes > 4 * params  # weights + state + gradients + activations
