"""Graded tests for lesson 47: sequence_balance_loss (DeepSeek-V3 eqs. 17-20) and where the model reports it."""

import pytest
import torch
from kimi_course.testing import assert_close


pytestmark = pytest.mark.usefixtures("one_thread")    # many tiny matmuls: thread hand-offs cost more than they save


def _routing(batch, seq_len, experts, top_k, seed):
    generator = torch.Generator().manual_seed(seed)
    scores = torch.rand(batch, seq_len, experts, generator=generator) * 0.98 + 0.01     # sigmoid-like, in (0, 1)
    idx = torch.stack([torch.randperm(experts, generator=generator)[:top_k] for _ in range(batch * seq_len)])
    return scores, idx.view(batch, seq_len, top_k)


def loop_loss(scores, topk_idx):
    """Eqs. 17-20 without alpha, written with explicit sums, averaged over the sequences."""
    batch, seq_len, experts = scores.shape
    top_k = topk_idx.shape[-1]
    total = 0.0
    for b in range(batch):
        for i in range(experts):
            count = sum(int(i in topk_idx[b, t].tolist()) for t in range(seq_len))
            f_i = experts / (top_k * seq_len) * count
            p_i = sum(float(scores[b, t, i]) / float(scores[b, t].sum()) for t in range(seq_len)) / seq_len
            total += f_i * p_i
    return total / batch


def test_equals_the_paper_formula_written_with_loops(impl):
    scores, idx = _routing(3, 6, 8, 2, seed=0)
    got = impl.sequence_balance_loss(scores, idx)
    assert got.dim() == 0, f"the loss must be a scalar, got shape {tuple(got.shape)} (teaching.md §The code)"
    assert_close(got, torch.tensor(loop_loss(scores, idx)), atol=1e-6,
                 what="sequence_balance_loss vs eqs. 17-20 with explicit loops (3 sequences, E=8, k=2)",
                 hint="f_i = E/(kT) x count per SEQUENCE, P_i = mean over the sequence of s / sum_j s; sum_i f_i P_i "
                      "per sequence, then the mean over sequences (teaching.md §The definition)")


def test_matches_reference(impl, reference):
    scores, idx = _routing(4, 20, 16, 4, seed=1)
    assert_close(impl.sequence_balance_loss(scores, idx), reference.sequence_balance_loss(scores, idx), atol=1e-6,
                 what="sequence_balance_loss(scores (4, 20, 16), topk_idx (4, 20, 4))", hint="teaching.md §The code")


def test_one_when_balanced_and_e_over_k_at_collapse(impl):
    E, k, T = 16, 4, 32
    round_robin = (torch.arange(T)[:, None] * k + torch.arange(k)).remainder(E)[None]
    random_scores = torch.rand(1, T, E, generator=torch.Generator().manual_seed(2)) + 0.01
    uniform = torch.full((1, T, E), 0.3)
    collapsed = torch.arange(k).expand(1, T, k)
    peaked = torch.full((1, T, E), 1e-6)
    peaked[..., :k] = 1.0
    for name, s, idx, want in (("uniform load, random affinity", random_scores, round_robin, 1.0),
                               ("uniform affinity, collapsed load", uniform, collapsed, 1.0),
                               ("collapsed load and affinity", peaked, collapsed, E / k)):
        got = impl.sequence_balance_loss(s, idx).item()
        assert abs(got - want) < 1e-3, (f"{name}: loss {got:.5f}, expected {want:g}: the loss is 1 + the covariance of "
                                        "f_i - 1 and P_i - 1/E, at most E/k (teaching.md §What values it takes)")


def test_gradient_matches_reference_and_kimi_k2_routing(impl, reference):
    """One real Kimi-K2 dimension: 384 experts, 8 per token."""
    scores, idx = _routing(2, 24, 384, 8, seed=3)
    grads = []
    for module in (impl, reference):
        s = scores.clone().requires_grad_()
        loss = module.sequence_balance_loss(s, idx)
        loss.backward()
        grads.append((loss.detach(), s.grad))
    assert grads[0][1] is not None, "no gradient reached the scores (teaching.md §The gradient)"
    assert_close(grads[0][0], grads[1][0], atol=1e-6, what="loss with 384 experts, top-8", hint="teaching.md §The code")
    assert_close(grads[0][1], grads[1][1], atol=1e-9, rtol=1e-4, what="d loss / d scores (384 experts, top-8)",
                 hint="only P carries a gradient; f is a count (teaching.md §The gradient)")


def test_moe_layer_reports_alpha_times_loss_in_training_only(impl):
    config = impl.KimiK2Config.tiny(aux_loss_alpha=0.01)
    torch.manual_seed(0)
    moe = impl.DeepseekV3MoE(config)
    x = torch.randn(2, 9, 64, generator=torch.Generator().manual_seed(4))
    moe.train()
    moe(x)
    assert moe.aux_loss is not None and moe.aux_loss.requires_grad, "training forward must leave a differentiable aux_loss"
    with torch.no_grad():
        idx, _ = moe.gate(x)
        scores = torch.sigmoid(x.reshape(-1, 64) @ moe.gate.weight.T)
    expected = 0.01 * loop_loss(scores.view(2, 9, -1), idx.view(2, 9, -1))
    assert_close(moe.aux_loss.detach(), torch.tensor(expected), atol=1e-6,
                 what="DeepseekV3MoE.aux_loss (alpha 0.01) vs alpha x eqs. 17-20 on the unbiased sigmoid scores",
                 hint="teaching.md §In the layer and in the model")


def test_model_keeps_aux_loss_out_of_the_lm_loss(impl, reference):
    config = impl.KimiK2Config.tiny()
    torch.manual_seed(0)
    model = impl.KimiK2ForCausalLM(config)
    torch.manual_seed(0)
    ref = reference.KimiK2ForCausalLM(reference.KimiK2Config.tiny())
    ids = torch.randint(0, config.vocab_size, (2, 12), generator=torch.Generator().manual_seed(5))
    model.eval()
    with torch.no_grad():
        evaluated = model(ids, labels=ids)
    model.train()
    ref.train()
    trained, want = model(ids, labels=ids), ref(ids, labels=ids)
    assert evaluated.aux_loss is None, "aux_loss must be None in evaluation mode"
    assert_close(trained.loss, evaluated.loss, atol=1e-6, what="LM loss in training vs evaluation mode",
                 hint="the balance loss is reported separately in aux_loss, never added to loss")
    assert_close(trained.aux_loss, want.aux_loss, atol=1e-7, what="CausalLMOutput.aux_loss (3 MoE layers, alpha 0.001)",
                 hint="teaching.md §In the layer and in the model")
