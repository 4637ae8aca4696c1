"""``train.amp: bf16`` and ``--amp bf16`` on the CPU: autocast in bf16, losses in float32, no gradient scaler.

Gradients stay within bf16 rounding of fp32; BasicSR's train_pipeline and MMEngine's Runner train a few iterations
with finite losses; fp16 stays CUDA-only and is refused in one line naming the option.
"""
import json
import math
import re
import subprocess
import sys

import pytest
import torch
import torch.nn.functional as F
from tests.helpers.settings import TINY_MPRNET
from tests.helpers.mmengine_fixtures import GOPRO_CONFIG
from tests.training.test_train_pipeline import (SUBPROCESS_ENV, paired_dataset, run_module, train_options,
                                                training_logs, write_folder_pairs, write_yml)

from basicsr.models import build_model
from mprnet_plugin.mmengine import train as mm_train
from mprnet_plugin.mmengine.optim_wrapper import CPUAutocastOptimWrapper

# Tolerances, from what this test measured (3 seeds, tiny MPRNet, batch 2 at 32x32): the lowest per-tensor cosine
# similarity was 0.9994, the largest relative norm difference of one tensor 1.6%, of all gradients together 1.2%.
# bf16 keeps 8 significant bits (relative rounding 2^-8 = 0.4% per operation); the errors of ~20 layers add up to
# about 1% in the gradients. The bounds leave room for other seeds and CPUs without letting a wrong path through
# (fp32 weights read as bf16 twice, a missing cast or float16's range would be off by far more).
MIN_COSINE = 0.995
MAX_TENSOR_NORM_DIFFERENCE = 0.05
MAX_TOTAL_DIFFERENCE = 0.03
# Tensors whose gradient norm is below this share of the total: their direction is mostly rounding noise.
TRIVIAL_NORM_SHARE = 1e-3


def cpu_model(amp: str, **train):
    """An in-process MPRNetModel on the CPU with ``train.amp: amp``."""
    opt = {
        'name': 'bf16', 'model_type': 'MPRNetModel', 'num_gpu': 0, 'is_train': True, 'dist': False, 'rank': 0,
        'world_size': 1, 'network_g': {'type': 'MPRNet', **TINY_MPRNET},
        'path': {'pretrain_network_g': None, 'strict_load_g': True},
        'train': {'optim_g': {'type': 'Adam', 'lr': 1e-3}, 'total_iter': 10, 'amp': amp, **train}, 'val': {},
    }
    return build_model(opt)


def gradients(model, lq, gt):
    model.feed_data({'lq': lq, 'gt': gt})
    model.optimizer_g.zero_grad(set_to_none=True)
    terms = model.forward_backward(model.net_g)
    return terms, {name: p.grad.detach().clone() for name, p in model.net_g.named_parameters()}


@pytest.mark.parametrize('seed', [0, 1])
def test_bf16_gradients_are_within_bf16_rounding_of_fp32(seed):
    torch.manual_seed(seed)
    fp32, bf16 = cpu_model('none'), cpu_model('bf16')
    bf16.net_g.load_state_dict(fp32.net_g.state_dict())
    assert bf16.amp_dtype == torch.bfloat16 and bf16.scaler is None  # bf16 needs no loss scaling
    gt = torch.rand(2, 3, 32, 32)
    lq = (gt + 0.1 * torch.randn_like(gt)).clamp(0, 1)
    terms32, grads32 = gradients(fp32, lq, gt)
    terms16, grads16 = gradients(bf16, lq, gt)
    assert all(value.dtype == torch.float32 for value in terms16.values())  # the losses ran in float32
    assert terms16['l_total'].item() == pytest.approx(terms32['l_total'].item(), rel=1e-2)

    total = torch.sqrt(sum(g.norm() ** 2 for g in grads32.values()))
    checked = 0
    for name, reference in grads32.items():
        grad = grads16[name]
        assert grad.dtype == torch.float32 and torch.isfinite(grad).all(), name  # fp32 master weights and grads
        if reference.numel() < 2 or reference.norm() < TRIVIAL_NORM_SHARE * total:
            continue
        cosine = F.cosine_similarity(grad.flatten(), reference.flatten(), dim=0).item()
        difference = abs(grad.norm().item() - reference.norm().item()) / reference.norm().item()
        assert cosine > MIN_COSINE and difference < MAX_TENSOR_NORM_DIFFERENCE, (name, cosine, difference)
        checked += 1
    assert checked > 50  # most of the network's tensors were compared
    flat32 = torch.cat([g.flatten() for g in grads32.values()])
    flat16 = torch.cat([grads16[name].flatten() for name in grads32])
    assert 0 < ((flat16 - flat32).norm() / flat32.norm()).item() < MAX_TOTAL_DIFFERENCE  # not fp32 in disguise


def test_bf16_model_autocasts_the_network_on_the_cpu():
    model = cpu_model('bf16')
    seen = []
    model.net_g.shallow_feat1[0].register_forward_hook(lambda module, args, out: seen.append(out.dtype))
    model.feed_data({'lq': torch.rand(1, 3, 32, 32), 'gt': torch.rand(1, 3, 32, 32)})
    model.optimize_parameters(1)
    assert seen == [torch.bfloat16]
    assert all(p.dtype == torch.float32 for p in model.net_g.parameters())
    assert math.isfinite(model.log_dict['l_total'])


