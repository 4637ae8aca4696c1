"""bf16 on the CPU as an inference path: Restorer, mprnet-infer, mprnet-test (val.precision), mprnet-compare and the
MMEngine test launcher take it; fp16 on the CPU is refused in one line; fp32 stays the default."""
import json
import logging
import math
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
import yaml
from tests.helpers.settings import TINY_MPRNET

import mprnet_plugin  # noqa: F401  isort: skip  (host fixes before basicsr loads)
import tests.helpers.miniature_datasets as mini
from mprnet_plugin import Restorer
from mprnet_plugin.cli import infer as infer_cli
from mprnet_plugin.cli.prep import main as prep
from mprnet_plugin.config.basicsr_schema import validate_basicsr_options
from mprnet_plugin.errors import OptionError
from mprnet_plugin.io.images import read_image, write_image
from mprnet_plugin.mmengine.model import MPRNetRestorer
from mprnet_plugin.mmengine import test as mmengine_test
from mprnet_plugin.mmengine.test import parse_args as mmengine_test_args
from mprnet_plugin.runtime import precision as precision_module
from mprnet_plugin.test import main as run_test
from mprnet_plugin.tools.compare.evaluation import evaluate_network
from mprnet_plugin.tools.compare.options import CompareOptionError, parse_compare_options

CPU = torch.device('cpu')
OPTIONS = Path(__file__).resolve().parents[2] / 'options'


@pytest.fixture(scope='module', autouse=True)
def _one_thread(single_torch_thread):
    # Tiny images: torch's thread pool only adds contention on a shared 2-core machine (seen: 100x slower).
    yield


def psnr(a: torch.Tensor, b: torch.Tensor) -> float:
    return 10 * math.log10(1 / float(((a.clamp(0, 1) - b.clamp(0, 1)) ** 2).mean()))


# ------------------------------------------------------------------------------------------------ Restorer
def test_restorer_bf16_on_the_cpu_is_float32_and_close_to_fp32(net):
    x = torch.rand(1, 3, 40, 56)
    fp32 = Restorer(net, device='cpu').restore_tensor(x)
    bf16 = Restorer(net, device='cpu', precision='bf16').restore_tensor(x)
    assert bf16.dtype == torch.float32 and bf16.shape == x.shape
    assert not torch.equal(bf16, fp32)  # autocast really ran
    assert psnr(bf16, fp32) > 35


def test_restorer_refuses_fp16_on_the_cpu_in_one_line(net):
    with pytest.raises(ValueError, match='fp16 runs on CUDA only') as info:
        Restorer(net, device='cpu', precision='fp16')
    assert '\n' not in str(info.value)


def test_bf16_on_a_cpu_without_native_bf16_warns_that_it_is_slow(net, monkeypatch):
    monkeypatch.setattr(precision_module, 'cpu_has_native_bf16', lambda: False)
    said = []
    Restorer(net, device='cpu', precision='bf16', notify=said.append)
    assert len(said) == 1 and 'without native bf16' in said[0] and 'slower' in said[0]
    said.clear()
    monkeypatch.setattr(precision_module, 'cpu_has_native_bf16', lambda: True)
    Restorer(net, device='cpu', precision='bf16', notify=said.append)
    assert said == []


# ------------------------------------------------------------------------------------------------ mprnet-infer
@pytest.fixture()
def photo(tmp_path):
    rng = np.random.default_rng(0)
    write_image(tmp_path / 'in' / 'photo.png', rng.integers(0, 256, (37, 45, 3), dtype=np.uint8))
    write_image(tmp_path / 'in' / 'other.png', rng.integers(0, 256, (24, 32, 3), dtype=np.uint8))
    return tmp_path / 'in' / 'photo.png'


def infer(*args) -> int:
    return infer_cli.main([str(a) for a in args])


def test_mprnet_infer_bf16_on_the_cpu_writes_what_the_restorer_gives(net, weights, photo, tmp_path, caplog):
    with caplog.at_level(logging.INFO, logger='mprnet_plugin'):
        assert infer('--weights', weights, '--input', photo, '--output', tmp_path / 'out', '--device', 'cpu',
                     '--precision', 'bf16') == 0
    assert 'precision bf16' in caplog.text and 'would restore about' not in caplog.text
    expected = Restorer(net, device='cpu', precision='bf16')(read_image(photo), bgr=True)
    assert np.array_equal(read_image(tmp_path / 'out' / 'photo.png'), expected)


