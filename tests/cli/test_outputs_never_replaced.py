"""Nothing lost: every command that writes a file refuses an existing one unless --force, or replaces only what it
wrote itself; an output under a file is "parent ... is not a folder"; mprnet-infer refuses before restoring."""
from pathlib import Path

import numpy as np
import pytest
import torch

from mprnet_plugin.archs.mprnet_arch import MPRNet
from mprnet_plugin.cli import demo as demo_cli
from mprnet_plugin.cli import evaluate as eval_cli
from mprnet_plugin.cli import export as export_cli
from mprnet_plugin.cli import infer as infer_cli
from mprnet_plugin.io.atomic import (OUTPUT_MARKER, NotAFolderError, OutputConflictError, atomic_write_text,
                                     claim_output_folder)
from mprnet_plugin.io.images import write_image

TINY = dict(n_feat=8, scale_unetfeats=4, scale_orsnetfeats=4, num_cab=1)


@pytest.fixture(scope='module')
def weights(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp('w') / 'tiny.pth'
    torch.save({'params': MPRNet(**TINY).state_dict()}, path)
    return path


def error_line(capsys, prog: str) -> str:
    err = [line for line in capsys.readouterr().err.strip().splitlines() if ': error: ' in line]
    assert len(err) == 1 and err[0].startswith(f'{prog}: error: '), err
    return err[0]


def test_export_refuses_an_existing_file_unless_force(weights, tmp_path, capsys):
    target = tmp_path / 'm.pt'
    target.write_bytes(b'another checkpoint')
    args = ['--weights', str(weights), '--format', 'torchscript', '--output', str(target), '--height', '16',
            '--width', '16', '--no-verify']
    assert export_cli.main(args) == 2
    assert 'already exists; pass --force' in error_line(capsys, 'mprnet-export')
    assert target.read_bytes() == b'another checkpoint'
    assert export_cli.main(args + ['--force']) == 0
    assert target.read_bytes() != b'another checkpoint'


def test_an_output_under_a_file_is_parent_is_not_a_folder(weights, tmp_path, capsys):
    blocker = tmp_path / 'file'
    blocker.write_text('mine')
    assert export_cli.main(['--weights', str(weights), '--format', 'torchscript', '--output',
                            str(blocker / 'sub' / 'm.pt')]) == 2
    line = error_line(capsys, 'mprnet-export')
    assert 'is not a folder' in line and 'Errno' not in line
    with pytest.raises(NotAFolderError, match=r"its parent '.*file' is not a folder"):
        atomic_write_text(blocker / 'x.txt', 'text')
    assert blocker.read_text() == 'mine'


def test_infer_refuses_bad_or_existing_outputs_before_restoring(weights, tmp_path, capsys, monkeypatch):
    for name in ('a', 'b'):
        write_image(tmp_path / 'in' / f'{name}.png', np.full((16, 16, 3), 90, np.uint8))

    def no_restoring(*args, **kwargs):
        raise AssertionError('a restorer was built before the output was checked')
    monkeypatch.setattr(infer_cli.Restorer, 'from_checkpoint', no_restoring)
    base = ['--weights', str(weights), '--input', str(tmp_path / 'in'), '--device', 'cpu']
    out_file = tmp_path / 'restored.png'
    out_file.write_bytes(b'mine')
    assert infer_cli.main(base + ['--output', str(out_file)]) == 2
    assert 'is a file; expected a folder' in error_line(capsys, 'mprnet-infer')
    assert infer_cli.main(base + ['--output', str(out_file / 'out')]) == 2
    assert 'is not a folder' in error_line(capsys, 'mprnet-infer')
    out = tmp_path / 'out'
    write_image(out / 'a.png', np.zeros((16, 16, 3), np.uint8))
    assert infer_cli.main(base + ['--output', str(out)]) == 2
    assert '1 output image(s) already exist' in error_line(capsys, 'mprnet-infer')
    assert out_file.read_bytes() == b'mine'


def test_infer_force_replaces_existing_images(weights, tmp_path):
    write_image(tmp_path / 'in' / 'a.png', np.full((16, 16, 3), 90, np.uint8))
    out = tmp_path / 'out'
    write_image(out / 'a.png', np.zeros((16, 16, 3), np.uint8))
    before = (out / 'a.png').read_bytes()
    assert infer_cli.main(['--weights', str(weights), '--input', str(tmp_path / 'in'), '--output', str(out),
                           '--device', 'cpu', '--force']) == 0
    assert (out / 'a.png').read_bytes() != before


def test_eval_refuses_to_replace_its_result_files_unless_force(tmp_path, capsys):
    img = np.full((16, 16, 3), 120, np.uint8)
    write_image(tmp_path / 'out' / 'x.png', img)
    write_image(tmp_path / 'gt' / 'x.png', img)
    (tmp_path / 'out' / 'summary.csv').write_text('mine')
    args = ['--output', str(tmp_path / 'out'), '--target', str(tmp_path / 'gt'), '--metric', 'calculate_psnr']
    assert eval_cli.main(args) == 2
    assert "summary.csv' already exists; pass --force" in error_line(capsys, 'mprnet-eval')
    assert (tmp_path / 'out' / 'summary.csv').read_text() == 'mine'
    assert eval_cli.main(args + ['--force']) == 0
    assert (tmp_path / 'out' / 'summary.csv').read_text() != 'mine'


def test_demo_out_must_be_its_own_folder(tmp_path, capsys):
    user = tmp_path / 'mine'
    user.mkdir()
    (user / 'notes.txt').write_text('mine')
    assert demo_cli.main(['--out', str(user), '--options', str(tmp_path / 'no-options')]) == 2
    error_line(capsys, 'mprnet-demo')  # the missing options are found first: nothing was made
    assert sorted(p.name for p in user.iterdir()) == ['notes.txt']


def test_a_folder_is_claimed_only_when_new_empty_or_ours(tmp_path):
    new = claim_output_folder(tmp_path / 'new')
    assert (new / OUTPUT_MARKER).is_file()
    assert claim_output_folder(new) == new  # ours: taken again (re-runs resume)
    user = tmp_path / 'user'
    user.mkdir()
    (user / 'notes.txt').write_text('mine')
    with pytest.raises(OutputConflictError, match='did not write.*--force'):
        claim_output_folder(user)
    claim_output_folder(user, force=True)
    assert not (user / OUTPUT_MARKER).exists()  # forced, never marked: a later run cannot replace it whole
    (tmp_path / 'f').write_text('x')
    with pytest.raises(NotAFolderError):
        claim_output_folder(tmp_path / 'f' / 'sub')


def test_an_option_read_only_at_save_time_is_checked_before_any_folder(tmp_path, monkeypatch, capsys):
    import yaml

    from mprnet_plugin.cli import train as train_cli
    opt = {'name': 'saves', 'model_type': 'MPRNetModel', 'num_gpu': 0, 'scale': 1,
           'datasets': {'train': {'name': 'tiny', 'type': 'PairedImageDataset', 'dataroot_lq': 'lq',
                                  'dataroot_gt': 'gt', 'io_backend': {'type': 'disk'}, 'gt_size': 32,
                                  'batch_size_per_gpu': 2, 'num_worker_per_gpu': 0}},
           'network_g': {'type': 'MPRNet', **TINY},
           'path': {'pretrain_network_g': None},
           'train': {'optim_g': {'type': 'Adam', 'lr': 2e-4}, 'pixel_opt': {'type': 'MPRNetLoss'}, 'total_iter': 4},
           'logger': {'print_freq': 1, 'save_checkpoint_freq': 2, 'use_tb_logger': False,
                      'save_safetensors': 'yes'}}
    (tmp_path / 'opt.yml').write_text(yaml.safe_dump(opt))
    monkeypatch.chdir(tmp_path)
    assert train_cli.main(['-opt', 'opt.yml']) == 2
    assert "logger.save_safetensors: 'yes' (text)" in error_line(capsys, 'mprnet-train')
    assert sorted(p.name for p in tmp_path.iterdir()) == ['opt.yml']  # no experiments/, tb_logger/ or results/
