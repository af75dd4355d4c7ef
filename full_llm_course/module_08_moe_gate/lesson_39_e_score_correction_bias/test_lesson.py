"""Graded tests for lesson 39: MoEGate.scores_for_choice (scores + e_score_correction_bias, for choosing only)."""

import torch
from kimi_course.testing import assert_close


def _pair(impl, reference, seed=0):
    torch.manual_seed(seed)
    got = impl.MoEGate(impl.KimiK2Config.tiny())
    torch.manual_seed(seed)
    want = reference.MoEGate(reference.KimiK2Config.tiny())
    return got, want


def _set_bias(gate, bias):
    with torch.no_grad():
        gate.e_score_correction_bias.copy_(bias)


def test_scores_for_choice_random_bias(impl, reference):
    gate, ref = _pair(impl, reference)
    bias = 0.2 * torch.randn(16, generator=torch.Generator().manual_seed(1))
    _set_bias(gate, bias)
    _set_bias(ref, bias)
    scores = torch.rand(9, 16, generator=torch.Generator().manual_seed(2))
    got = gate.scores_for_choice(scores)
    assert_close(got, ref.scores_for_choice(scores), atol=1e-7, what="scores_for_choice(scores (9, 16)) with a random bias",
                 hint="add e_score_correction_bias (shape (E,), broadcast over tokens) to the sigmoid scores "
                      "(teaching.md §The code)")


def test_scores_for_choice_bf16_bias_stays_float32(impl, reference):
    gate, ref = _pair(impl, reference, seed=1)
    bias = (0.1 * torch.randn(16, generator=torch.Generator().manual_seed(4))).bfloat16()
    gate.e_score_correction_bias.data = bias.clone()
    ref.e_score_correction_bias.data = bias.clone()
    scores = torch.rand(5, 16, generator=torch.Generator().manual_seed(5))
    got = gate.scores_for_choice(scores)
    assert_close(got, ref.scores_for_choice(scores), atol=1e-7, what="scores_for_choice with a bf16 bias",
                 hint="scores + bias.float(), returned in float32 (teaching.md §The code)")


def test_bias_changes_choice_not_weights(impl, reference):
    """Run the whole gate (impl.MoEGate forward) with and without a bias on the busiest expert."""
    gate, ref = _pair(impl, reference, seed=0)
    x = torch.randn(1, 256, 64, generator=torch.Generator().manual_seed(3))
    with torch.no_grad():
        idx0, _ = gate(x)
        busiest = int(torch.bincount(idx0.flatten(), minlength=16).argmax())
        bias = torch.zeros(16)
        bias[busiest] = -0.1
        bias += 0.02 * torch.randn(16, generator=torch.Generator().manual_seed(6))
        _set_bias(gate, bias)
        _set_bias(ref, bias)
        idx1, w1 = gate(x)
        ref_idx, ref_w = ref(x)
    order, ref_order = idx1.argsort(-1), ref_idx.argsort(-1)
    idx_sorted, ref_idx_sorted = idx1.gather(1, order), ref_idx.gather(1, ref_order)
    moved = (idx0.sort(-1).values != idx_sorted).any(-1).sum().item()
    assert moved > 0, ("a bias of -0.1 on the busiest expert changed no token's experts: scores_for_choice must add "
                       "the bias to the scores the top-k is taken over (teaching.md §Worked example)")
    assert torch.equal(idx_sorted, ref_idx_sorted), (
        f"with a bias the gate chose different experts from the answer key for "
        f"{(idx_sorted != ref_idx_sorted).any(-1).sum().item()} of 256 tokens (teaching.md §The code)")
    assert_close(w1.gather(1, order), ref_w.gather(1, ref_order), atol=1e-6,
                 what="gate weights with a non-zero bias (sorted by expert id)",
                 hint="the weights come from the unbiased scores; scores_for_choice must return a new tensor and "
                      "not modify scores in place (teaching.md §Why only the choice)")
    with torch.no_grad():
        scores = gate.compute_scores(x.reshape(-1, 64))
        unbiased = scores.gather(1, idx1)
        expected = unbiased / (unbiased.sum(-1, keepdim=True) + 1e-20) * gate.routed_scaling_factor
    assert_close(w1, expected, atol=1e-6, what="gate weights vs renormalised unbiased scores",
                 hint="the bias chooses, it never weights (teaching.md §Why only the choice)")
