"""MPRNetModel on its own: tiled validation, EMA from the authors' checkpoints, optimizers, clipping, AMP refusal."""
import copy
import math

import pytest
import torch
from tests.helpers.settings import TINY_MPRNET

import mprnet_plugin  # noqa: F401  (registers MPRNet, MPRNetLoss and MPRNetModel)
from mprnet_plugin import MPRNet
from mprnet_plugin.models.mprnet_model import MPRNetModel


def model_options(is_train: bool = True, **sections) -> dict:
    """A complete BasicSR option dict for an in-process MPRNetModel on the CPU."""
    opt = {
        'name': 'unit', 'model_type': 'MPRNetModel', 'num_gpu': 0, 'is_train': is_train, 'dist': False, 'rank': 0,
        'world_size': 1, 'network_g': {'type': 'MPRNet', **TINY_MPRNET},
        'path': {'pretrain_network_g': None, 'strict_load_g': True, 'param_key_g': 'params'},
        'train': {'optim_g': {'type': 'Adam', 'lr': 1e-3}, 'total_iter': 10,
                  'scheduler': {'type': 'LinearWarmupCosineLR', 'warmup_iter': 2}},
        'val': {},
    }
    for key, value in sections.items():
        if isinstance(value, dict) and isinstance(opt.get(key), dict):
            opt[key].update(value)
        else:
            opt[key] = value
    return opt


def psnr(a: torch.Tensor, b: torch.Tensor) -> float:
    return 10 * math.log10(1.0 / ((a - b) ** 2).mean().item())


