"""Activation checkpointing: same outputs and gradients, less saved activation memory, nothing in eval mode."""
import pytest
import torch
import torch.utils.checkpoint as torch_checkpoint
from tests.helpers.settings import TINY_MPRNET

from mprnet_plugin import MPRNet, MPRNetLoss
from mprnet_plugin.archs import grad_checkpointing as gc_module
from mprnet_plugin.archs.mprnet_arch import ChannelAttentionBlock, Decoder, Encoder, OriginalResolutionBlock


def _net(level, channels_last=True) -> MPRNet:
    torch.manual_seed(0)
    return MPRNet(**TINY_MPRNET, channels_last=channels_last, grad_checkpointing=level).train()


def _loss_and_grads(net, x, gt):
    net.zero_grad(set_to_none=True)
    outputs = net(x)
    loss = MPRNetLoss()(outputs, gt)
    loss.backward()
    return [o.detach() for o in outputs], loss.detach(), {n: p.grad.clone() for n, p in net.named_parameters()}


class _CountCheckpoints:
    """Counts torch.utils.checkpoint calls made by the module under test."""

    def __init__(self, monkeypatch):
        self.calls = 0
        original = torch_checkpoint.checkpoint

        def counting(*args, **kwargs):
            self.calls += 1
            return original(*args, **kwargs)
        monkeypatch.setattr(gc_module, 'checkpoint', counting)


@pytest.mark.slow
@pytest.mark.parametrize('channels_last', [True, False])
@pytest.mark.parametrize('level', [True, 'cab', 'stage'])
def test_outputs_loss_and_every_gradient_equal_without_checkpointing(level, channels_last):
    x, gt = torch.rand(2, 3, 32, 32), torch.rand(2, 3, 32, 32)
    ref_out, ref_loss, ref_grads = _loss_and_grads(_net(False, channels_last), x, gt)
    out, loss, grads = _loss_and_grads(_net(level, channels_last), x, gt)
    assert torch.allclose(loss, ref_loss, rtol=1e-6, atol=0)
    for a, b in zip(out, ref_out):
        torch.testing.assert_close(a, b, rtol=1e-6, atol=1e-7)
    assert grads.keys() == ref_grads.keys()
    for name, grad in grads.items():
        torch.testing.assert_close(grad, ref_grads[name], rtol=1e-5, atol=1e-7, msg=name)


def test_levels_mark_the_right_blocks():
    net = _net('stage')
    assert net.grad_checkpointing == 'stage'
    cabs = [m for m in net.modules() if isinstance(m, ChannelAttentionBlock)]
    stages = [m for m in net.modules() if isinstance(m, (Encoder, Decoder, OriginalResolutionBlock))]
    assert len(stages) == 7 and all(m.grad_checkpointing for m in cabs + stages)
    net.set_grad_checkpointing('cab')
    assert all(m.grad_checkpointing for m in cabs) and not any(m.grad_checkpointing for m in stages)
    net.set_grad_checkpointing(False)
    assert net.grad_checkpointing is None and not any(m.grad_checkpointing for m in cabs + stages)
    net.set_grad_checkpointing()  # timm's default: enable=True
    assert net.grad_checkpointing == 'cab'


def test_checkpoints_run_in_training_only(monkeypatch):
    counter = _CountCheckpoints(monkeypatch)
    net, x = _net('stage'), torch.rand(1, 3, 32, 32)
    net(x)
    trained = counter.calls
    # 7 stage blocks, 2 stage transitions, and CABs: 3 shallow + 2 encoders x 6 + 2 decoders x 8 + 3 ORBs x 1
    assert trained == 7 + 2 + 3 + 12 + 16 + 3
    counter.calls = 0
    with torch.no_grad():
        net(x)
    assert counter.calls == 0
    net.eval()
    with torch.inference_mode():
        net(x)
    assert counter.calls == 0


def test_eval_mode_saves_what_no_checkpointing_saves():
    x = torch.rand(1, 3, 32, 32)
    assert _saved_bytes(_net('stage').eval(), x) == _saved_bytes(_net(False).eval(), x)


