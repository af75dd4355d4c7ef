"""Each building block against an independent computation: a formula written another way,
a published number, or the corresponding transformers module."""

import math

import pytest
import torch
import torch.nn.functional as F
from transformers import DeepseekV3Config
from transformers.modeling_rope_utils import ROPE_INIT_FUNCTIONS
from transformers.models.deepseek_v3 import modeling_deepseek_v3 as hf

from helpers import assert_close, randomize_, tiny_config
from kimik2 import (DeepseekV3MLP, DeepseekV3MoE, DeepseekV3RMSNorm, DeepseekV3RotaryEmbedding, KimiK2Config,
                    MoEGate)
from kimik2.attention import causal_mask, softmax_scale
from kimik2.rope import (DeepseekV3LinearScalingRotaryEmbedding, apply_rotary_pos_emb, build_rotary_embedding,
                         yarn_find_correction_range, yarn_get_mscale)


# ----------------------------------------------------------------------------- RMSNorm
@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16])
def test_rms_norm_against_torch_rms_norm(dtype):
    norm = DeepseekV3RMSNorm(64, eps=1e-5)
    with torch.no_grad():
        norm.weight.uniform_(0.5, 1.5)
    x = (torch.randn(3, 5, 64) * 4).to(dtype)
    # torch's own kernel in float32, cast back to the input dtype, then the weight.
    expected = norm.weight * F.rms_norm(x.float(), (64,), eps=1e-5).to(dtype)
    assert norm(x).dtype == expected.dtype
    assert_close(norm(x), expected, atol=1e-6, what="RMSNorm")
    theirs = hf.DeepseekV3RMSNorm(64, eps=1e-5)
    theirs.load_state_dict(norm.state_dict())
    assert torch.equal(norm(x), theirs(x))


# ----------------------------------------------------------------------------- RoPE
def test_standard_rope_tables_against_float64_formula():
    rotary = DeepseekV3RotaryEmbedding(dim=64, base=50000.0)
    cos, sin = rotary(torch.zeros(1), seq_len=40)
    i = torch.arange(32, dtype=torch.float64)
    angles = torch.arange(40, dtype=torch.float64)[:, None] * 50000.0 ** (-2 * i / 64)
    assert_close(cos, torch.cat([angles.cos(), angles.cos()], -1).float(), atol=1e-5, what="cos table")
    assert_close(sin, torch.cat([angles.sin(), angles.sin()], -1).float(), atol=1e-5, what="sin table")
    assert rotary.max_seq_len_cached == 40
    rotary(torch.zeros(1), seq_len=20)
    assert rotary.max_seq_len_cached == 40, "a shorter sequence must reuse the cache"


def test_linear_scaling_rotates_position_p_like_p_over_factor():
    plain = DeepseekV3RotaryEmbedding(dim=16)
    linear = DeepseekV3LinearScalingRotaryEmbedding(dim=16, scaling_factor=4.0)
    cos_linear, _ = linear(torch.zeros(1), seq_len=33)
    cos_plain, _ = plain(torch.zeros(1), seq_len=9)
    assert_close(cos_linear[::4], cos_plain, atol=1e-6, what="linear cos at 4p vs plain cos at p")


def interleaved_rotation(x: torch.Tensor, angles: torch.Tensor) -> torch.Tensor:
    """DeepSeek's inference code: consecutive pairs (x0, x1) are one complex number."""
    pairs = torch.view_as_complex(x.double().reshape(*x.shape[:-1], -1, 2))
    rotated = torch.view_as_real(pairs * torch.polar(torch.ones_like(angles), angles)).flatten(-2)
    return rotated.float()