def smooth_image(h: int, w: int) -> torch.Tensor:
    return torch.nn.functional.interpolate(torch.rand(1, 3, h // 4, w // 4), size=(h, w), mode='bilinear').clamp(0, 1)


@pytest.mark.slow
def test_tiled_validation_stays_close_to_whole_image():
    # Tiling is exact up to MPRNet's own approximation (channel attention pools over its input; stages 1-2 split
    # their input in quarters and halves), an error proportional to what the network changes. Bugs in tiling
    # (misplaced or badly weighted tiles) give errors proportional to the image itself. With small random weights
    # the network changes its input by ~40 dB, so 50 dB separates the two cleanly.
    model = MPRNetModel(model_options(is_train=False, val={'tile': {'size': 48, 'overlap': 16}}))
    with torch.no_grad():
        for param in model.net_g.parameters():
            if param.dim() == 4:
                param.mul_(0.5)
    lq = smooth_image(100, 124)  # larger than the tile, and not a multiple of 8
    model.feed_data({'lq': lq})
    model.test()
    tiled = model.output.clone()
    model.tile_size = None
    model.feed_data({'lq': lq})
    model.test()
    whole = model.output
    assert tiled.shape == whole.shape == lq.shape
    assert 25 < psnr(whole, lq) < 50  # the network does change the image
    assert not torch.equal(tiled, whole)  # tiles really ran
    assert psnr(tiled, whole) > 50


def test_tile_option_is_checked():
    with pytest.raises(ValueError, match='val.tile.size must be a positive multiple of 8'):
        MPRNetModel(model_options(is_train=False, val={'tile': {'size': 50}}))
    with pytest.raises(ValueError, match='overlap'):
        MPRNetModel(model_options(is_train=False, val={'tile': {'size': 64, 'overlap': 64}}))


@pytest.mark.slow
def test_authors_checkpoint_starts_net_and_ema(tmp_path):
    source = MPRNet(**TINY_MPRNET)
    with torch.no_grad():
        for param in source.parameters():
            param.add_(0.01 * torch.randn_like(param))
    # The authors' layout: weights under 'state_dict', DataParallel prefix, optimizer state beside them.
    path = tmp_path / 'model_deblurring.pth'
    torch.save({'epoch': 3, 'state_dict': {f'module.{k}': v for k, v in source.state_dict().items()},
                'optimizer': {'state': {}, 'param_groups': []}}, path)
    opt = model_options(path={'pretrain_network_g': str(path), 'param_key_g': 'state_dict'},
                        train={'ema_decay': 0.9})
    model = MPRNetModel(opt)
    for name, value in source.state_dict().items():
        assert torch.equal(model.net_g.state_dict()[name], value), name
        assert torch.equal(model.net_g_ema.state_dict()[name], value), name
    # One step: net_g moves, and the EMA moves a tenth of the way after it.
    before = copy.deepcopy(model.net_g.state_dict())
    model.feed_data({'lq': torch.rand(2, 3, 32, 32), 'gt': torch.rand(2, 3, 32, 32)})
    model.optimize_parameters(1)
    key = 'tail.weight'
    expected = 0.9 * before[key] + 0.1 * model.net_g.state_dict()[key]
    assert not torch.equal(model.net_g.state_dict()[key], before[key])
    assert torch.allclose(model.net_g_ema.state_dict()[key], expected, atol=1e-7)


def test_wrong_checkpoint_key_is_named(tmp_path):
    path = tmp_path / 'weights.pth'
    torch.save({'params': MPRNet(**TINY_MPRNET).state_dict()}, path)
    with pytest.raises(Exception, match="no key 'generator_weights'"):
        MPRNetModel(model_options(path={'pretrain_network_g': str(path), 'param_key_g': 'generator_weights'}))


@pytest.mark.slow
def test_every_stage_is_trained_and_logged():
    model = MPRNetModel(model_options())
    model.feed_data({'lq': torch.rand(2, 3, 32, 32), 'gt': torch.rand(2, 3, 32, 32)})
    model.optimize_parameters(1)
    log = model.get_current_log()
    assert set(log) == {'l_total', *(f'l_char_{i}' for i in range(3)), *(f'l_edge_{i}' for i in range(3))}
    assert log['l_total'] == pytest.approx(sum(v for k, v in log.items() if k != 'l_total'), rel=1e-5)

    plain = MPRNetModel(model_options(train={'pixel_opt': {'type': 'L1Loss', 'loss_weight': 1.0}}))
    plain.feed_data({'lq': torch.rand(2, 3, 32, 32), 'gt': torch.rand(2, 3, 32, 32)})
    plain.optimize_parameters(1)
    assert set(plain.get_current_log()) == {'l_total', 'l_pix_0', 'l_pix_1', 'l_pix_2'}


@pytest.mark.slow
def test_optimizer_types_and_gradient_clipping():
    adamw = MPRNetModel(model_options(train={'optim_g': {'type': 'AdamW', 'lr': 1e-3, 'weight_decay': 0.01,
                                                         'betas': [0.9, 0.99]}}))
    assert isinstance(adamw.optimizer_g, torch.optim.AdamW)
    assert adamw.optimizer_g.param_groups[0]['betas'] == (0.9, 0.99)

    # Plain SGD with lr 1 moves the weights by exactly the (clipped) gradient.
    opt = model_options(train={'optim_g': {'type': 'SGD', 'lr': 1.0}, 'scheduler': None, 'grad_clip': 1e-3})
    model = MPRNetModel(opt)
    before = [p.detach().clone() for p in model.net_g.parameters()]
    model.feed_data({'lq': torch.rand(2, 3, 32, 32), 'gt': torch.rand(2, 3, 32, 32)})
    model.optimize_parameters(1)
    step = torch.sqrt(sum(((p.detach() - b) ** 2).sum() for p, b in zip(model.net_g.parameters(), before)))
    assert 0 < step.item() <= 1e-3 * 1.0001

    with pytest.raises(ValueError, match="'Adagrad' is not supported.*AdamW"):
        MPRNetModel(model_options(train={'optim_g': {'type': 'Adagrad', 'lr': 1e-3}}))


def test_fp16_is_refused_on_cpu_and_bf16_is_not():
    with pytest.raises(ValueError, match='train.amp: fp16 needs a CUDA device.*use train.amp: bf16'):
        MPRNetModel(model_options(train={'amp': 'fp16'}))
    model = MPRNetModel(model_options(train={'amp': 'bf16'}))
    assert model.amp_dtype == torch.bfloat16 and model.scaler is None


def test_bad_training_options_are_named():
    with pytest.raises(ValueError, match='train.amp'):
        MPRNetModel(model_options(train={'amp': 'fp8'}))
    with pytest.raises(ValueError, match='train.warmup_iter and LinearWarmupCosineLR'):
        MPRNetModel(model_options(train={'warmup_iter': 5}))
    with pytest.raises(ValueError, match='train.grad_clip'):
        MPRNetModel(model_options(train={'grad_clip': -1}))
    with pytest.raises(ValueError, match="train.keep_cpu_heap must be true or false; got 'yes'"):
        MPRNetModel(model_options(train={'keep_cpu_heap': 'yes'}))
    if not torch.cuda.is_available():
        with pytest.raises(ValueError, match='num_gpu: 1 but torch sees no CUDA device'):
            MPRNetModel(model_options(num_gpu=1))


def test_batch_augmentations_change_input_and_target_alike():
    from torchvision.transforms.functional import adjust_saturation

    from mprnet_plugin.training.batch_augment import mixup, saturation_jitter
    gt = torch.rand(4, 3, 8, 8)
    lq, out_gt = saturation_jitter(gt * 0.5, gt, prob=1.0, low=0.5, high=0.5)
    assert torch.allclose(out_gt, adjust_saturation(gt, 0.5)) and torch.allclose(lq, adjust_saturation(gt * 0.5, 0.5))
    lq, out_gt = saturation_jitter(gt * 0.5, gt, prob=0.0, low=0.5, high=1.5)
    assert torch.equal(out_gt, gt) and torch.equal(lq, gt * 0.5)

    ones = torch.arange(4.0).view(4, 1, 1, 1).expand(4, 3, 8, 8)
    mixed_lq, mixed_gt = mixup(2 * ones, ones, alpha=0.6)
    assert torch.allclose(mixed_lq, 2 * mixed_gt)  # one lam and one permutation for both
    assert mixed_gt.min() >= 0 and mixed_gt.max() <= 3


def test_mixup_starts_after_its_iteration():
    model = MPRNetModel(model_options(train={'mixup': {'alpha': 0.6, 'start_iter': 1}}))
    batch = torch.arange(4.0).view(4, 1, 1, 1).expand(4, 3, 16, 16).contiguous()
    model.feed_data({'lq': 2 * batch, 'gt': batch})
    model.augment_batch(1)
    assert torch.equal(model.gt, batch)  # not yet
    changed = False
    for _ in range(5):
        model.feed_data({'lq': 2 * batch, 'gt': batch})
        model.augment_batch(2)
        assert torch.allclose(model.lq, 2 * model.gt)
        changed |= not torch.allclose(model.gt, batch)
    assert changed
    with pytest.raises(ValueError, match='train.mixup'):
        MPRNetModel(model_options(train={'mixup': {'alpha': 0}}))


def test_identity_init_starts_every_stage_at_the_input():
    model = MPRNetModel(model_options(train={'identity_init': True}))
    lq = torch.rand(1, 3, 32, 40)
    with torch.no_grad():
        outputs = model.net_g(lq)
    assert len(outputs) == 3 and all(torch.allclose(out, lq, atol=1e-6) for out in outputs)
    model.feed_data({'lq': lq, 'gt': torch.rand(1, 3, 32, 40)})
    model.optimize_parameters(1)
    assert model.net_g.tail.weight.abs().sum() > 0  # and it trains away from it


@pytest.mark.slow
def test_compile_failure_falls_back_to_eager():
    import torch._dynamo

    @torch._dynamo.register_backend
    def mprnet_test_failing_backend(graph_module, example_inputs):
        raise RuntimeError('this backend cannot compile anything')

    model = MPRNetModel(model_options(train={'compile': {'backend': 'mprnet_test_failing_backend'}}))
    assert model.compiled_net_g is not None
    before = model.net_g.tail.weight.detach().clone()
    model.feed_data({'lq': torch.rand(2, 3, 32, 32), 'gt': torch.rand(2, 3, 32, 32)})
    model.optimize_parameters(1)
    assert model.compiled_net_g is None  # fell back, and the step still happened in eager mode
    assert not torch.equal(model.net_g.tail.weight, before)
    assert math.isfinite(model.get_current_log()['l_total'])