def test_mprnet_infer_says_once_that_bf16_would_be_faster(weights, photo, tmp_path, caplog, monkeypatch):
    monkeypatch.setattr(infer_cli, 'cpu_has_native_bf16', lambda: True)
    with caplog.at_level(logging.INFO, logger='mprnet_plugin'):
        assert infer('--weights', weights, '--input', photo.parent, '--output', tmp_path / 'out',
                     '--device', 'cpu') == 0
    assert '2 written' in caplog.text
    hints = [r for r in caplog.records if 'would restore about' in r.getMessage()]
    assert len(hints) == 1 and hints[0].levelno == logging.INFO
    message = hints[0].getMessage()
    assert infer_cli.BF16_SPEEDUP in message and f'{infer_cli.BF16_PSNR_DB} dB PSNR' in message

    caplog.clear()
    monkeypatch.setattr(infer_cli, 'cpu_has_native_bf16', lambda: False)
    with caplog.at_level(logging.INFO, logger='mprnet_plugin'):
        assert infer('--weights', weights, '--input', photo, '--output', tmp_path / 'out2', '--device', 'cpu') == 0
    assert 'would restore about' not in caplog.text


def test_mprnet_infer_refuses_fp16_on_the_cpu_in_one_line(weights, photo, tmp_path, capsys):
    assert infer('--weights', weights, '--input', photo, '--output', tmp_path / 'out', '--device', 'cpu',
                 '--precision', 'fp16') == 2
    err = [line for line in capsys.readouterr().err.splitlines() if 'fp16' in line]
    assert len(err) == 1 and 'CUDA only' in err[0]
    assert not (tmp_path / 'out' / 'photo.png').exists()


def test_mprnet_infer_help_says_bf16_runs_on_the_cpu(capsys):
    with pytest.raises(SystemExit):
        infer_cli.parse_args(['--help'])
    text = ' '.join(capsys.readouterr().out.split())
    assert 'bf16 runs on CUDA and on the CPU' in text and 'fp16: CUDA only' in text and '--compile' in text


# ------------------------------------------------------------------------------------------------ mprnet-test
@pytest.fixture(scope='module')
def gopro_workspace(tmp_path_factory, net):
    root = tmp_path_factory.mktemp('workspace')
    src = mini.make_gopro(root / 'raw')
    assert prep(['gopro', '--src', str(src), '--dst', str(root / 'datasets' / 'GoPro'), '--workers', '1',
                 '--splits', 'test']) == 0
    torch.save({'params': net.state_dict()}, root / 'tiny.pth')
    return root


def run_gopro_test(root, monkeypatch, name, **val):
    """``mprnet-test`` of the shipped GoPro file with the tiny network and ``val`` added to its val section;
    returns (exit status, metrics record or None)."""
    monkeypatch.chdir(root)
    monkeypatch.setattr(sys, 'argv', ['mprnet-test'])
    opt = yaml.safe_load((OPTIONS / 'test' / 'MPRNet_GoPro.yml').read_text())
    opt['network_g'].update(TINY_MPRNET)
    opt['val'].update(val)  # --force_yml sets only keys a file has
    opt['name'] = name
    option_file = root / f'{name}.yml'
    option_file.write_text(yaml.safe_dump(opt, sort_keys=False))
    status = run_test(['-opt', str(option_file), '--force_yml', 'num_gpu=0', 'val:save_img=false', 'val:pbar=false',
                       f'path:pretrain_network_g={root / "tiny.pth"}', 'path:param_key_g=params'])
    record = root / 'results' / name / 'metrics' / 'GoPro.json'
    return status, (json.loads(record.read_text()) if status == 0 else None)


def test_mprnet_test_val_precision_bf16_on_the_cpu(gopro_workspace, monkeypatch):
    status, fp32 = run_gopro_test(gopro_workspace, monkeypatch, 'fp32')
    assert status == 0
    status, bf16 = run_gopro_test(gopro_workspace, monkeypatch, 'bf16', precision='bf16')
    assert status == 0
    assert fp32['metrics'].keys() == bf16['metrics'].keys()
    assert fp32['metrics'] != bf16['metrics']  # the bf16 run really ran in bf16
    assert abs(fp32['metrics']['psnr'] - bf16['metrics']['psnr']) < 0.5