def test_apply_rotary_pos_emb_equals_complex_rotation_of_interleaved_pairs():
    config = tiny_config(rope_scaling=None)
    rotary = build_rotary_embedding(config)
    q = torch.randn(2, 4, 6, 8)       # (b, h, s, rope_dim), interleaved pairs as in the checkpoint
    k = torch.randn(2, 1, 6, 8)
    position_ids = torch.tensor([[0, 1, 2, 3, 4, 5], [3, 4, 5, 6, 7, 8]])
    cos, sin = rotary(q, seq_len=9)
    q_rot, k_rot = apply_rotary_pos_emb(q, k, cos, sin, position_ids)
    angles = position_ids[:, None, :, None].double() * rotary.inv_freq.double()  # (b, 1, s, d/2)
    expected_q, expected_k = interleaved_rotation(q, angles), interleaved_rotation(k, angles)
    # our output is de-interleaved: [real parts | imaginary parts]
    assert_close(q_rot, torch.cat([expected_q[..., 0::2], expected_q[..., 1::2]], -1), atol=1e-5, what="q")
    assert_close(k_rot, torch.cat([expected_k[..., 0::2], expected_k[..., 1::2]], -1), atol=1e-5, what="k")


def test_rope_scores_depend_only_on_relative_position():
    rotary = DeepseekV3RotaryEmbedding(dim=8)
    cos, sin = rotary(torch.zeros(1), seq_len=64)
    q, k = torch.randn(1, 1, 1, 8), torch.randn(1, 1, 1, 8)

    def score(m, n):
        q_rot, _ = apply_rotary_pos_emb(q, k, cos, sin, torch.tensor([[m]]))
        _, k_rot = apply_rotary_pos_emb(q, k, cos, sin, torch.tensor([[n]]))
        return (q_rot * k_rot).sum().item()

    assert score(7, 3) == pytest.approx(score(40, 36), abs=1e-5)
    assert score(7, 3) != pytest.approx(score(7, 4), abs=1e-3)


def hf_rope_config(rope_type: str, **parameters) -> DeepseekV3Config:
    return DeepseekV3Config(qk_rope_head_dim=64, max_position_embeddings=4096,
                            rope_parameters={"rope_type": rope_type, **parameters})


@pytest.mark.parametrize("name, theta, factor, beta_fast, expected_range", [
    ("kimi_k2", 50000.0, 32.0, 1.0, (19, 20)),
    ("deepseek_v3", 10000.0, 40.0, 32.0, (10, 23)),
])
def test_yarn_against_transformers_and_published_ranges(name, theta, factor, beta_fast, expected_range):
    config = getattr(KimiK2Config, name)()
    assert yarn_find_correction_range(beta_fast, 1.0, 64, theta, 4096) == expected_range
    rotary = build_rotary_embedding(config)
    parameters = dict(rope_theta=theta, factor=factor, original_max_position_embeddings=4096,
                      beta_fast=beta_fast, beta_slow=1.0, mscale=1.0, mscale_all_dim=1.0)
    inv_freq, attention_factor = ROPE_INIT_FUNCTIONS["yarn"](hf_rope_config("yarn", **parameters), "cpu")
    assert_close(rotary.inv_freq, inv_freq, atol=0, rtol=1e-6, what=f"{name} YaRN inv_freq")
    assert rotary.attention_scaling == pytest.approx(attention_factor) == 1.0


def test_dynamic_ntk_against_transformers():
    config = tiny_config(qk_rope_head_dim=64, max_position_embeddings=4096,
                         rope_scaling={"type": "dynamic", "factor": 2.0}, rope_theta=10000.0)
    rotary = build_rotary_embedding(config)
    hf_config = hf_rope_config("dynamic", rope_theta=10000.0, factor=2.0)
    for seq_len in (1000, 4096, 9000):
        rotary(torch.zeros(1), seq_len=seq_len)
        expected, _ = ROPE_INIT_FUNCTIONS["dynamic"](hf_config, "cpu", seq_len=seq_len)
        assert_close(rotary.inv_freq, expected, atol=0, rtol=1e-5, what=f"dynamic inv_freq at {seq_len}")


def test_softmax_scale_published_values():
    """192^-0.5 * (0.1 ln(factor) + 1)^2: 0.130861 for Kimi-K2 and 0.135233 for DeepSeek-V3."""
    assert yarn_get_mscale(32.0, 1.0) == pytest.approx(1.346574, abs=1e-6)
    assert softmax_scale(KimiK2Config.kimi_k2()) == pytest.approx(0.130861, abs=1e-6)
    assert softmax_scale(KimiK2Config.deepseek_v3()) == pytest.approx(0.135233, abs=1e-6)
    assert softmax_scale(tiny_config(rope_scaling=None)) == pytest.approx(20 ** -0.5)


