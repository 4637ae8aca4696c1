"""Parameters, MACs (FlopCounterMode, meta device), latency and peak memory of a forward pass."""
import time

import pytest
import torch
from torch import nn

from tests.helpers.settings import TINY_MPRNET
from mprnet_plugin import MPRNet
from mprnet_plugin.tools.profiling import (count_macs, count_macs_by_op, count_parameters, measure_latency,
                                     measure_peak_memory, profile_model, time_calls)

# Published MAC counts of the deblurring MPRNet at 256x256 range over 760-778 G (tools differ in what they count).
PUBLISHED_DEBLUR_GMACS = (760.0, 778.0)


def test_macs_of_plain_convolutions_are_exact():
    net = nn.Sequential(nn.Conv2d(3, 16, 3, padding=1), nn.ReLU(), nn.Conv2d(16, 3, 1))
    h, w = 24, 40
    expected = 2 * (3 * 16 * 9 * h * w + 16 * 3 * h * w)
    assert count_macs(net, (2, 3, h, w)) == expected
    assert count_macs(net, (2, 3, h, w), use_meta=False) == expected


@pytest.mark.slow
def test_deblurring_preset_matches_the_published_size_and_cost():
    with torch.device('meta'):  # 20 M parameters and 750 GMACs, counted without memory or arithmetic
        net = MPRNet(preset='deblurring')
    assert count_parameters(net) == 20_127_073
    by_op = count_macs_by_op(net, (1, 3, 256, 256))
    gmacs = sum(by_op.values()) / 1e9
    low, high = PUBLISHED_DEBLUR_GMACS
    assert 0.97 * low <= gmacs <= 1.03 * high, gmacs
    assert by_op['aten.convolution'] / 1e9 > 0.97 * low  # almost all of it is convolution


def test_shared_activation_counts_once(reference_vector):
    net = MPRNet(**reference_vector['config'])
    assert count_parameters(net) == reference_vector['num_parameters'] == 427_033


@pytest.mark.slow
def test_meta_count_equals_a_real_count_and_leaves_the_model_alone():
    net = MPRNet(**TINY_MPRNET).train()
    before = {k: v.clone() for k, v in net.state_dict().items()}
    shape = (1, 3, 32, 48)
    assert count_macs(net, shape) == count_macs(net, shape, use_meta=False) > 0
    assert net.training
    assert all(torch.equal(before[k], v) and v.device.type == 'cpu' for k, v in net.state_dict().items())


class _PlainTensorAttribute(nn.Module):
    """Holds a tensor outside parameters/buffers, so a meta copy mixes devices and must fall back."""

    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(3, 8, 3, padding=1)
        self.offset = torch.ones(1, 8, 1, 1)

    def forward(self, x):
        return self.conv(x) + self.offset


def test_models_that_cannot_run_on_meta_are_counted_for_real():
    assert count_macs(_PlainTensorAttribute(), (1, 3, 16, 16)) == 3 * 8 * 9 * 16 * 16


def test_time_calls_repeats_and_rejects_zero():
    calls = []
    timing = time_calls(lambda: calls.append(1), torch.device('cpu'), repeats=4, warmup=2)
    assert len(calls) == 6 and len(timing.samples) == 4
    assert 0 <= timing.min <= timing.median
    with pytest.raises(ValueError, match='repeats'):
        time_calls(lambda: None, torch.device('cpu'), repeats=0)


class _Sleeper(nn.Module):
    """Takes a known time per call and records the mode it ran in."""

    def __init__(self, seconds: float) -> None:
        super().__init__()
        self.seconds, self.modes = seconds, []

    def forward(self, x):
        time.sleep(self.seconds)
        self.modes.append((self.training, torch.is_inference_mode_enabled()))
        return x


def test_latency_times_inference_calls_and_restores_training_mode():
    net = _Sleeper(0.02).train()
    timing = measure_latency(net, torch.rand(1, 3, 8, 8), repeats=3, warmup=1)
    assert len(timing.samples) == 3 and len(net.modes) == 4
    assert 0.02 <= timing.min <= timing.median < 1.0
    assert set(net.modes) == {(False, True)} and net.training


def test_peak_memory_sees_the_largest_intermediate():
    h = w = 128
    net = nn.Sequential(nn.Conv2d(3, 64, 3, padding=1), nn.ReLU(), nn.Conv2d(64, 3, 3, padding=1))
    peak = measure_peak_memory(net, torch.rand(1, 3, h, w))
    activation = 64 * h * w * 4  # one float32 64-channel map
    assert activation <= peak <= 4 * activation
    bigger = measure_peak_memory(net, torch.rand(1, 3, 2 * h, 2 * w))
    assert bigger >= 3.5 * peak


@pytest.mark.slow
def test_profile_model_reports_everything():
    net = MPRNet(**TINY_MPRNET)
    prof = profile_model(net, (1, 3, 32, 32), repeats=2)
    assert prof.parameters == count_parameters(net)
    assert prof.macs == count_macs(net, (1, 3, 32, 32))
    assert prof.latency_s > 0 and prof.peak_memory_bytes > 0 and prof.device == 'cpu'
    assert profile_model(net, (1, 3, 32, 32), timing=False).latency_s is None
