"""Every value of a comparison file (and of ``--set``) is checked when the file is loaded, before any data is built
or any network trained: one line ``<file>: <option>: <found>; expected <what>``, exit status 2, nothing written."""
import re
from pathlib import Path

import cv2
import numpy as np
import pytest
import yaml
from tests.helpers.settings import TINY_MPRNET

import mprnet_plugin  # noqa: F401  isort: skip  (host fixes before basicsr loads)
from mprnet_plugin.cli.compare import main
from mprnet_plugin.errors import OptionError
from mprnet_plugin.tools.compare import CompareOptionError, load_compare_options


@pytest.fixture(scope='module')
def val_pairs(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp('val')
    rng = np.random.default_rng(0)
    for sub in ('gt', 'lq'):
        (root / sub).mkdir()
        cv2.imwrite(str(root / sub / '000.png'), rng.integers(0, 255, (24, 32, 3), dtype=np.uint8))
    return root


def options(val_pairs: Path, out: Path) -> dict:
    """An evaluation-only comparison of one tiny MPRNet (size multiple 8): valid as it stands."""
    return {'name': 'early', 'output_dir': str(out), 'device': 'cpu', 'seed': 0,
            'datasets': {'val': {'dataroot_gt': str(val_pairs / 'gt'), 'dataroot_lq': str(val_pairs / 'lq')}},
            'train': {'total_iter': 0},
            'evaluation': {'tile': 64, 'tile_overlap': 16, 'max_images': 1},
            'profile': {'input_size': [32, 48], 'batch': 1, 'repeats': 1, 'warmup': 0},
            'architectures': [{'name': 'tiny', 'network': {'type': 'MPRNet', **TINY_MPRNET}}]}


def write(path: Path, opt: dict) -> Path:
    path.write_text(yaml.safe_dump(opt, sort_keys=False), encoding='utf-8')
    return path


def test_the_valid_file_loads(val_pairs, tmp_path):
    opt = load_compare_options(write(tmp_path / 'c.yml', options(val_pairs, tmp_path / 'out')))
    assert opt['evaluation']['tile'] == 64 and opt['profile']['input_size'] == [32, 48]


def _set(path, value):
    def edit(opt):
        *parents, last = path.split('.')
        target = opt
        for key in parents:
            target = target[int(key)] if isinstance(target, list) else target[key]
        target[last] = value
    return edit


CASES = {
    'input_size_not_multiple': (_set('profile.input_size', [30, 48]),
                                r"profile\.input_size: \[30, 48\]; expected \[height, width\], multiples of 8 "
                                r"\(the size multiple of architectures\[0\] 'tiny'\)"),
    'input_size_zero': (_set('profile.input_size', [0, 8]), r'profile\.input_size: 0; expected an integer >= 1'),
    'input_size_text': (_set('profile.input_size', 'big'), r"profile\.input_size: expected \[height, width\]"),
    'tile_not_multiple': (_set('evaluation.tile', 100),
                          r"evaluation\.tile: 100; expected a multiple of 8 \(the size multiple of architectures"),
    'tile_negative': (_set('evaluation.tile', -64), r'evaluation\.tile: -64; expected null or an integer >= 1'),
    'tile_text': (_set('evaluation.tile', 'auto'), r"evaluation\.tile: 'auto'; expected null or an integer >= 1"),
    'overlap_not_below_tile': (_set('evaluation.tile_overlap', 64),
                               r'evaluation\.tile_overlap: 64; expected below evaluation\.tile \(64\)'),
    'overlap_negative': (_set('evaluation.tile_overlap', -1),
                         r'evaluation\.tile_overlap: -1; expected an integer >= 0'),
    'max_images_zero': (_set('evaluation.max_images', 0), r'evaluation\.max_images: 0; expected null or an integer'),
    'max_images_bool': (_set('evaluation.max_images', True), r'evaluation\.max_images: True; expected null or'),
    'profile_batch': (_set('profile.batch', 0), r'profile\.batch: 0; expected an integer >= 1'),
    'profile_repeats': (_set('profile.repeats', 0), r'profile\.repeats: 0; expected an integer >= 1'),
    'profile_warmup': (_set('profile.warmup', -1), r'profile\.warmup: -1; expected an integer >= 0'),
    'seed': (_set('seed', -3), r'seed: -3; expected an integer >= 0'),
    'seed_text': (_set('seed', 'lucky'), r"seed: 'lucky'; expected an integer >= 0"),
    'num_threads': (_set('num_threads', 0), r'num_threads: 0; expected null or an integer >= 1'),
    'device': (_set('device', 'gpu'), r"device: 'gpu'; expected auto, cpu, cuda or cuda:N"),
    'crop_border': (_set('metrics', {'psnr': {'type': 'calculate_psnr', 'crop_border': -2}}),
                    r'metrics\.psnr\.crop_border: -2; expected an integer >= 0'),
    'unknown_section_key': (_set('evaluation.tiles', 64),
                            r'evaluation\.tiles: unknown option \(did you mean tile\?\); expected one of tile, '),
    'unknown_top_level_key': (_set('archs', []), r'archs: unknown option \(did you mean architectures\?\)'),
    'unknown_phase': (_set('datasets.test', {}), r'datasets\.test: unknown option'),
    'unknown_entry_key': (_set('architectures.0.netwrok', {}),
                          r'architectures\[0\]\.netwrok: unknown option \(did you mean network\?\)'),
}


@pytest.mark.parametrize('case', sorted(CASES))
def test_bad_values_are_refused_when_loaded(val_pairs, tmp_path, capsys, case):
    edit, message = CASES[case]
    opt = options(val_pairs, tmp_path / 'out')
    edit(opt)
    path = write(tmp_path / 'compare.yml', opt)
    with pytest.raises(CompareOptionError, match=rf'^{re.escape(str(path))}: {message}') as info:
        load_compare_options(path)
    assert isinstance(info.value, OptionError) and '\n' not in str(info.value)
    assert main(['-opt', str(path)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith(f'mprnet-compare: error: {path}: ')
    assert not (tmp_path / 'out').exists()


def test_set_overrides_are_checked_and_named(val_pairs, tmp_path, capsys):
    path = write(tmp_path / 'compare.yml', options(val_pairs, tmp_path / 'out'))
    assert main(['-opt', str(path), '--set', 'evaluation.tile=100']) == 2
    err = capsys.readouterr().err.strip()
    assert 'evaluation.tile: 100; expected a multiple of 8' in err and '(set by --set evaluation.tile=100)' in err
    assert main(['-opt', str(path), '--set', 'profile.input_size=[20,20]']) == 2
    assert 'profile.input_size: [20, 20]' in capsys.readouterr().err
    # A path through a value that is not a section: one line, not a traceback.
    assert main(['-opt', str(path), '--set', 'seed.value=1']) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err == ["mprnet-compare: error: --set seed.value: seed is int 0, not a mapping; expected a key of a section"]
    assert not (tmp_path / 'out').exists()


def test_demo_data_is_not_built_before_the_other_values_are_checked(val_pairs, tmp_path):
    opt = options(val_pairs, tmp_path / 'out')
    opt['demo_data'] = {'root': str(tmp_path / 'demo')}
    opt['evaluation']['tile'] = 100
    with pytest.raises(CompareOptionError, match='evaluation.tile'):
        load_compare_options(write(tmp_path / 'compare.yml', opt))
    assert not (tmp_path / 'demo').exists()


def test_a_training_entry_passes_the_basicsr_schema_before_any_training(val_pairs, tmp_path, capsys):
    opt = options(val_pairs, tmp_path / 'out')
    opt['datasets']['train'] = {'dataroot_gt': str(val_pairs / 'gt'), 'dataroot_lq': str(val_pairs / 'lq'),
                                'gt_size': 16, 'batch_size': 1}
    opt['train'] = {'total_iter': 4, 'optim_g': {'type': 'Adam', 'lr': 1e-4},
                    'scheduler': {'type': 'LinearWarmupCosineLR', 'warmup_iter': 0, 'eta_min': 1e-2}}
    path = write(tmp_path / 'compare.yml', opt)
    assert main(['-opt', str(path)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err == [f"mprnet-compare: error: {path}: architectures[0] 'tiny': train.scheduler.eta_min: 0.01 is above "
                   'train.optim_g.lr 0.0001; expected at most the learning rate']
    assert not (tmp_path / 'out').exists()
    opt['train']['scheduler']['eta_min'] = 1e-6
    assert load_compare_options(write(tmp_path / 'compare.yml', opt))['architectures'][0]['total_iter'] == 4
