"""Stage outputs: a one-output network trains as one stage, in MPRNetModel and MPRNetRestorer exactly as SRModel."""
import copy
from pathlib import Path

import pytest
import torch
import yaml
from torchvision.transforms.functional import adjust_saturation

import mprnet_plugin  # noqa: F401  (installs the import fix, registers PlainUNet, the losses and MPRNetModel)
from basicsr.models.sr_model import SRModel  # after mprnet_plugin, whose compat fix lets basicsr import
from mprnet_plugin.losses.mprnet_loss import MPRNetLoss
from mprnet_plugin.losses.stage_outputs import stage_loss_terms, stage_outputs
from mprnet_plugin.models.mprnet_model import MPRNetModel

UNET = {'type': 'PlainUNet', 'base_channels': 8, 'depth': 2, 'blocks_per_level': 1}
REPO = Path(__file__).resolve().parents[2]


def test_stage_outputs_of_tensors_lists_and_tuples():
    x = torch.rand(4, 3, 8, 8)
    assert len(stage_outputs(x)) == 1 and stage_outputs(x)[0] is x  # never the batch's samples
    assert stage_outputs((x, x * 2))[1].equal(x * 2) and len(stage_outputs([x, x, x])) == 3
    for bad in ([], {'out': x}, [x, 'y']):
        with pytest.raises(TypeError, match='tensor or a non-empty list/tuple of tensors'):
            stage_outputs(bad)
    gt = torch.rand(4, 3, 8, 8)
    terms = stage_loss_terms(torch.nn.L1Loss(), x, gt)
    assert list(terms) == ['l_pix_0'] and terms['l_pix_0'] == torch.nn.functional.l1_loss(x, gt)
    assert list(stage_loss_terms(MPRNetLoss(), [x, x], gt)) == ['l_char_0', 'l_edge_0', 'l_char_1', 'l_edge_1']
    half = stage_loss_terms(torch.nn.L1Loss(), x.half(), gt)['l_pix_0']
    assert half.dtype == torch.float32  # the losses run in float32 whatever precision the network ran in


def training_options(model_type: str) -> dict:
    return {'name': 'one_output', 'model_type': model_type, 'num_gpu': 0, 'is_train': True, 'dist': False,
            'rank': 0, 'world_size': 1, 'network_g': dict(UNET),
            'path': {'pretrain_network_g': None, 'strict_load_g': True, 'param_key_g': 'params'},
            'train': {'optim_g': {'type': 'Adam', 'lr': 2e-3, 'betas': [0.9, 0.99]},
                      'scheduler': {'type': 'MultiStepLR', 'milestones': [2], 'gamma': 0.5}, 'total_iter': 4,
                      'pixel_opt': {'type': 'L1Loss', 'loss_weight': 1.0, 'reduction': 'mean'}},
            'val': {}}


def batches(count: int) -> list:
    generator = torch.Generator().manual_seed(5)
    return [(torch.rand(4, 3, 16, 16, generator=generator), torch.rand(4, 3, 16, 16, generator=generator))
            for _ in range(count)]


def srmodel_after(data: list, start: dict) -> SRModel:
    """BasicSR's own SRModel trained from ``start`` on ``data``, as its train loop drives it."""
    reference = SRModel(copy.deepcopy(training_options('SRModel')))
    reference.net_g.load_state_dict(start)
    for it, (lq, gt) in enumerate(data, 1):
        reference.update_learning_rate(it, warmup_iter=-1)
        reference.feed_data({'lq': lq, 'gt': gt})
        reference.optimize_parameters(it)
    return reference


def test_one_output_network_trains_in_mprnet_model_exactly_as_in_srmodel():
    data = batches(4)
    ours = MPRNetModel(copy.deepcopy(training_options('MPRNetModel')))
    start = copy.deepcopy(ours.net_g.state_dict())
    reference = srmodel_after(data, start)
    for it, (lq, gt) in enumerate(data, 1):
        ours.update_learning_rate(it, warmup_iter=-1)
        ours.feed_data({'lq': lq, 'gt': gt})
        ours.optimize_parameters(it)
    assert set(ours.get_current_log()) == {'l_total', 'l_pix_0'}
    assert ours.get_current_log()['l_pix_0'] == reference.get_current_log()['l_pix']
    for name, value in reference.net_g.state_dict().items():
        assert not torch.equal(value, start[name]), name
        assert torch.equal(ours.net_g.state_dict()[name], value), name


def test_one_output_network_trains_in_mprnet_restorer_exactly_as_in_srmodel():
    from mmengine.optim import OptimWrapper

    from mprnet_plugin.mmengine import MPRNetRestorer

    data = batches(2)  # before the scheduler's milestone: a constant lr on both sides
    model = MPRNetRestorer(generator={k: v for k, v in UNET.items()}, loss={'type': 'L1Loss'}).train()
    start = copy.deepcopy(model.generator.state_dict())
    reference = srmodel_after(data, start)
    wrapper = OptimWrapper(torch.optim.Adam(model.parameters(), lr=2e-3, betas=(0.9, 0.99)))
    for lq, gt in data:
        log_vars = model.train_step({'inputs': list(lq), 'data_samples': [{'gt': g} for g in gt]}, wrapper)
    assert set(log_vars) == {'loss', 'loss_pix_0'}
    assert float(log_vars['loss_pix_0']) == reference.get_current_log()['l_pix']
    for name, value in reference.net_g.state_dict().items():
        assert not torch.equal(value, start[name]), name
        assert torch.equal(model.generator.state_dict()[name], value), name


def test_restorer_saturation_jitter_in_training_only():
    from mprnet_plugin.mmengine import MPRNetRestorer

    model = MPRNetRestorer(generator=dict(UNET), loss={'type': 'L1Loss'},
                           saturation_jitter={'prob': 1.0, 'range': [0.5, 0.5]})
    x, gt = torch.rand(2, 3, 16, 16), torch.rand(2, 3, 16, 16)
    samples = [{'gt': g} for g in gt]
    with torch.no_grad():
        jittered = model.train()(x, samples, mode='loss')['loss_pix_0']
        expected = torch.nn.functional.l1_loss(model.generator(adjust_saturation(x, 0.5)), adjust_saturation(gt, 0.5))
        plain = model.eval()(x, samples, mode='loss')['loss_pix_0']
    torch.testing.assert_close(jittered, expected)
    torch.testing.assert_close(plain, torch.nn.functional.l1_loss(model.generator(x), gt))
    with pytest.raises(ValueError, match='model.saturation_jitter'):
        MPRNetRestorer(generator=dict(UNET), saturation_jitter={'prob': 2.0})


def test_mmengine_gopro_config_jitters_saturation_as_the_basicsr_recipe():
    from mmengine.config import Config
    from mmengine.registry import MODELS

    from mprnet_plugin.training.batch_augment import parse_saturation_option

    cfg = Config.fromfile(str(REPO / 'options' / 'mmengine' / 'mprnet_gopro.py'))
    basicsr = yaml.safe_load((REPO / 'options' / 'train' / 'MPRNet_GoPro.yml').read_text())
    cfg.model.generator = dict(type='MPRNet', n_feat=8, scale_unetfeats=4, scale_orsnetfeats=4, num_cab=1)
    assert MODELS.build(cfg.model).saturation == parse_saturation_option(basicsr['train']['saturation_jitter'])
    assert MODELS.build(cfg.model).saturation == pytest.approx((1 / 3, 0.8, 1.2), abs=1e-4)
