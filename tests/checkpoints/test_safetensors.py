"""safetensors everywhere a checkpoint is read, and mprnet-convert between the layouts."""
from __future__ import annotations

import json

import pytest
import torch
from tests.helpers.settings import TINY_MPRNET
from safetensors import safe_open
from safetensors.torch import load_file, save_file

from mprnet_plugin.archs.mprnet_arch import MPRNet
from mprnet_plugin.checkpoints import CheckpointError, load_mprnet_checkpoint, load_state_dict_file, read_checkpoint
from mprnet_plugin.checkpoints.conversion import LAYOUTS, convert_checkpoint, pack
from mprnet_plugin.cli import convert as convert_cli
from mprnet_plugin.cli import infer as infer_cli
from mprnet_plugin.checkpoints.safetensors_io import SHARED_KEY, shared_groups


@pytest.fixture()
def authors_file(tmp_path, reference_vector):
    """The reference weights saved as the authors save them: DataParallel prefix, beside the epoch."""
    path = tmp_path / 'model_deblurring.pth'
    state = reference_vector['state_dict']
    torch.save({'epoch': 3, 'state_dict': {f'module.{k}': v for k, v in state.items()}}, path)
    return path


def reference_net(reference_vector, path) -> MPRNet:
    net = MPRNet(**reference_vector['config'])
    return load_mprnet_checkpoint(net, path).eval()


def outputs(net, reference_vector):
    with torch.no_grad():
        return net(reference_vector['input'])


@pytest.mark.slow
@pytest.mark.parametrize('layout', ['authors', 'basicsr', 'mmengine', 'bare'])
def test_each_layout_from_safetensors_gives_the_same_outputs(tmp_path, reference_vector, authors_file, layout):
    layout_file = tmp_path / f'{layout}.pth'
    assert convert_cli.main([str(authors_file), str(layout_file), '--to', layout]) == 0
    st_file = tmp_path / f'{layout}.safetensors'
    assert convert_cli.main([str(layout_file), str(st_file)]) == 0
    from_pth = outputs(reference_net(reference_vector, layout_file), reference_vector)
    from_st = outputs(reference_net(reference_vector, st_file), reference_vector)
    for a, b, ref in zip(from_pth, from_st, reference_vector['outputs']):
        assert torch.equal(a, b)  # the same weights, so the same bits
        torch.testing.assert_close(b, ref, atol=1e-5, rtol=0)  # and the authors' numbers


def test_authors_to_safetensors_to_basicsr_round_trips_bit_for_bit(tmp_path, reference_vector, authors_file):
    st_file, basicsr_file = tmp_path / 'w.safetensors', tmp_path / 'net_g.pth'
    assert convert_checkpoint(authors_file, st_file) == ('safetensors', 'state_dict', 226)
    assert convert_checkpoint(st_file, basicsr_file, to='basicsr') == ('basicsr', '', 226)
    saved = torch.load(basicsr_file, weights_only=True)
    assert list(saved) == ['params']
    original = reference_vector['state_dict']
    assert list(saved['params']) == list(original)  # same keys, same order
    for key, value in original.items():
        got = saved['params'][key]
        assert got.dtype == value.dtype and got.shape == value.shape
        assert torch.equal(got.view(torch.uint8) if got.dtype.is_floating_point else got,
                           value.view(torch.uint8) if value.dtype.is_floating_point else value), key
    # The shared PReLU is one tensor again in the BasicSR file, as in the authors'.
    assert shared_groups(saved['params']) == shared_groups(original)
    assert len(shared_groups(original)) == 1 and len(shared_groups(original)[0]) == 37


@pytest.mark.slow
def test_safetensors_file_is_an_ordinary_state_dict_and_the_prelu_stays_one_parameter(tmp_path, authors_file,
                                                                                     reference_vector):
    st_file = tmp_path / 'w.safetensors'
    convert_checkpoint(authors_file, st_file)
    plain = load_file(st_file)  # safetensors' own reader: every key, aliases as copies
    assert set(plain) == set(reference_vector['state_dict'])
    with safe_open(st_file, 'pt') as f:
        groups = json.loads(f.metadata()[SHARED_KEY])
    assert len(groups) == 1 and all(torch.equal(plain[k], plain[groups[0][0]]) for k in groups[0])
    net = MPRNet(**reference_vector['config'])
    net.load_state_dict(plain, strict=True)
    prelus = {id(m) for m in net.modules() if isinstance(m, torch.nn.PReLU)}
    assert len(prelus) == 1 and sum(p.numel() for p in net.parameters()) == reference_vector['num_parameters']
    assert float(next(m for m in net.modules() if isinstance(m, torch.nn.PReLU)).weight) == pytest.approx(0.3)


