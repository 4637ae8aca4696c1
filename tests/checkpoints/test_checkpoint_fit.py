"""The one checkpoint-fitting policy, as the BasicSR model, the MMEngine model and load_mprnet_checkpoint use it."""
import pytest
import torch
from tests.helpers.settings import TINY_MPRNET
from tests.models.test_model_mprnet import model_options

from mprnet_plugin.archs.mprnet_arch import MPRNet
from mprnet_plugin.checkpoints.reading import CheckpointError
from mprnet_plugin.checkpoints.fitting import fit_checkpoint, fit_state_dict
from mprnet_plugin.models.mprnet_model import MPRNetModel

WIDER = dict(TINY_MPRNET, n_feat=12)


def shifted_state(config: dict) -> dict:
    """The weights of an MPRNet of ``config``, moved away from any fresh initialisation."""
    net = MPRNet(**config)
    return {k: v + 0.5 for k, v in net.state_dict().items()}


def test_strict_names_the_file_and_keys_and_loads_nothing(tmp_path):
    state = shifted_state(TINY_MPRNET)
    state['extra.weight'] = torch.zeros(1)
    del state['tail.weight']
    torch.save({'params': state}, tmp_path / 'net.pth')
    net = MPRNet(**TINY_MPRNET)
    before = {k: v.clone() for k, v in net.state_dict().items()}
    with pytest.raises(CheckpointError, match=r"net.pth' does not fit MPRNet: 1 missing keys: tail.weight; "
                                              r"1 unexpected keys: extra.weight"):
        fit_checkpoint(net, tmp_path / 'net.pth', strict=True)
    assert all(torch.equal(v, before[k]) for k, v in net.state_dict().items())


def test_not_strict_loads_what_fits_and_warns_about_the_rest(tmp_path):
    state = shifted_state(WIDER)
    messages = []
    net = MPRNet(**TINY_MPRNET)
    before = {k: v.clone() for k, v in net.state_dict().items()}
    problems = fit_state_dict(net, state, strict=False, source='wide.pth', warn=messages.append)
    assert len(messages) == 1 and problems and 'shape mismatches' in messages[0] and 'wide.pth' in messages[0]
    loaded = skipped = 0
    for name, value in net.state_dict().items():
        if state[name].shape == value.shape:
            assert torch.equal(value, state[name]), name
            loaded += 1
        else:
            assert torch.equal(value, before[name]), name  # left as it was
            skipped += 1
    assert 'shallow_feat1.0.weight' in messages[0]  # the first skipped layer is named
    assert loaded > 0 and skipped > 0
    with pytest.warns(UserWarning, match='skipped'):  # without a logger: a Python warning
        fit_state_dict(MPRNet(**TINY_MPRNET), state, strict=False)


def test_a_standard_key_the_file_lacks_falls_back_to_its_weights(tmp_path):
    state = shifted_state(TINY_MPRNET)
    torch.save({'state_dict': {f'module.{k}': v for k, v in state.items()}, 'epoch': 3}, tmp_path / 'authors.pth')
    net = MPRNet(**TINY_MPRNET)
    assert fit_checkpoint(net, tmp_path / 'authors.pth', key='params_ema') == 'state_dict'
    assert all(torch.equal(v, state[k]) for k, v in net.state_dict().items())
    with pytest.raises(CheckpointError, match="no key 'my_weights'"):  # a key of its own is not guessed
        fit_checkpoint(net, tmp_path / 'authors.pth', key='my_weights')


def test_basicsr_and_mmengine_models_use_the_policy(tmp_path):
    from mprnet_plugin.mmengine import MPRNetRestorer

    torch.save({'params': shifted_state(WIDER)}, tmp_path / 'wide.pth')
    with pytest.raises(CheckpointError, match="wide.pth' does not fit MPRNet: .*shape mismatches"):
        MPRNetModel(model_options(path={'pretrain_network_g': str(tmp_path / 'wide.pth')}))
    with pytest.raises(CheckpointError, match='shape mismatches'):
        MPRNetRestorer(generator=dict(type='MPRNet', **TINY_MPRNET), pretrained=str(tmp_path / 'wide.pth'))
    saved = torch.load(tmp_path / 'wide.pth', weights_only=True)['params']
    model = MPRNetModel(model_options(path={'pretrain_network_g': str(tmp_path / 'wide.pth'), 'strict_load_g': False}))
    restorer = MPRNetRestorer(generator=dict(type='MPRNet', **TINY_MPRNET), pretrained=str(tmp_path / 'wide.pth'),
                              pretrained_strict=False)
    for net in (model.net_g, restorer.generator):
        fitting = [k for k, v in net.state_dict().items() if v.shape == saved[k].shape]
        assert fitting and all(torch.equal(net.state_dict()[k], saved[k]) for k in fitting)
