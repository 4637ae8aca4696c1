"""The losses equal the authors' values and behave for any channel count."""
import pytest
import torch

from mprnet_plugin import EdgeLoss, MPRNetLoss


def _build(opt):
    from basicsr.losses import build_loss
    return build_loss(dict(opt))


def test_losses_reproduce_reference(reference_vector):
    ref = reference_vector
    outputs, target = ref['outputs'], ref['target']
    loss = _build({'type': 'MPRNetLoss'})
    assert torch.allclose(loss(outputs, target), ref['total_loss'], atol=1e-5, rtol=0)
    terms = loss.terms(outputs, target)
    edge = _build({'type': 'EdgeLoss'})
    for i in range(3):
        assert torch.allclose(terms[f'l_char_{i}'], ref['charbonnier_per_stage'][i], atol=1e-5, rtol=0)
        assert torch.allclose(terms[f'l_edge_{i}'], 0.05 * ref['edge_per_stage'][i], atol=1e-5, rtol=0)
        assert torch.allclose(edge(outputs[i], target), ref['edge_per_stage'][i], atol=1e-5, rtol=0)


def test_denoising_loss_is_charbonnier_on_clamped_outputs(reference_vector):
    outputs, target = reference_vector['outputs'], reference_vector['target']
    loss = MPRNetLoss(edge_weight=0, clamp_outputs=True)
    expected = sum(torch.sqrt((o.clamp(0, 1) - target) ** 2 + 1e-6).mean() for o in outputs)
    assert torch.allclose(loss(outputs, target), expected, atol=1e-6, rtol=0)
    assert set(loss.terms(outputs, target)) == {'l_char_0', 'l_char_1', 'l_char_2'}


def test_single_tensor_any_channels_and_weight():
    pred, target = torch.rand(2, 5, 16, 24), torch.rand(2, 5, 16, 24)
    one = MPRNetLoss()(pred, target)
    assert torch.allclose(MPRNetLoss(loss_weight=2.0)(pred, target), 2 * one)
    assert torch.allclose(MPRNetLoss()([pred, pred], target), 2 * one)


def test_edge_loss_of_identical_images_is_eps_and_kernel_is_not_saved():
    img = torch.rand(1, 3, 20, 20)
    assert torch.allclose(EdgeLoss()(img, img), torch.tensor(1e-3))
    assert 'kernel' not in dict(EdgeLoss().state_dict())
    assert EdgeLoss().to(torch.float64)(img.double(), img.double()).dtype == torch.float64


def test_shape_mismatch_is_reported():
    with pytest.raises(ValueError, match=r'prediction 0 has shape \(1, 3, 8, 8\), target has \(1, 3, 16, 16\)'):
        MPRNetLoss()(torch.rand(1, 3, 8, 8), torch.rand(1, 3, 16, 16))