def _saved_bytes(net, x) -> int:
    """Bytes of distinct activation storages autograd keeps for the backward pass (parameters excluded)."""
    params = {p.untyped_storage().data_ptr() for p in net.parameters()}
    saved = {}

    def pack(t):
        storage = t.untyped_storage()
        if storage.data_ptr() not in params:
            saved[storage.data_ptr()] = storage.nbytes()
        return t
    with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
        MPRNetLoss()(net(x), torch.rand_like(x))
    return sum(saved.values())


@pytest.mark.slow
def test_checkpointing_keeps_fewer_activations():
    x = torch.rand(1, 3, 64, 64)
    none, cab, stage = (_saved_bytes(_net(level), x) for level in (False, 'cab', 'stage'))
    # What stays saved after the forward pass: CAB and block inputs instead of every intermediate (on this tiny
    # network 15.9, 5.8 and 3.1 MB; the full-width one saves far more inside its CABs).
    assert cab * 2.5 < none
    assert stage * 1.5 < cab
    assert stage * 4 < none


@pytest.mark.slow
@pytest.mark.parametrize('value', ['CAB', 'full', 1, 0, 'true', ['cab']])
def test_invalid_value_is_refused(value):
    with pytest.raises(ValueError, match=r"grad_checkpointing: expected false, true, 'cab' or 'stage'") as info:
        MPRNet(**TINY_MPRNET, grad_checkpointing=value)
    assert '\n' not in str(info.value)
    with pytest.raises(ValueError, match='set_grad_checkpointing'):
        _net(False).set_grad_checkpointing(value)


def test_state_dict_is_the_same_with_checkpointing():
    assert _net('stage').state_dict().keys() == _net(False).state_dict().keys()
    _net(False).load_state_dict(_net('cab').state_dict(), strict=True)


@pytest.mark.slow
def test_autocast_is_replayed_in_the_recomputation():
    x, gt = torch.rand(1, 3, 32, 32), torch.rand(1, 3, 32, 32)
    results = []
    for level in (False, 'stage'):
        net = _net(level)
        with torch.autocast('cpu', dtype=torch.bfloat16):
            outputs = net(x)
        MPRNetLoss()([o.float() for o in outputs], gt).backward()
        results.append({n: p.grad for n, p in net.named_parameters()})
    for name, grad in results[1].items():
        torch.testing.assert_close(grad, results[0][name], msg=name)


@pytest.mark.slow
def test_ddp_gradients_equal_without_checkpointing(tmp_path):
    import torch.distributed as dist
    from torch.nn.parallel import DistributedDataParallel
    dist.init_process_group('gloo', init_method=f'file://{tmp_path / "store"}', rank=0, world_size=1)
    try:
        x, gt = torch.rand(2, 3, 32, 32), torch.rand(2, 3, 32, 32)
        _, _, ref = _loss_and_grads(_net(False), x, gt)
        net = _net('stage')
        ddp = DistributedDataParallel(net)
        MPRNetLoss()(ddp(x), gt).backward()
        for name, param in net.named_parameters():
            torch.testing.assert_close(param.grad, ref[name], rtol=1e-5, atol=1e-7, msg=name)
    finally:
        dist.destroy_process_group()


@pytest.mark.slow
def test_compiled_block_gives_the_eager_gradients():
    torch.manual_seed(0)
    block = ChannelAttentionBlock(8, 3, 4, False, torch.nn.PReLU()).train()
    x = torch.rand(1, 8, 16, 16, requires_grad=True)
    block(x).square().sum().backward()
    eager = [p.grad.clone() for p in block.parameters()] + [x.grad.clone()]
    block.zero_grad(set_to_none=True)
    x.grad = None
    block.grad_checkpointing = True
    torch.compile(block)(x).square().sum().backward()
    for a, b in zip([p.grad for p in block.parameters()] + [x.grad], eager):
        torch.testing.assert_close(a, b, rtol=1e-5, atol=1e-6)
