"""Every argument of the LMDB writer and of ``mprnet-prep``'s options is checked before any work: an out-of-range
value is refused in one line naming the argument, and nothing is written."""
import numpy as np
import pytest

import tests.helpers.miniature_datasets as mini
from mprnet_plugin.cli.prep import main as prep
from mprnet_plugin.errors import OptionError
from mprnet_plugin.data.lmdb_writer import LmdbArgumentError, make_paired_lmdb, write_lmdb
from mprnet_plugin.data.prep import PrepOptions

IMAGE = np.zeros((8, 8, 3), np.uint8)


@pytest.mark.parametrize('kwargs, message', [
    ({'compress_level': 99}, r'compress_level: 99; expected an integer in 0-9 \(the PNG compression level\)'),
    ({'compress_level': -1}, r'compress_level: -1; expected an integer in 0-9'),
    ({'compress_level': 1.5}, r'compress_level: 1.5; expected an integer in 0-9'),
    ({'compress_level': True}, r'compress_level: True; expected an integer in 0-9'),
    ({'workers': 0}, r'workers: 0; expected an integer >= 1 \(processes\)'),
    ({'workers': '4'}, r"workers: '4'; expected an integer >= 1"),
    ({'overwrite': 'no'}, r"overwrite: 'no'; expected true or false"),
    ({'desc': 3}, r'desc: 3; expected a string'),
    ({'info': ['a']}, r"info: \['a'\]; expected a mapping"),
])
def test_write_lmdb_refuses_out_of_range_arguments(tmp_path, kwargs, message):
    with pytest.raises(LmdbArgumentError, match=message) as info:
        write_lmdb(tmp_path / 'out.lmdb', [('a', IMAGE)], **kwargs)
    assert isinstance(info.value, OptionError)
    assert not list(tmp_path.iterdir())  # nothing written, not even a temporary


@pytest.mark.parametrize('kwargs, message', [
    ({'compress_level': 10}, r'compress_level: 10; expected an integer in 0-9'),
    ({'workers': -2}, r'workers: -2; expected an integer >= 1'),
    ({'crop_size': 4}, r'crop_size and step must be given together'),
    ({'crop_size': 0, 'step': 4}, r'crop_size: 0; expected an integer >= 1 \(pixels\)'),
    ({'crop_size': 4, 'step': 2.5}, r'step: 2.5; expected an integer >= 1'),
    ({'overwrite': 1}, r'overwrite: 1; expected true or false'),
])
def test_make_paired_lmdb_refuses_out_of_range_arguments(tmp_path, kwargs, message):
    with pytest.raises(LmdbArgumentError, match=message):
        make_paired_lmdb([('a', IMAGE, IMAGE)], tmp_path / 'in.lmdb', tmp_path / 'gt.lmdb', **kwargs)
    assert not list(tmp_path.iterdir())


def test_valid_arguments_still_write(tmp_path):
    assert write_lmdb(tmp_path / 'out.lmdb', [('a', IMAGE)], compress_level=9, workers=1, overwrite=True) == 1
    assert make_paired_lmdb([('a', IMAGE, IMAGE)], tmp_path / 'in.lmdb', tmp_path / 'gt.lmdb', compress_level=0,
                            crop_size=4, step=4) == 1


@pytest.mark.parametrize('kwargs, message', [
    ({'compress_level': 12}, r'--compress-level: 12; expected an integer in 0-9'),
    ({'workers': 0}, r'--workers: 0; expected an integer >= 1'),
    ({'crop_size': 0}, r'--crop-size: 0; expected an integer >= 1 \(pixels\)'),
    ({'step': -4}, r'--step: -4; expected an integer >= 1'),
    ({'strict': 'yes'}, r"--strict: 'yes'; expected true or false"),
    ({'blur_gamma': 'no'}, r"--blur-gamma: 'no'; expected true or false"),
    ({'splits': 'test'}, r"--splits: 'test'; expected a list of split names"),
])
def test_prep_options_refuse_out_of_range_values(tmp_path, kwargs, message):
    with pytest.raises(LmdbArgumentError, match=message):
        PrepOptions(src=tmp_path, dst=tmp_path / 'out', **kwargs)


def test_mprnet_prep_refuses_a_bad_step_in_one_line(tmp_path, capsys):
    src = mini.make_gopro(tmp_path / 'raw')
    code = prep(['gopro', '--src', str(src), '--dst', str(tmp_path / 'out'), '--step', '0', '--workers', '1'])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2 and len(err) == 1 and '--step: 0; expected an integer >= 1' in err[0]
    assert not (tmp_path / 'out').exists()
