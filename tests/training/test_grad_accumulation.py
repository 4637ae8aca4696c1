"""train.grad_accumulation: N micro-batches per batch give the whole batch's gradients, one step per batch."""
import re

import pytest
import torch
from tests.models.test_model_mprnet import model_options
from tests.training.test_train_pipeline import paired_dataset, run_module, train_options, write_lmdb_pairs, write_yml

import mprnet_plugin
from mprnet_plugin.archs.mprnet_arch import MPRNet
from mprnet_plugin.losses.mprnet_loss import MPRNetLoss
from mprnet_plugin.models.mprnet_model import MPRNetModel
from mprnet_plugin.training.accumulation import micro_batch_loss_scale, parse_grad_accumulation, split_batch
from mprnet_plugin.training.step import training_step


def one_sgd_step(n: int, lq: torch.Tensor, gt: torch.Tensor, **train) -> tuple:
    """The weight change of one SGD step (lr 1: minus the gradient) with ``n`` micro-batches, and the logged losses."""
    torch.manual_seed(1)
    model = MPRNetModel(model_options(train={'optim_g': {'type': 'SGD', 'lr': 1.0}, 'scheduler': None,
                                             'grad_accumulation': n, **train}))
    before = {k: v.clone() for k, v in model.net_g.state_dict().items()}
    model.feed_data({'lq': lq, 'gt': gt})
    model.optimize_parameters(1)
    after = model.net_g.state_dict()
    return {k: after[k] - before[k] for k in before}, model.get_current_log()


@pytest.mark.slow
@pytest.mark.parametrize('pixel_opt', [{'type': 'MPRNetLoss'}, {'type': 'L1Loss', 'reduction': 'sum'}])
def test_micro_batches_give_the_whole_batch_gradient(pixel_opt):
    # In float64 the only difference left is rounding (1e-14); any wrong scale or lost micro-batch is O(1).
    default = torch.get_default_dtype()
    torch.set_default_dtype(torch.float64)
    try:
        lq, gt = torch.rand(4, 3, 32, 32), torch.rand(4, 3, 32, 32)
        whole, whole_log = one_sgd_step(1, lq, gt, pixel_opt=pixel_opt)
        for n in (2, 4):
            split, split_log = one_sgd_step(n, lq, gt, pixel_opt=pixel_opt)
            assert sum(int(step.abs().max() > 0) for step in whole.values()) > 0.9 * len(whole)
            for name, step in whole.items():
                torch.testing.assert_close(split[name], step, rtol=1e-10, atol=1e-14, msg=name)
            assert split_log.keys() == whole_log.keys()
            for name, value in whole_log.items():  # the logged losses are the whole batch's
                assert split_log[name] == pytest.approx(value, rel=1e-12), name
    finally:
        torch.set_default_dtype(default)


@pytest.mark.slow
def test_grad_scaler_spans_the_micro_batches():
    # The fp16 recipe's GradScaler (here on the CPU, where autocast to fp16 is refused): every micro-batch's loss is
    # scaled, the accumulated gradients unscale once to the whole batch's.
    from tests.helpers.settings import TINY_MPRNET

    torch.manual_seed(2)
    net, loss = MPRNet(**TINY_MPRNET), MPRNetLoss()
    lq, gt = torch.rand(4, 3, 32, 32), torch.rand(4, 3, 32, 32)
    training_step(net, lq, gt, loss)
    whole = [p.grad.clone() for p in net.parameters()]
    net.zero_grad(set_to_none=True)
    scaler = torch.amp.GradScaler('cpu', init_scale=2.0 ** 10)
    optimizer = torch.optim.SGD(net.parameters(), lr=0.0)
    terms = training_step(net, lq, gt, loss, accumulation=2, scaler=scaler)
    assert terms['l_total'] == pytest.approx(float(loss(net(lq), gt)), rel=1e-5)  # unscaled, the whole batch's
    scaler.unscale_(optimizer)
    for param, expected in zip(net.parameters(), whole):
        torch.testing.assert_close(param.grad, expected, rtol=1e-4, atol=1e-7)