# ----------------------------------------------------------------------------- MLP and MoE
def test_mlp_against_transformers():
    config = tiny_config()
    ours = randomize_(DeepseekV3MLP(config))
    theirs = hf.DeepseekV3MLP(DeepseekV3Config(hidden_size=32, intermediate_size=48))
    theirs.load_state_dict(ours.state_dict())
    x = torch.randn(2, 5, 32)
    assert_close(ours(x), theirs(x), atol=1e-6, what="MLP")


def naive_route(gate: MoEGate, x: torch.Tensor, use_groups: bool):
    """Token by token, in float64, as the gate is described in words."""
    indices, weights = [], []
    for token in x.double():
        scores = torch.sigmoid(gate.weight.double() @ token)
        biased = scores + gate.e_score_correction_bias.double() if use_groups else scores.clone()
        if use_groups:
            groups = biased.view(gate.n_group, -1)
            group_score = groups.sort(descending=True).values[:, :2].sum(-1)
            kept = group_score.argsort(descending=True)[: gate.topk_group]
            eligible = torch.full_like(groups, -math.inf)
            eligible[kept] = groups[kept]
            biased = eligible.flatten()
        chosen = biased.argsort(descending=True)[: gate.top_k].sort().values
        weight = scores[chosen]
        if gate.norm_topk_prob:
            weight = weight / weight.sum()
        indices.append(chosen)
        weights.append(weight * gate.routed_scaling_factor)
    return torch.stack(indices), torch.stack(weights)


def sort_by_expert(indices, weights):
    order = indices.argsort(-1)
    return indices.gather(-1, order), weights.gather(-1, order)


@pytest.mark.parametrize("overrides", [dict(n_group=4, topk_group=2), dict(n_group=4, topk_group=4),
                                       dict(n_group=1, topk_group=1),
                                       dict(norm_topk_prob=False), dict(topk_method="greedy")])
def test_gate_against_token_by_token_routing(overrides):
    gate = randomize_(MoEGate(tiny_config(**overrides)))
    x = torch.randn(40, 32)
    indices, weights = sort_by_expert(*gate(x))
    expected_indices, expected_weights = naive_route(gate, x, use_groups=gate.topk_method == "noaux_tc")
    assert torch.equal(indices, expected_indices)
    assert_close(weights, expected_weights.float(), atol=1e-6, what="routing weights")
    assert weights.dtype == torch.float32


def test_gate_against_transformers_router():
    config = tiny_config(n_group=4, topk_group=2)
    gate = randomize_(MoEGate(config))
    router = hf.DeepseekV3TopkRouter(DeepseekV3Config(hidden_size=32, n_routed_experts=8, num_experts_per_tok=3,
                                                      n_group=4, topk_group=2, routed_scaling_factor=2.827))
    router.load_state_dict(gate.state_dict())
    x = torch.randn(40, 32)
    _, their_weights, their_indices = router(x)
    indices, weights = sort_by_expert(*gate(x))
    expected_indices, expected_weights = sort_by_expert(their_indices, their_weights)
    assert torch.equal(indices, expected_indices)
    assert_close(weights, expected_weights, atol=1e-6, what="routing weights vs transformers")


def test_moe_against_a_loop_over_tokens_and_it_trains():
    moe = randomize_(DeepseekV3MoE(tiny_config()))
    x = torch.randn(2, 7, 32, requires_grad=True)
    out = moe(x)
    indices, weights = moe.gate(x)
    flat = x.reshape(-1, 32)
    expected = torch.stack([
        sum(weights[t, j] * moe.experts[int(indices[t, j])](flat[t]) for j in range(indices.shape[1]))
        + moe.shared_experts(flat[t]) for t in range(flat.shape[0])]).view(2, 7, 32)
    assert_close(out, expected, atol=1e-5, what="MoE output")
    out.square().sum().backward()
    used = set(indices.flatten().tolist())
    for expert_id, expert in enumerate(moe.experts):
        has_grad = expert.gate_proj.weight.grad is not None
        assert has_grad == (expert_id in used), f"expert {expert_id}"
    assert moe.gate.weight.grad is not None and moe.gate.weight.grad.abs().sum() > 0
    assert moe.gate.e_score_correction_bias.grad is None


