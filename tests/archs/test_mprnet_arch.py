"""The network reproduces the authors' numbers, has their exact state_dict, and its fast paths change nothing."""
import sys
from pathlib import Path

import pytest
import torch
from tests.helpers.settings import TINY_MPRNET

from mprnet_plugin import MPRNET_PRESETS, MPRNet, infer_mprnet_config

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / 'benchmarks'))
from per_patch_mprnet import PerPatchMPRNet  # noqa: E402

PUBLISHED_PARAMETERS = {'deblurring': 20_127_073, 'denoising': 15_741_025, 'deraining': 3_637_249}


def read_listing(path: Path) -> dict:
    """``{key: shape}`` from a ``mprnet_<preset>_state_dict.txt`` listing."""
    shapes = {}
    for line in path.read_text().splitlines():
        if line.strip() and not line.startswith('#'):
            key, shape = line.split(' ', 1)
            shapes[key] = tuple(int(v) for v in shape.strip('[]').split(',') if v.strip())
    return shapes


def test_reproduces_reference_outputs(reference_vector):
    from basicsr.archs import build_network
    ref = reference_vector
    net = build_network({'type': 'MPRNet', **ref['config']}).eval()
    net.load_state_dict(ref['state_dict'], strict=True)
    with torch.no_grad():
        outputs = net(ref['input'])
    assert len(outputs) == 3
    for i, (ours, theirs) in enumerate(zip(outputs, ref['outputs'])):
        assert ours.shape == theirs.shape
        assert torch.allclose(ours, theirs, atol=1e-5, rtol=0), f'output {i}: max diff {(ours - theirs).abs().max()}'
    assert sum(p.numel() for p in net.parameters()) == ref['num_parameters']


@pytest.mark.slow
@pytest.mark.parametrize('preset', sorted(MPRNET_PRESETS))
def test_state_dict_matches_published_checkpoint(preset, reference_dir):
    listing = read_listing(reference_dir / f'mprnet_{preset}_state_dict.txt')
    net = MPRNet(preset=preset)
    own = {k: tuple(v.shape) for k, v in net.state_dict().items()}
    assert own == listing
    assert len(own) == 316
    assert sum(p.numel() for p in net.parameters()) == PUBLISHED_PARAMETERS[preset]
    # A checkpoint with exactly those keys and shapes loads strictly, and its config is recovered from shapes alone.
    state = {k: torch.randn(shape) for k, shape in listing.items()}
    net.load_state_dict(state, strict=True)
    config = infer_mprnet_config(state)
    assert {k: config[k] for k in MPRNET_PRESETS[preset]} == MPRNET_PRESETS[preset]
    assert (config['num_cab'], config['kernel_size'], config['reduction'], config['bias']) == (8, 3, 4, False)


def test_one_prelu_shared_by_every_cab():
    net = MPRNet(**TINY_MPRNET)
    prelus = {id(m) for m in net.modules() if isinstance(m, torch.nn.PReLU)}
    assert len(prelus) == 1
    keys = [k for k, v in net.state_dict().items() if k.endswith('body.1.weight') and v.shape == (1,)]
    assert len(keys) == 3 + 2 * 6 + 2 * 8 + 3 * TINY_MPRNET['num_cab']  # shallow, encoders, decoders, ORBs
    assert len({net.state_dict()[k].data_ptr() for k in keys}) == 1


def test_explicit_widths_override_the_preset():
    net = MPRNet(preset='deraining', n_feat=48)
    assert net.config['n_feat'] == 48 and net.config['scale_unetfeats'] == 20
    with pytest.raises(ValueError, match='unknown preset'):
        MPRNet(preset='superresolution')


def test_batched_patches_equal_per_patch_computation():
    ours = MPRNet(**TINY_MPRNET).eval()
    with torch.no_grad():
        for p in ours.parameters():  # move away from init so every path matters
            p.add_(torch.randn_like(p) * 0.05)
    plain = PerPatchMPRNet(**{**ours.config}).eval()
    plain.load_state_dict(ours.state_dict(), strict=True)
    x = torch.rand(2, 3, 48, 64)
    with torch.no_grad():
        for a, b in zip(ours(x), plain(x)):
            assert torch.allclose(a, b, atol=1e-5, rtol=0)


@pytest.mark.slow
def test_training_gradients_equal_per_patch_computation():
    # The training path (autograd: no fused convolutions, the custom PReLU backward, addcmul gates) against the
    # literal per-patch network with torch's own PReLU.
    from mprnet_plugin import MPRNetLoss
    torch.manual_seed(0)
    ours = MPRNet(**TINY_MPRNET)
    with torch.no_grad():
        for p in ours.parameters():
            p.add_(torch.randn_like(p) * 0.05)
    plain = PerPatchMPRNet(**{**ours.config})
    plain.load_state_dict(ours.state_dict(), strict=True)
    x, y = torch.rand(2, 3, 32, 48), torch.rand(2, 3, 32, 48)
    loss = MPRNetLoss()
    loss(ours(x), y).backward()
    loss(plain(x), y).backward()
    plain_grads = dict(plain.named_parameters())
    for name, p in ours.named_parameters():
        want = plain_grads[name].grad
        torch.testing.assert_close(p.grad, want, atol=1e-5, rtol=1e-3, msg=lambda m: f'{name}: {m}')


@pytest.mark.slow
def test_channels_last_input_and_memory_format_setting_do_not_change_outputs():
    a = MPRNet(**TINY_MPRNET).eval()
    b = MPRNet(**TINY_MPRNET, channels_last=False).eval()
    b.load_state_dict(a.state_dict())
    x = torch.rand(1, 3, 32, 40)
    with torch.no_grad():
        ref = a(x)
        for out in (a(x.contiguous(memory_format=torch.channels_last)), b(x)):
            for r, o in zip(ref, out):
                assert o.is_contiguous()
                assert torch.allclose(r, o, atol=1e-5, rtol=0)


def test_gradients_reach_every_parameter():
    from mprnet_plugin import MPRNetLoss
    net = MPRNet(**{**TINY_MPRNET, 'n_feat': 16})
    x, y = torch.rand(2, 3, 32, 32), torch.rand(2, 3, 32, 32)
    MPRNetLoss()(net(x), y).backward()
    nonzero = 0
    for name, p in net.named_parameters():
        assert p.grad is not None, name
        assert torch.isfinite(p.grad).all(), name
        nonzero += bool(p.grad.abs().sum() > 0)
    # A few squeeze convs of channel attention may sit behind a ReLU that is off for this input; the rest must learn.
    assert nonzero >= 0.9 * len(list(net.parameters())), f'{nonzero} of {len(list(net.parameters()))}'


@pytest.mark.parametrize('shape, match', [
    ((1, 3, 30, 32), 'multiples of 8; got 30x32'),
    ((1, 3, 32, 36), 'multiples of 8; got 32x36'),
    ((1, 1, 32, 32), 'built for 3 input channels; got 1'),
    ((3, 32, 32), '4-D'),
])
def test_bad_input_shapes_get_clear_errors(shape, match):
    with pytest.raises(ValueError, match=match):
        MPRNet(**TINY_MPRNET)(torch.rand(*shape))


@pytest.mark.slow
def test_deblurring_preset_cpu_smoke():
    net = MPRNet(preset='deblurring').eval()
    with torch.no_grad():
        outputs = net(torch.rand(1, 3, 32, 48))
    assert [tuple(o.shape) for o in outputs] == [(1, 3, 32, 48)] * 3
    assert all(torch.isfinite(o).all() for o in outputs)
