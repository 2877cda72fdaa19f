"""Losses: perfect fields give ~0, CCL's uncertainty is detached, the quantile drop keeps the
most certain keypoints, NT-Xent prefers true correspondences."""
import pytest
import torch
import torch.nn.functional as F

from dense_descriptor_ros.losses import (cycle_correspondence_loss, distributional_loss, nt_xent_loss,
                                         quantile_keep_mask)
from helpers import one_hot_field, smooth_field


def keypoints(h, w, n=10, seed=0):
    g = torch.Generator().manual_seed(seed)
    return torch.stack([torch.randint(0, w, (1, n), generator=g), torch.randint(0, h, (1, n), generator=g)],
                       -1).float()


def test_perfect_field_gives_zero_distributional_and_cycle_loss():
    field = one_hot_field(6, 7)
    xy = keypoints(6, 7)
    valid = torch.ones(1, 10, dtype=torch.bool)
    assert distributional_loss(field, field, xy, xy, valid, tau=0.03).item() < 1e-4
    out = cycle_correspondence_loss(field, field, field, xy, xy, valid, tau=0.03)
    assert out.loss.item() < 1e-4
    assert out.uncertainty.max().item() < 1e-4


def test_distributional_loss_measures_displacement():
    field = one_hot_field(6, 7)
    xy = keypoints(6, 7)
    target = xy + torch.tensor([3.0, 4.0])  # predictions land on xy: error 5 cells each
    valid = torch.ones(1, 10, dtype=torch.bool)
    assert distributional_loss(field, field, xy, target, valid, tau=0.03).item() == pytest.approx(5.0, abs=1e-3)
    valid[0, 5:] = False
    assert distributional_loss(field, field, xy, target, valid, tau=0.03).item() == pytest.approx(5.0, abs=1e-3)


def test_quantile_drop_keeps_the_q_most_certain():
    uncertainty = torch.tensor([[5.0, 1.0, 3.0, 0.5, 9.0, 2.0, 7.0, 4.0, 6.0, 8.0]])
    valid = torch.ones_like(uncertainty, dtype=torch.bool)
    kept = quantile_keep_mask(uncertainty, valid, q=0.3)
    assert kept[0].nonzero().flatten().tolist() == [1, 3, 5]  # 0.5, 1.0, 2.0
    valid[0, 3] = False  # invalid keypoints never count, however certain
    kept = quantile_keep_mask(uncertainty, valid, q=0.35)
    assert sorted(uncertainty[kept].tolist()) == [1.0, 2.0, 3.0]
    with pytest.raises(ValueError):
        quantile_keep_mask(uncertainty, valid, q=0.0)


def test_ccl_uncertainty_is_detached_from_the_graph():
    desc_a = smooth_field(6, 7, seed=1).requires_grad_()
    desc_b = smooth_field(6, 7, seed=2).requires_grad_()
    desc_hat = smooth_field(6, 7, seed=3).requires_grad_()
    xy = keypoints(6, 7, n=20)
    valid = torch.ones(1, 20, dtype=torch.bool)
    out = cycle_correspondence_loss(desc_a, desc_b, desc_hat, xy, xy, valid, tau=0.1, quantile=1.0)
    assert not out.uncertainty.requires_grad
    grads = torch.autograd.grad(out.loss, [desc_a, desc_b, desc_hat])

    # Same loss with the variance as a plain constant: gradients must be identical.
    from dense_descriptor_ros.matching import expected_descriptor, sample_descriptors, soft_match
    fwd = soft_match(sample_descriptors(desc_a, xy), desc_b, 0.1)
    back = soft_match(expected_descriptor(fwd.probs, desc_b), desc_hat, 0.1)
    error = (back.location - xy).norm(dim=-1)
    constant = out.uncertainty.clone()
    reference = (error / (1 + constant)).mean()
    ref_grads = torch.autograd.grad(reference, [desc_a, desc_b, desc_hat], retain_graph=True)
    for g, r in zip(grads, ref_grads):
        assert torch.allclose(g, r, atol=1e-6)
    # ...and differ from a version that lets gradient flow through the variance.
    live = (error / (1 + fwd.variance + back.variance)).mean()
    live_grads = torch.autograd.grad(live, [desc_a])
    assert not torch.allclose(live_grads[0], grads[0], atol=1e-6)


def test_ccl_scales_uncertain_errors_down():
    field = smooth_field(6, 7, seed=4)
    xy = keypoints(6, 7, n=30)
    valid = torch.ones(1, 30, dtype=torch.bool)
    sharp = cycle_correspondence_loss(field, field, field, xy, xy + 2, valid, tau=0.01, quantile=1.0)
    blurry = cycle_correspondence_loss(field, field, field, xy, xy + 2, valid, tau=1.0, quantile=1.0)
    assert blurry.uncertainty.mean() > sharp.uncertainty.mean()
    expected = (blurry.error / (1 + blurry.uncertainty)).mean()
    assert blurry.loss.item() == pytest.approx(expected.item(), rel=1e-5)
    unscaled = cycle_correspondence_loss(field, field, field, xy, xy + 2, valid, tau=1.0, quantile=1.0,
                                         variance_scaling=False)  # the paper's ablation
    assert unscaled.loss.item() == pytest.approx(blurry.error.mean().item(), rel=1e-5)
    assert unscaled.loss.item() > blurry.loss.item() * 1.5


def test_nt_xent_prefers_true_correspondences():
    g = torch.Generator().manual_seed(0)
    desc = F.normalize(torch.randn(64, 16, generator=g), dim=1)
    aligned = nt_xent_loss(desc, desc, 0.07)
    shuffled = nt_xent_loss(desc, desc[torch.randperm(64, generator=g)], 0.07)
    assert aligned.item() < 0.1 < shuffled.item()
    with pytest.raises(ValueError):
        nt_xent_loss(desc, desc[:10], 0.07)