def test_split_scale_and_option_checks():
    x, y = torch.arange(8.0).view(4, 2), torch.arange(4.0)
    parts = split_batch((x, y), 2)
    assert len(parts) == 2 and torch.equal(parts[1][0], x[2:]) and torch.equal(parts[1][1], y[2:])
    assert micro_batch_loss_scale(torch.nn.L1Loss(), 4) == 0.25
    assert micro_batch_loss_scale(torch.nn.L1Loss(reduction='sum'), 4) == 1.0
    assert parse_grad_accumulation(None, 4) == 1 and parse_grad_accumulation(2, 4) == 2
    for bad in (0, -1, 1.5, '2', True):
        with pytest.raises(ValueError, match='train.grad_accumulation: expected a positive integer'):
            parse_grad_accumulation(bad, 4)


def test_a_count_that_does_not_divide_the_batch_is_refused():
    opt = model_options(train={'grad_accumulation': 3}, datasets={'train': {'batch_size_per_gpu': 4}})
    with pytest.raises(ValueError, match=r'train.grad_accumulation: 3 micro-batches do not divide the batch of 4 '
                                         r'\(datasets.train.batch_size_per_gpu\)'):
        MPRNetModel(opt)
    # And at run time, for a batch the option file did not announce.
    model = MPRNetModel(model_options(train={'grad_accumulation': 2}))
    model.feed_data({'lq': torch.rand(3, 3, 32, 32), 'gt': torch.rand(3, 3, 32, 32)})
    with pytest.raises(ValueError, match='train.grad_accumulation: 2 micro-batches do not divide a batch of 3'):
        model.optimize_parameters(1)


def logged_losses(log: str) -> list:
    return [float(v) for v in re.findall(r'l_total: ([\d.e+-]+)', log)]


@pytest.mark.slow
def test_train_pipeline_with_accumulation_saves_the_weights_of_whole_batches(tmp_path):
    lq, gt = write_lmdb_pairs(tmp_path / 'train', count=8, size=(40, 40), seed=7)
    runs = {}
    for n in (1, 4):
        dataset = paired_dataset('tiny_lmdb', lq, gt, 'train', backend='lmdb')
        dataset['batch_size_per_gpu'] = 4
        # SGD, not Adam: Adam's step is nearly blind to the gradient's scale, SGD's is not. EMA and clipping are
        # per batch: stepped per micro-batch they would differ.
        opt = train_options(f'acc{n}', {'train': dataset}, total_iter=3, grad_accumulation=n, ema_decay=0.5,
                            grad_clip=5.0, saturation_jitter={'prob': 0.5, 'range': [0.8, 1.2]},
                            optim_g={'type': 'SGD', 'lr': 0.5, 'momentum': 0.9})
        del opt['val']
        run_module('mprnet_plugin.train', ['-opt', str(write_yml(tmp_path / f'acc{n}.yml', opt))], cwd=tmp_path)
        experiment = tmp_path / 'experiments' / f'acc{n}'
        log = next(experiment.glob('train_*.log')).read_text()
        runs[n] = (torch.load(experiment / 'models' / 'net_g_latest.pth', weights_only=True), logged_losses(log))
    log = next((tmp_path / 'experiments' / 'acc4').glob('train_*.log')).read_text()
    assert 'Gradient accumulation: each batch in 4 micro-batches' in log
    assert f'mprnet_plugin {mprnet_plugin.__version__}' in log
    (whole, whole_losses), (split, split_losses) = runs[1], runs[4]
    assert len(whole_losses) == len(split_losses) == 3
    assert split_losses == pytest.approx(whole_losses, rel=1e-3)  # logged with 4 digits
    initial = MPRNetModel(model_options(network_g=train_options('x', {}, 1)['network_g'])).net_g.state_dict()
    moved = 0
    for key in ('params', 'params_ema'):
        for name, value in whole[key].items():
            torch.testing.assert_close(split[key][name], value, rtol=0, atol=2e-6, msg=f'{key}.{name}')
            moved += int((value - initial[name]).abs().max() > 1e-4)
    assert moved > len(initial)  # training really moved the weights of both copies