def test_dispatch_refuses_counts_that_do_not_belong_to_the_routing():
    moe = DeepseekV3MoE(tiny_config())
    x, topk_idx = torch.randn(3, 32), torch.tensor([[0, 1, 2], [1, 2, 3], [2, 3, 4]])
    counts = torch.bincount(topk_idx.view(-1), minlength=len(moe.experts)).tolist()
    moe.dispatch(x, topk_idx, torch.ones(3, 3), counts)
    for wrong in (counts[:-1], [c + 1 for c in counts]):
        with pytest.raises(ValueError, match="pass torch.bincount"):
            moe.dispatch(x, topk_idx, torch.ones(3, 3), wrong)


# ----------------------------------------------------------------------------- masks
def test_causal_mask_with_padding_never_gives_nan():
    mask = causal_mask(torch.tensor([[0, 0, 1, 1], [1, 1, 1, 1]]), 4, 0, torch.float32, torch.device("cpu"))
    allowed = mask == 0
    assert allowed.shape == (2, 1, 4, 4)
    assert allowed[1, 0].equal(torch.ones(4, 4).tril().bool())
    assert allowed[0, 0].equal(torch.tensor([[0, 0, 0, 0], [0, 0, 0, 0], [0, 0, 1, 0], [0, 0, 1, 1]]).bool())
    probs = torch.softmax(torch.randn(2, 1, 4, 4) + mask, dim=-1)
    assert not probs.isnan().any()
    assert causal_mask(None, 4, 0, torch.float32, torch.device("cpu")) is None
    with pytest.raises(ValueError, match="covers 3 positions"):
        causal_mask(torch.ones(1, 3), 2, 2, torch.float32, torch.device("cpu"))


# ----------------------------------------------------------------------------- init
def test_weight_init_statistics():
    """normal(0, 0.02) for linear and embedding weights, a zero padding row, kaiming-uniform
    gates (bound 1/sqrt(hidden)), a zero correction bias and unit norms."""
    from kimik2 import KimiK2ForCausalLM
    config = tiny_config(vocab_size=4000, hidden_size=256, pad_token_id=3, initializer_range=0.02)
    model = KimiK2ForCausalLM(config)
    embedding = model.model.embed_tokens.weight
    assert embedding[3].abs().max() == 0
    assert embedding.std().item() == pytest.approx(0.02, rel=0.02)
    assert model.lm_head.weight.std().item() == pytest.approx(0.02, rel=0.02)
    assert model.model.layers[0].mlp.gate_proj.weight.std().item() == pytest.approx(0.02, rel=0.05)
    gate = model.model.layers[1].mlp.gate
    assert gate.weight.abs().max().item() <= 256 ** -0.5
    assert gate.weight.abs().max().item() > 0.9 * 256 ** -0.5
    assert gate.e_score_correction_bias.abs().max() == 0
    assert torch.equal(model.model.norm.weight, torch.ones(256))


def test_dynamic_ntk_returns_to_the_original_base_for_short_inputs():
    """After a sequence longer than max_position_embeddings, a short one gets the tables a
    fresh module gives it (transformers resets the same way)."""
    from kimik2 import DeepseekV3DynamicNTKScalingRotaryEmbedding
    used = DeepseekV3DynamicNTKScalingRotaryEmbedding(dim=16, max_position_embeddings=32, scaling_factor=2.0)
    fresh = DeepseekV3DynamicNTKScalingRotaryEmbedding(dim=16, max_position_embeddings=32, scaling_factor=2.0)
    long_cos, _ = used(torch.zeros(1), seq_len=100)
    short_cos, _ = used(torch.zeros(1), seq_len=20)
    assert torch.equal(short_cos, fresh(torch.zeros(1), seq_len=20)[0])
    assert not torch.allclose(long_cos[:20], short_cos), "the long table must use a larger base"
