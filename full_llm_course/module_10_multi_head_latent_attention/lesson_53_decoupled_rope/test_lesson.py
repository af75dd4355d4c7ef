"""Graded tests for lesson 53: rotary_emb in DeepseekV3Attention.__init__ and apply_decoupled_rope."""

import pytest
import torch
from kimi_course.testing import assert_close

# Kimi-K2's real rope: 64 dims, theta 50000, YaRN factor 32 from 4096 (the rest of the model kept tiny).
K2_ROPE = dict(qk_rope_head_dim=64, rope_theta=50000.0, max_position_embeddings=131072,
               rope_scaling={"type": "yarn", "factor": 32.0, "original_max_position_embeddings": 4096,
                             "beta_fast": 1.0, "beta_slow": 1.0, "mscale": 1.0, "mscale_all_dim": 1.0})
# rope dim 8 while hidden_size / num_heads = 16: a table of the wrong width cannot pass.
NARROW = dict(qk_rope_head_dim=8)
CONFIGS = {"tiny (YaRN)": dict(), "rope dim 8": NARROW, "no rope_scaling": dict(rope_scaling=None),
           "linear scaling": dict(rope_scaling={"type": "linear", "factor": 2.0}), "Kimi-K2 rope": K2_ROPE}


def _pair(impl, reference, seed=0, **overrides):
    torch.manual_seed(seed)
    want = reference.DeepseekV3Attention(reference.KimiK2Config.tiny(**overrides))
    got = impl.DeepseekV3Attention(impl.KimiK2Config.tiny(**overrides))
    got.load_state_dict(want.state_dict())
    return got, want


def _inputs(heads, rope, batch=2, seq=5, seed=0):
    g = torch.Generator().manual_seed(seed)
    return torch.randn(batch, heads, seq, rope, generator=g), torch.randn(batch, 1, seq, rope, generator=g)


def _rope(module, q_pe, k_pe, position_ids, past_length, what):
    try:
        return module.apply_decoupled_rope(q_pe, k_pe, position_ids, past_length)
    except IndexError as error:
        raise AssertionError(f"{what}: IndexError ({error}): the cos/sin table is too short for these positions; "
                             "ask rotary_emb for max(past_length + s, max position + 1) rows "
                             "(teaching.md §The code)") from error


def _check(got_pair, want_pair, what, atol=1e-5):
    names = ("q_pe", "k_pe")
    for name, got, want in zip(names, got_pair, want_pair):
        assert_close(got, want, atol=atol, rtol=1e-5, what=f"{what}: rotated {name}",
                     hint="cos, sin = self.rotary_emb(q_pe, seq_len=table length), then "
                          "apply_rotary_pos_emb(q_pe, k_pe, cos, sin, position_ids) (teaching.md §The code)")


@pytest.mark.parametrize("label", list(CONFIGS))
def test_rotary_emb_is_built_from_the_config(impl, reference, label):
    got, want = _pair(impl, reference, **CONFIGS[label])
    rotary = getattr(got, "rotary_emb", None)
    assert rotary is not None, "DeepseekV3Attention has no rotary_emb: build it in __init__ (teaching.md §The code)"
    assert type(rotary).__name__ == type(want.rotary_emb).__name__, (
        f"{label}: rotary_emb is a {type(rotary).__name__}, expected {type(want.rotary_emb).__name__}: "
        "build_rotary_embedding(config) picks the class from rope_scaling (teaching.md §The code)")
    x = torch.zeros(1)
    cos, sin = rotary(x, seq_len=300)
    want_cos, want_sin = want.rotary_emb(x, seq_len=300)
    assert_close(cos, want_cos, atol=1e-6, what=f"{label}: rotary_emb cos table (300 positions)",
                 hint="dim = qk_rope_head_dim, base = rope_theta, the rope_scaling parameters: "
                      "build_rotary_embedding(config) (teaching.md §The code)")
    assert_close(sin, want_sin, atol=1e-6, what=f"{label}: rotary_emb sin table (300 positions)",
                 hint="build_rotary_embedding(config) (teaching.md §The code)")
    assert not any("rotary" in key for key in got.state_dict()), (
        "rotary_emb put tensors in the state dict: its tables are non-persistent buffers, the checkpoint has none")


