"""Nothing of the user's is removed: outputs never replace a folder the package did not write, and a folder it did
write is renamed aside before the new one is renamed in."""
import os
from pathlib import Path

import numpy as np
import pytest
import torch
from tests.helpers.settings import TINY_MPRNET

from mprnet_plugin import MPRNet
from mprnet_plugin.io import atomic as fileio
from mprnet_plugin.cli import export as export_cli
from mprnet_plugin.cli import infer as infer_cli
from mprnet_plugin.cli import prep as prep_cli
from mprnet_plugin.data.lmdb_writer import lmdb_keys, write_lmdb
from mprnet_plugin.io.atomic import OUTPUT_MARKER, OutputConflictError, atomic_output, atomic_write_text
from mprnet_plugin.io.images import write_image


def user_folder(path: Path) -> Path:
    """A folder of the user's with a file in it."""
    path.mkdir(parents=True)
    (path / 'notes.txt').write_text('mine')
    return path


@pytest.fixture(scope='module')
def weights(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp('w') / 'tiny.pth'
    torch.save({'params': MPRNet(**TINY_MPRNET).state_dict()}, path)
    return path


def test_a_file_output_never_replaces_a_folder(tmp_path):
    target = user_folder(tmp_path / 'summary.md')
    with pytest.raises(OutputConflictError, match='summary.md'):
        atomic_write_text(target, 'table')
    assert (target / 'notes.txt').read_text() == 'mine'
    # Not even a folder this package wrote.
    with atomic_output(tmp_path / 'made') as tmp:
        tmp.mkdir()
    with pytest.raises(OutputConflictError, match='a file cannot replace it'):
        atomic_write_text(tmp_path / 'made', 'x')
    assert (tmp_path / 'made' / OUTPUT_MARKER).is_file()
    assert sorted(p.name for p in tmp_path.iterdir()) == ['made', 'summary.md']  # no temporaries left


def test_a_folder_output_replaces_only_a_folder_the_package_wrote(tmp_path):
    target = user_folder(tmp_path / 'input.lmdb')
    with pytest.raises(OutputConflictError, match='did not write'):
        write_lmdb(target, [('a', np.zeros((4, 4, 3), np.uint8))])
    assert sorted(p.name for p in target.iterdir()) == ['notes.txt']
    ours = tmp_path / 'ours.lmdb'
    write_lmdb(ours, [('a', np.zeros((4, 4, 3), np.uint8))])
    write_lmdb(ours, [('b', np.ones((4, 4, 3), np.uint8))], overwrite=True)
    assert lmdb_keys(ours) == ['b']
    # An LMDB from before the marker existed is recognised by its meta_info.txt and prep_info.json.
    (ours / OUTPUT_MARKER).unlink()
    write_lmdb(ours, [('c', np.ones((4, 4, 3), np.uint8))], overwrite=True)
    assert lmdb_keys(ours) == ['c']


def test_folder_replacement_renames_the_old_one_aside_first(tmp_path, monkeypatch):
    target = tmp_path / 'out'
    with atomic_output(target) as tmp:
        user_folder(tmp)
    real_replace = os.replace
    calls = []

    def checked_replace(src, dst):
        # At every step the old folder exists under its name or under its aside name.
        assert target.exists() or any(p.name.startswith('.out.old-') for p in tmp_path.iterdir())
        calls.append((Path(src).name, Path(dst).name))
        if len(calls) == 2:
            raise OSError('disk gone')  # the new folder cannot be renamed in
        real_replace(src, dst)

    monkeypatch.setattr(fileio.os, 'replace', checked_replace)
    with pytest.raises(OSError, match='disk gone'):
        with atomic_output(target) as tmp:
            tmp.mkdir()
            (tmp / 'new.txt').write_text('new')
    assert calls[0][0] == 'out' and calls[0][1].startswith('.out.old-')  # first: the old one aside
    assert calls[1][1] == 'out' and calls[1][0].startswith('.out.tmp-')  # then: the new one in (failed here)
    assert (target / 'notes.txt').read_text() == 'mine'  # the old one is back
    monkeypatch.setattr(fileio.os, 'replace', real_replace)
    with atomic_output(target) as tmp:
        tmp.mkdir()
        (tmp / 'new.txt').write_text('new')
    assert (target / 'new.txt').is_file() and not (target / 'notes.txt').exists()
    assert [p.name for p in tmp_path.iterdir()] == ['out']


def test_export_to_an_existing_folder_is_refused(weights, tmp_path, capsys):
    models = user_folder(tmp_path / 'models')
    assert export_cli.main(['--weights', str(weights), '--format', 'torchscript', '--output', str(models)]) == 2
    assert 'mprnet-export: error:' in capsys.readouterr().err
    assert sorted(p.name for p in models.iterdir()) == ['notes.txt']


def test_infer_never_writes_over_a_folder_named_like_an_output(weights, tmp_path, capsys):
    write_image(tmp_path / 'in' / 'a.png', np.full((16, 16, 3), 100, np.uint8))
    write_image(tmp_path / 'in' / 'b.png', np.full((16, 16, 3), 50, np.uint8))
    blocked = user_folder(tmp_path / 'out' / 'a.png')
    assert infer_cli.main(['--weights', str(weights), '--input', str(tmp_path / 'in'), '--output',
                           str(tmp_path / 'out'), '--device', 'cpu']) == 1
    assert (blocked / 'notes.txt').read_text() == 'mine'
    assert (tmp_path / 'out' / 'b.png').is_file()


def test_prep_refuses_a_destination_inside_the_source(tmp_path, capsys):
    src = user_folder(tmp_path / 'GOPRO_Large')
    for dst in (src, src / 'lmdb'):
        assert prep_cli.main(['gopro', '--src', str(src), '--dst', str(dst)]) == 2
        assert 'mprnet-prep: error: gopro: --dst' in capsys.readouterr().err
    assert sorted(p.name for p in src.iterdir()) == ['notes.txt']
