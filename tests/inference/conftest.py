"""Fixtures the inference tests share: one tiny MPRNet and its checkpoint in BasicSR's layout."""
import pytest
import torch

from mprnet_plugin.archs.mprnet_arch import MPRNet
from tests.helpers.settings import TINY_MPRNET


@pytest.fixture(scope='module')
def net() -> MPRNet:
    torch.manual_seed(0)
    return MPRNet(**TINY_MPRNET).eval()


@pytest.fixture(scope='module')
def weights(net, tmp_path_factory):
    path = tmp_path_factory.mktemp('ckpt') / 'tiny.pth'
    torch.save({'params': net.state_dict()}, path)
    return path