def test_mprnet_test_refuses_fp16_on_the_cpu(gopro_workspace, monkeypatch, capsys):
    status, _ = run_gopro_test(gopro_workspace, monkeypatch, 'fp16', precision='fp16')
    assert status != 0
    lines = [line for line in capsys.readouterr().err.splitlines() if 'fp16' in line]
    assert len(lines) == 1 and 'val.precision: fp16 runs on CUDA only' in lines[0]


def test_the_schema_declares_val_precision_and_val_compile():
    opt = yaml.safe_load((OPTIONS / 'test' / 'MPRNet_GoPro.yml').read_text())
    opt['val'].update(precision='bf16', compile=True)
    validate_basicsr_options(opt, testing=True, source='options.yml')
    for key, value in (('precision', 'bfloat16'), ('compile', 'yes')):
        bad = yaml.safe_load(yaml.safe_dump(opt))
        bad['val'][key] = value
        with pytest.raises(OptionError, match=f'val.{key}'):
            validate_basicsr_options(bad, testing=True, source='options.yml')


# ------------------------------------------------------------------------------------------------ mprnet-compare
class _Pairs(torch.utils.data.Dataset):
    def __init__(self):
        g = torch.Generator().manual_seed(0)
        self.items = [dict(lq=torch.rand(3, 24, 32, generator=g), gt=torch.rand(3, 24, 32, generator=g))
                      for _ in range(2)]

    def __len__(self):
        return len(self.items)

    def __getitem__(self, index):
        return self.items[index]


def test_compare_evaluates_in_bf16_on_the_cpu(net):
    metrics = {'psnr': {'type': 'calculate_psnr', 'crop_border': 0, 'test_y_channel': False}}
    fp32 = evaluate_network(net, _Pairs(), metrics, CPU)
    bf16 = evaluate_network(net, _Pairs(), metrics, CPU, precision='bf16')
    assert fp32.means != bf16.means and abs(fp32.means['psnr'] - bf16.means['psnr']) < 0.5


def test_compare_options_check_evaluation_precision():
    opt = yaml.safe_load((OPTIONS / 'compare' / 'gopro_restorers.yml').read_text())
    assert opt['evaluation']['precision'] == 'fp32'
    opt['evaluation']['precision'] = 'half'
    with pytest.raises(CompareOptionError, match='evaluation.precision'):
        parse_compare_options(opt, 'compare.yml')


# ------------------------------------------------------------------------------------------------ MMEngine
def test_mmengine_restorer_predicts_in_bf16_on_the_cpu():
    torch.manual_seed(0)
    fp32 = MPRNetRestorer(dict(type='MPRNet', **TINY_MPRNET)).eval()
    bf16 = MPRNetRestorer(dict(type='MPRNet', **TINY_MPRNET), precision='bf16').eval()
    bf16.generator.load_state_dict(fp32.generator.state_dict())
    x = torch.rand(1, 3, 24, 40)
    a, b = fp32.predict(x)[0]['pred'], bf16.predict(x)[0]['pred']
    assert b.dtype == torch.float32 and not torch.equal(a, b) and psnr(a, b) > 35
    with pytest.raises(ValueError, match='fp16 runs on CUDA only'):
        MPRNetRestorer(dict(type='MPRNet', **TINY_MPRNET), precision='fp16').predict(x)


def test_mmengine_test_launcher_takes_precision_and_compile(capsys):
    args = mmengine_test_args(['cfg.py', '--checkpoint', 'w.pth', '--precision', 'bf16', '--compile'])
    assert args.precision == 'bf16' and args.compile
    with pytest.raises(SystemExit):
        mmengine_test_args(['--help'])
    text = ' '.join(capsys.readouterr().out.split())
    assert 'bf16 runs on CUDA and on the CPU' in text and 'fp16 on CUDA only' in text



def test_mmengine_test_launcher_refuses_fp16_on_the_cpu_before_any_work(tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(torch.cuda, 'is_available', lambda: False)
    monkeypatch.setattr(mmengine_test, 'run', lambda cfg, loop: pytest.fail('the test loop must not start'))
    (tmp_path / 'w.pth').write_bytes(b'')
    assert mmengine_test.main([str(OPTIONS / 'mmengine' / 'mprnet_gopro.py'), '--checkpoint', str(tmp_path / 'w.pth'),
                               '--precision', 'fp16', '--work-dir', str(tmp_path)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and '--precision fp16 runs on CUDA only' in err[0]