def test_basicsr_training_runs_in_bf16_on_the_cpu(tmp_path):
    lq, gt = write_folder_pairs(tmp_path / 'train', [(40, 40), (48, 40)], seed=5)
    val_lq, val_gt = write_folder_pairs(tmp_path / 'val', [(37, 45)], seed=6)
    opt = train_options('bf16_run', {'train': paired_dataset('tiny', lq, gt, 'train'),
                                     'val': paired_dataset('tiny_val', val_lq, val_gt, 'val')},
                        total_iter=3, amp='bf16')
    opt['train']['scheduler']['total_iter'] = 3
    run_module('mprnet_plugin.train', ['-opt', str(write_yml(tmp_path / 'train.yml', opt))], cwd=tmp_path)
    (log,) = training_logs(tmp_path / 'experiments' / 'bf16_run')
    assert 'Mixed precision training with bf16 (autocast on cpu, losses in float32)' in log
    losses = [float(v) for v in re.findall(r'l_total: ([-+\d.e]+|nan|inf)', log)]
    assert len(losses) == 3 and all(math.isfinite(v) and v > 0 for v in losses)
    assert re.search(r'Validation tiny_val\s+# psnr: \d+\.\d+', log)


def test_basicsr_training_refuses_fp16_on_the_cpu_in_one_line(tmp_path):
    lq, gt = write_folder_pairs(tmp_path / 'train', [(40, 40)], seed=7)
    opt = train_options('fp16_run', {'train': paired_dataset('tiny', lq, gt, 'train')}, total_iter=4, amp='fp16')
    del opt['val']
    proc = subprocess.run([sys.executable, '-m', 'mprnet_plugin.train', '-opt',
                           str(write_yml(tmp_path / 'train.yml', opt))], cwd=tmp_path, env=SUBPROCESS_ENV,
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 2, proc.stderr
    assert proc.stderr.count('\n') == 1 and 'train.amp' in proc.stderr and 'expected bf16 or none on the CPU' in \
        proc.stderr


# ------------------------------------------------------------------------------------------------------ MMEngine
def test_cpu_autocast_optim_wrapper_autocasts_in_bf16_without_loss_scaling():
    net = torch.nn.Conv2d(3, 4, 3)
    wrapper = CPUAutocastOptimWrapper(optimizer=torch.optim.SGD(net.parameters(), lr=0.1))
    with wrapper.optim_context(net):
        out = net(torch.rand(1, 3, 8, 8))
    assert out.dtype == torch.bfloat16 and not hasattr(wrapper, 'loss_scaler')
    wrapper.update_params(out.float().square().mean())
    assert net.weight.dtype == torch.float32
    with pytest.raises(ValueError, match="dtype 'float16' is not supported; expected bfloat16"):
        CPUAutocastOptimWrapper(dtype='float16', optimizer=torch.optim.SGD(net.parameters(), lr=0.1))


def test_mmengine_demo_trains_with_amp_bf16_on_the_cpu(tmp_path, monkeypatch):
    from mmengine.registry import OPTIM_WRAPPERS

    from mprnet_plugin.data.demo_data import build_demo_dataset

    if torch.cuda.is_available():
        pytest.skip('on CUDA --amp bf16 takes MMEngine\'s AmpOptimWrapper')
    monkeypatch.chdir(tmp_path)  # the demo config reads demo_output/data relative to the working directory
    build_demo_dataset('demo_output/data', train_images=('coffee',), test_images=('rocket',), train_copies=1,
                       test_copies=1, max_side=256)
    built = []
    original = OPTIM_WRAPPERS.build

    def build_and_record(cfg, *args, **kwargs):
        wrapper = original(cfg, *args, **kwargs)
        built.append(wrapper)
        return wrapper

    monkeypatch.setattr(OPTIM_WRAPPERS, 'build', build_and_record)
    mm_train.main([str(GOPRO_CONFIG.parent / 'mprnet_demo.py'), '--amp', 'bf16', '--cfg-options',
                   'train_cfg.max_iters=3', 'train_cfg.val_interval=3', 'train_dataloader.batch_size=1',
                   'train_dataloader.dataset.gt_size=32', 'default_hooks.logger.interval=1',
                   'log_processor.window_size=1'])
    assert [type(w).__name__ for w in built] == ['CPUAutocastOptimWrapper']
    assert built[0].cast_dtype == torch.bfloat16
    work_dir = tmp_path / 'demo_output' / 'mmengine'
    rows = [json.loads(line) for path in sorted(work_dir.glob('*/vis_data/scalars.json'))
            for line in path.read_text().splitlines()]
    losses = [row['loss'] for row in rows if 'loss' in row]
    assert len(losses) == 3 and all(math.isfinite(v) and v > 0 for v in losses)
    assert (work_dir / 'iter_3.pth').is_file()

