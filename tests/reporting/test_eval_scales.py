"""Outputs and targets are scored on one scale: a 16-bit output against an 8-bit target is compared in [0, 1], a
0-255 float ``.npy`` is refused naming the file, and a ``crop_border`` that crops the whole image is refused by
``score_images`` (so by mprnet-eval, mprnet-test and mprnet-compare) instead of scoring NaN."""
import copy
import sys

import numpy as np
import pytest
import torch
from tests.training.test_train_pipeline import paired_dataset, train_options, write_folder_pairs, write_yml

import mprnet_plugin  # noqa: F401  isort: skip  (host fixes before basicsr loads; registers the metrics)
from mprnet_plugin.cli import test as test_cli
from mprnet_plugin.cli.evaluate import main as eval_main
from mprnet_plugin.cli.evaluate import run as eval_run
from mprnet_plugin.io.images import read_image, write_image
from mprnet_plugin.metrics.benchmarks import BENCHMARK_METRICS
from mprnet_plugin.metrics.scoring import ScoringError, score_images

PSNR = {'psnr': {'type': 'calculate_psnr', 'crop_border': 0, 'test_y_channel': False}}


@pytest.fixture
def folders(tmp_path):
    """8-bit targets, their 8-bit outputs, the same outputs as 16-bit PNGs and as float RGB .npy arrays."""
    rng = np.random.default_rng(0)
    for i in range(2):
        target = rng.integers(10, 245, (24, 32, 3), dtype=np.uint8)
        output = np.clip(target.astype(np.int16) + rng.integers(-6, 7, target.shape), 0, 255).astype(np.uint8)
        write_image(tmp_path / 'gt' / f'{i}.png', target)
        write_image(tmp_path / 'out8' / f'{i}.png', output)
        write_image(tmp_path / 'out16' / f'{i}.png', output.astype(np.uint16) * 257)  # the same values, 16 bits
        (tmp_path / 'npy').mkdir(exist_ok=True)
        np.save(tmp_path / 'npy' / f'{i}.npy', (output[..., ::-1] / 255.0).astype(np.float32))
    return tmp_path


def evaluate(folders, outputs, *extra):
    return eval_run(['--output', str(folders / outputs), '--target', str(folders / 'gt'),
                     '--save-dir', str(folders / f'report_{outputs}'), *extra])


def test_16_bit_outputs_against_8_bit_targets_score_as_the_8_bit_ones(folders):
    assert read_image(folders / 'out16' / '0.png').dtype == np.uint16
    eight = evaluate(folders, 'out8', '--benchmark', 'gopro')
    sixteen = evaluate(folders, 'out16', '--benchmark', 'gopro')
    assert sixteen.per_image == eight.per_image
    # And the other way round: 16-bit targets against 8-bit outputs.
    for name in ('0', '1'):
        target = read_image(folders / 'gt' / f'{name}.png')
        write_image(folders / 'gt16' / f'{name}.png', target.astype(np.uint16) * 257)
    row = eval_run(['--output', str(folders / 'out8'), '--target', str(folders / 'gt16'), '--benchmark', 'gopro',
                    '--save-dir', str(folders / 'r16')])
    assert row.per_image == eight.per_image


def test_float_npy_against_16_bit_targets_scores_as_against_8_bit_ones(folders):
    for name in ('0', '1'):
        target = read_image(folders / 'gt' / f'{name}.png')
        write_image(folders / 'gt16' / f'{name}.png', target.astype(np.uint16) * 257)
    args = ['--output', str(folders / 'npy'), '--benchmark', 'sidd', '--metric', 'calculate_psnr']
    eight = eval_run([*args, '--target', str(folders / 'gt'), '--save-dir', str(folders / 'r8')])
    sixteen = eval_run([*args, '--target', str(folders / 'gt16'), '--save-dir', str(folders / 'r16')])
    for name, values in eight.per_image.items():
        assert sixteen.per_image[name] == pytest.approx(values, abs=1e-9)


def test_float_npy_in_0_255_is_refused_naming_the_file(folders, capsys):
    np.save(folders / 'npy' / '1.npy', np.load(folders / 'npy' / '1.npy') * 255)
    code = eval_main(['--output', str(folders / 'npy'), '--target', str(folders / 'gt'), '--benchmark', 'sidd',
                      '--save-dir', str(folders / 'r')])
    errors = [line for line in capsys.readouterr().err.splitlines() if 'error' in line]  # beside tqdm's lines
    assert code == 1 and len(errors) == 1 and errors[0].startswith('mprnet-eval: error: ')
    err = errors[0]
    assert '1.npy' in err and 'not in [0, 1]' in err and 'divide 0-255 values by 255' in err
    np.save(folders / 'npy' / '1.npy', np.full((24, 32, 3), -0.7, np.float32))
    assert eval_main(['--output', str(folders / 'npy'), '--target', str(folders / 'gt'), '--benchmark', 'sidd',
                      '--save-dir', str(folders / 'r')]) == 1
    assert 'not in [0, 1]' in capsys.readouterr().err


def test_npy_outputs_in_range_still_score(folders):
    row = evaluate(folders, 'npy', '--benchmark', 'sidd')
    assert row.num_images == 2 and all(np.isfinite(v['psnr']) for v in row.per_image.values())


@pytest.mark.parametrize('crop', [12, 20])
def test_crop_border_covering_the_image_is_refused_by_score_images(crop):
    img = np.zeros((24, 32, 3), np.uint8)
    with pytest.raises(ScoringError, match=rf"metric 'psnr': crop_border: {crop} crops the whole 24 x 32 image; "
                                           r'expected below 12'):
        score_images(img, img, {'psnr': dict(PSNR['psnr'], crop_border=crop)})
    assert np.isfinite(score_images(img, img + 1, {'psnr': dict(PSNR['psnr'], crop_border=11)})['psnr'])
    for metric in BENCHMARK_METRICS['gopro'].values():  # the benchmarks' own settings still score small images
        assert metric.get('crop_border', 0) * 2 < 24


def test_mprnet_test_refuses_crop_border_larger_than_the_images(tmp_path, monkeypatch, capsys):
    lq, gt = write_folder_pairs(tmp_path / 'pairs', [(40, 40), (48, 40)], seed=2)
    opt = train_options('crop', {}, total_iter=4)
    test_opt = {k: copy.deepcopy(opt[k]) for k in ('model_type', 'scale', 'num_gpu', 'manual_seed', 'network_g')}
    test_opt.update(name='crop', path={'pretrain_network_g': None, 'allow_random_weights': True},
                    val={'save_img': False, 'metrics': {'psnr': dict(PSNR['psnr'], crop_border=30)}},
                    datasets={'test_1': paired_dataset('tiny_test', lq, gt, 'test')})
    write_yml(tmp_path / 'crop.yml', test_opt)
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(sys, 'argv', ['mprnet-test'])
    code = test_cli.main(['-opt', 'crop.yml'])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2, 'a crop_border larger than the images is an option error: no NaN, exit 2'
    assert err and 'crop_border: 30 crops the whole 40 x 40 image' in err[-1] and 'tiny_test' in err[-1]
    summary = tmp_path / 'results' / 'crop' / 'summary.md'
    assert not summary.exists() or ' - ' not in summary.read_text()
    torch.manual_seed(0)