def test_foreign_safetensors_with_prefixes_and_mismatched_aliases(tmp_path):
    state = MPRNet(**TINY_MPRNET).state_dict()
    groups = shared_groups(state)
    copies = {k: v.clone().contiguous() for k, v in state.items()}
    save_file({f'module.{k}': v for k, v in copies.items()}, tmp_path / 'ddp.safetensors')  # another tool's file
    load_mprnet_checkpoint(MPRNet(**TINY_MPRNET), tmp_path / 'ddp.safetensors')
    copies[groups[0][1]] = copies[groups[0][1]] + 1
    save_file(copies, tmp_path / 'edited.safetensors', metadata={SHARED_KEY: json.dumps(groups)})
    with pytest.raises(CheckpointError, match='edited.safetensors.*one shared tensor.*different values'):
        read_checkpoint(tmp_path / 'edited.safetensors')
    (tmp_path / 'cut.safetensors').write_bytes((tmp_path / 'ddp.safetensors').read_bytes()[:300])
    with pytest.raises(CheckpointError, match='cut.safetensors'):
        read_checkpoint(tmp_path / 'cut.safetensors')


def test_convert_refuses_overwrite_directories_and_disagreeing_names(tmp_path, authors_file, capsys):
    out = tmp_path / 'w.safetensors'
    out.write_bytes(b'mine')
    assert convert_cli.main([str(authors_file), str(out)]) == 2
    assert 'already exists; pass --force' in capsys.readouterr().err and out.read_bytes() == b'mine'
    assert convert_cli.main([str(authors_file), str(out), '--force']) == 0
    assert len(load_state_dict_file(out)) == 226
    (tmp_path / 'folder').mkdir()
    assert convert_cli.main([str(authors_file), str(tmp_path / 'folder'), '--force']) == 2
    assert 'is a directory' in capsys.readouterr().err
    with pytest.raises(SystemExit) as exit_info:
        convert_cli.main([str(authors_file), str(tmp_path / 'x.pth'), '--to', 'safetensors'])
    assert exit_info.value.code == 2 and 'disagree' in capsys.readouterr().err
    assert convert_cli.main([str(authors_file), str(tmp_path / 'x.pth'), '--key', 'params']) == 2
    assert "has no key 'params'" in capsys.readouterr().err and not (tmp_path / 'x.pth').exists()
    assert set(LAYOUTS) == {'authors', 'basicsr', 'mmengine', 'bare', 'safetensors'}
    assert list(pack({'a': torch.zeros(1)}, 'mmengine')['state_dict']) == ['generator.a']


@pytest.mark.slow
def test_infer_reads_safetensors_weights(tmp_path):
    import numpy as np

    from mprnet_plugin.io.images import read_image, write_image

    net = MPRNet(**TINY_MPRNET)
    torch.save({'params': net.state_dict()}, tmp_path / 'net.pth')
    convert_checkpoint(tmp_path / 'net.pth', tmp_path / 'net.safetensors')
    image = (np.random.default_rng(0).random((24, 40, 3)) * 255).astype(np.uint8)
    write_image(tmp_path / 'in.png', image)
    for name in ('net.pth', 'net.safetensors'):
        args = ['--weights', str(tmp_path / name), '--input', str(tmp_path / 'in.png'),
                '--output', str(tmp_path / name.replace('.', '_')), '--device', 'cpu']
        assert infer_cli.main(args) in (0, None)
    assert np.array_equal(read_image(tmp_path / 'net_pth' / 'in.png'),
                          read_image(tmp_path / 'net_safetensors' / 'in.png'))


def test_training_copy_option_is_checked(tmp_path):
    from mprnet_plugin.checkpoints.conversion import save_safetensors_copy

    state = {'w': torch.ones(2)}
    assert save_safetensors_copy({'params': state}, tmp_path / 'a.safetensors', None) is False
    assert not (tmp_path / 'a.safetensors').exists()
    with pytest.raises(ValueError, match="logger.save_safetensors must be true or false; got 'yes'"):
        save_safetensors_copy({'params': state}, tmp_path / 'a.safetensors', 'yes')
    assert save_safetensors_copy({'params': {'w': torch.zeros(2)}, 'params_ema': state}, tmp_path / 'a.safetensors',
                                 True)
    assert torch.equal(load_file(tmp_path / 'a.safetensors')['w'], torch.ones(2))  # the EMA weights


@pytest.mark.slow
def test_pretrain_network_g_reads_safetensors(tmp_path):
    from tests.models.test_model_mprnet import MPRNetModel, model_options

    source = MPRNet(**TINY_MPRNET)
    with torch.no_grad():
        for param in source.parameters():
            param.add_(0.01 * torch.randn_like(param))
    torch.save({'params': source.state_dict()}, tmp_path / 'net.pth')
    convert_checkpoint(tmp_path / 'net.pth', tmp_path / 'net.safetensors')
    # param_key_g: params (the recipes' default) falls back to the file's top level; EMA starts from net_g.
    model = MPRNetModel(model_options(path={'pretrain_network_g': str(tmp_path / 'net.safetensors')},
                                      train={'ema_decay': 0.9}))
    for name, value in source.state_dict().items():
        assert torch.equal(model.net_g.state_dict()[name], value), name
        assert torch.equal(model.net_g_ema.state_dict()[name], value), name
    prelus = {id(m) for m in model.net_g.modules() if isinstance(m, torch.nn.PReLU)}
    assert len(prelus) == 1
