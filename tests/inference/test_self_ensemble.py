"""Geometric self-ensemble (x8): the transforms, invariances, and its use by MPRNetModel and Restorer."""
import pytest
import torch
from tests.helpers.settings import TINY_MPRNET
from tests.models.test_model_mprnet import model_options, smooth_image
from torch import nn

import mprnet_plugin  # noqa: F401  (registers MPRNet and MPRNetModel)
from mprnet_plugin import MPRNet
from mprnet_plugin.inference.restorer import Restorer
from mprnet_plugin.inference.self_ensemble import TRANSFORMS, self_ensemble, transform, untransform
from mprnet_plugin.inference.tiling import restore
from mprnet_plugin.models.mprnet_model import MPRNetModel


class Identity(nn.Module):
    size_multiple = 8

    def forward(self, x):
        return [x]


class SymmetricBlur(nn.Module):
    """A 3x3 convolution whose kernel is unchanged by every flip and quarter turn: equivariant to all eight."""

    size_multiple = 8

    def forward(self, x):
        kernel = torch.tensor([[1., 2., 1.], [2., 4., 2.], [1., 2., 1.]]) / 16
        return [nn.functional.conv2d(x, kernel.expand(3, 1, 3, 3), padding=1, groups=3)]


def test_the_eight_transforms_are_distinct_and_undone():
    x = torch.rand(2, 3, 8, 12)
    outputs = [transform(x, turns, flip) for turns, flip in TRANSFORMS]
    assert len(TRANSFORMS) == 8 and TRANSFORMS[0] == (0, False)
    for i, (out, (turns, flip)) in enumerate(zip(outputs, TRANSFORMS)):
        assert out.shape[-2:] == ((8, 12) if turns % 2 == 0 else (12, 8))
        assert torch.equal(untransform(out, turns, flip), x)
        assert all(not (o.shape == out.shape and torch.equal(o, out)) for o in outputs[:i])


def test_ensemble_of_the_identity_is_the_identity():
    x = torch.rand(1, 3, 21, 34)  # not square and not a multiple of 8: every pass pads its own orientation
    out = self_ensemble(lambda t: restore(Identity(), t), x)
    assert out.shape == x.shape and out.dtype == x.dtype
    torch.testing.assert_close(out, x, rtol=0, atol=1e-6)


def test_ensemble_of_an_equivariant_network_equals_one_pass():
    x = torch.rand(2, 3, 16, 24)  # a multiple of 8: no padding, whose side would break the symmetry at the border
    net = SymmetricBlur()
    one = restore(net, x)
    assert not torch.allclose(one, x, atol=1e-3)  # the network does change the image
    torch.testing.assert_close(self_ensemble(lambda t: restore(net, t), x), one, rtol=0, atol=1e-6)


def test_ensemble_is_the_mean_of_the_mapped_back_passes():
    torch.manual_seed(0)
    net = nn.Conv2d(3, 3, 3, padding=1)  # random weights: not equivariant
    x = torch.rand(1, 3, 10, 14)
    with torch.no_grad():
        expected = torch.stack([untransform(net(transform(x, k, f)), k, f) for k, f in TRANSFORMS]).mean(0)
        out = self_ensemble(net, x)
    torch.testing.assert_close(out, expected)
    assert not torch.allclose(out, net(x), atol=1e-4)
    with pytest.raises(ValueError, match='4-D'):
        self_ensemble(net, x[0])


def test_model_option_runs_the_ensemble():
    model = MPRNetModel(model_options(is_train=False, val={'self_ensemble': True}))
    assert model.self_ensemble
    lq = smooth_image(40, 52)
    model.feed_data({'lq': lq})
    model.test()
    net = model.get_bare_model(model.net_g).eval()
    with torch.no_grad():
        expected = self_ensemble(lambda t: restore(net, t), lq)
        single = restore(net, lq)
    torch.testing.assert_close(model.output, expected)
    assert not torch.allclose(model.output, single, atol=1e-6)
    assert not MPRNetModel(model_options(is_train=False)).self_ensemble
    with pytest.raises(ValueError, match='val.self_ensemble must be true or false'):
        MPRNetModel(model_options(is_train=False, val={'self_ensemble': 'yes'}))


def test_restorer_option_runs_the_ensemble():
    torch.manual_seed(0)
    net = MPRNet(**TINY_MPRNET)
    x = smooth_image(24, 40)
    plain, ensembled = Restorer(net, device='cpu'), Restorer(net, device='cpu', self_ensemble=True)
    with torch.no_grad():
        expected = self_ensemble(lambda t: restore(net.eval(), t), x)
    torch.testing.assert_close(ensembled.restore_tensor(x), expected)
    assert not torch.allclose(plain.restore_tensor(x), expected, atol=1e-6)
    torch.testing.assert_close(Restorer(Identity(), device='cpu', self_ensemble=True).restore_tensor(x), x,
                               rtol=0, atol=1e-6)
    with pytest.raises(ValueError, match='self_ensemble must be True or False'):
        Restorer(net, device='cpu', self_ensemble='yes')