@pytest.mark.parametrize("label", ["tiny (YaRN)", "rope dim 8", "Kimi-K2 rope"])
def test_apply_decoupled_rope_matches_reference(impl, reference, label):
    overrides = CONFIGS[label]
    got, want = _pair(impl, reference, seed=1, **overrides)
    q_pe, k_pe = _inputs(4, overrides.get("qk_rope_head_dim", 16), seed=2)
    positions = torch.arange(5)[None].expand(2, -1)
    out = _rope(got, q_pe, k_pe, positions, 0, label)
    assert out[0].shape == q_pe.shape and out[1].shape == k_pe.shape, (
        f"{label}: returned shapes {tuple(out[0].shape)}, {tuple(out[1].shape)}; expected q_pe {tuple(q_pe.shape)} "
        f"and the shared k_pe {tuple(k_pe.shape)} (one head, not expanded) (teaching.md §The code)")
    _check(out, want.apply_decoupled_rope(q_pe, k_pe, positions, 0), f"{label}, positions 0..4")


def test_rope_after_a_cached_prefix(impl, reference):
    """past_length 7 and 3 new tokens at positions 7, 8, 9 on a fresh module: the table needs 10 rows."""
    got, want = _pair(impl, reference, seed=3)
    q_pe, k_pe = _inputs(4, 16, seq=3, seed=4)
    positions = torch.arange(7, 10)[None].expand(2, -1)
    out = _rope(got, q_pe, k_pe, positions, 7, "past_length 7, positions 7..9")
    _check(out, want.apply_decoupled_rope(q_pe, k_pe, positions, 7), "past_length 7, positions 7..9")


def test_rope_with_positions_beyond_past_plus_s(impl, reference):
    got, want = _pair(impl, reference, seed=5)
    q_pe, k_pe = _inputs(4, 16, batch=1, seq=4, seed=6)
    positions = torch.tensor([[40, 41, 42, 43]])
    out = _rope(got, q_pe, k_pe, positions, 0, "positions 40..43, past_length 0")
    _check(out, want.apply_decoupled_rope(q_pe, k_pe, positions, 0), "positions 40..43, past_length 0")


def test_rope_per_row_positions(impl, reference):
    """Left padding: each sequence of the batch has its own positions."""
    got, want = _pair(impl, reference, seed=7)
    q_pe, k_pe = _inputs(4, 16, batch=2, seq=4, seed=8)
    positions = torch.tensor([[0, 1, 2, 3], [1, 1, 0, 1]])
    out = _rope(got, q_pe, k_pe, positions, 0, "per-row position_ids")
    _check(out, want.apply_decoupled_rope(q_pe, k_pe, positions, 0), "per-row position_ids [[0, 1, 2, 3], [1, 1, 0, 1]]")


def test_rope_scores_depend_on_relative_positions_only(impl, reference):
    got, _ = _pair(impl, reference, seed=9, **K2_ROPE)
    q_pe, k_pe = _inputs(4, 64, seq=6, seed=10)
    positions = torch.arange(6)[None].expand(2, -1)
    q0, k0 = _rope(got, q_pe, k_pe, positions, 0, "positions 0..5")
    q1, k1 = _rope(got, q_pe, k_pe, positions + 13, 0, "positions 13..18")
    assert_close(q1 @ k1.transpose(-1, -2), q0 @ k0.transpose(-1, -2), atol=1e-4,
                 what="q_pe . k_pe after shifting every position by 13",
                 hint="rotate q_pe and k_pe by the same position_ids with the same table (teaching.md §The maths)")
    assert not torch.allclose(q0, q_pe, atol=1e-3), ("apply_decoupled_rope returned q_pe unrotated "
                                                     "(teaching.md §The code)")


def test_rope_bf16(impl, reference):
    got, want = _pair(impl, reference, seed=11)
    q_pe, k_pe = _inputs(4, 16, seed=12)
    q_pe, k_pe = q_pe.bfloat16(), k_pe.bfloat16()
    positions = torch.arange(2, 7)[None].expand(2, -1)
    out = _rope(got, q_pe, k_pe, positions, 2, "bf16")
    _check(out, want.apply_decoupled_rope(q_pe, k_pe, positions, 2), "bf16 q_pe, k_pe", atol=2e-2)


def test_attention_forward_with_your_rope(impl, reference):
    """The whole attention (later lessons from the answer key) with your rotary_emb and apply_decoupled_rope."""
    got, want = _pair(impl, reference, seed=13, **NARROW)
    x = torch.randn(2, 6, 64, generator=torch.Generator().manual_seed(14))
    with torch.no_grad():
        assert_close(got(x), want(x), atol=1e-5, rtol=1e-5, what="DeepseekV3Attention.forward(x (2, 6, 64))",
                     hint="only q_pe and k_pe are rotated; the rotary table has dim qk_rope_head_dim "
                          "(teaching.md §The code)")
