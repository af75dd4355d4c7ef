"""Graded tests for lesson 91: DeepseekV3Attention.record_max_logit (the per-head max logit S_max)."""

import importlib

import pytest
import torch
from kimi_course.testing import assert_close


def _attention(module, **overrides):
    torch.manual_seed(0)
    layer = module.DeepseekV3Attention(module.KimiK2Config.tiny(**overrides), layer_idx=0).train()
    layer.track_max_logit = True
    return layer


def _loops(query, key, scale, visible):
    """S_max per head by explicit loops: visible[b, i, j] says whether query i of batch b may see key j."""
    b, h, s, _ = query.shape
    out = torch.full((h,), float("-inf"), dtype=torch.float64)
    for head in range(h):
        for batch in range(b):
            for i in range(s):
                for j in range(key.shape[2]):
                    if visible[batch, i, j]:
                        logit = (query[batch, head, i].double() @ key[batch, min(head, key.shape[1] - 1), j].double())
                        out[head] = max(out[head], logit * scale)
    return out.float()


def _qk(layer, seed, dtype=torch.float32, key_heads=None):
    g = torch.Generator().manual_seed(seed)
    d = layer.qk_nope_head_dim + layer.qk_rope_head_dim
    query = torch.randn(2, layer.num_heads, 7, d, generator=g).to(dtype)
    key = torch.randn(2, key_heads or layer.num_heads, 7, d, generator=g).to(dtype)
    return query, key


def test_causal_matches_explicit_loops(impl):
    layer = _attention(impl)
    query, key = _qk(layer, 1)
    layer.record_max_logit(query, key, None)
    visible = torch.ones(7, 7, dtype=torch.bool).tril().expand(2, 7, 7)
    assert layer.max_logit is not None, "record_max_logit must set self.max_logit"
    assert_close(layer.max_logit, _loops(query, key, layer.softmax_scale, visible), atol=1e-5,
                 what="max_logit (heads,) with attention_mask=None (plain causal), q/k (2, 4, 7, 32)",
                 hint="logits q k^T times softmax_scale; hide future keys (triu(1)); max over batch, queries and "
                      "keys, one value per head (teaching.md §The code)")


def test_padding_mask_matches_loops_and_reference(impl, reference):
    layer, ref = _attention(impl), _attention(reference)
    query, key = _qk(layer, 2)
    padding = torch.tensor([[1] * 7, [0, 0, 0, 1, 1, 1, 1]])
    mask = impl.attention.causal_mask(padding, 7, 0, torch.float32, torch.device("cpu"))        # (2, 1, 7, 7)
    layer.record_max_logit(query, key, mask)
    ref.record_max_logit(query, key, mask)
    want_loops = _loops(query, key, layer.softmax_scale, mask[:, 0] == 0)
    assert_close(layer.max_logit, want_loops, atol=1e-5, what="max_logit with a left-padding mask (2, 1, 7, 7)",
                 hint="a key is hidden where the additive mask is negative (attention_mask < 0): padded keys "
                      "must not count (teaching.md §Which logits count)")
    assert_close(layer.max_logit, ref.max_logit, atol=1e-5, what="max_logit with padding vs reference")


def test_running_maximum_and_dtype(impl, reference):
    layer, ref = _attention(impl), _attention(reference)
    for seed, factor in [(3, 1.0), (4, 2.0), (5, 0.5)]:
        query, key = _qk(layer, seed, dtype=torch.bfloat16)
        layer.record_max_logit(query * factor, key, None)
        ref.record_max_logit(query * factor, key, None)
    assert layer.max_logit.dtype == torch.float32, (
        f"max_logit dtype {layer.max_logit.dtype}: compute logits in float32 (teaching.md §The code)")
    assert_close(layer.max_logit, ref.max_logit, atol=1e-2,
                 what="max_logit after three bf16 forwards (running maximum)",
                 hint="fold each forward in with torch.maximum(self.max_logit, current); start from None "
                      "(teaching.md §A running maximum)")


def test_shared_key_head_broadcasts(impl, reference):
    """Absorbed MLA passes one key head (b, 1, t, d) for all query heads."""
    layer, ref = _attention(impl), _attention(reference)
    query, key = _qk(layer, 6, key_heads=1)
    layer.record_max_logit(query, key, None)
    ref.record_max_logit(query, key, None)
    assert_close(layer.max_logit, ref.max_logit, atol=1e-5, what="max_logit with key (2, 1, 7, 32)",
                 hint="let matmul broadcast the single key head; the result is still (heads,)")


@pytest.mark.parametrize("mla_mode", ["expanded", "absorbed"])
def test_training_forward_records_eval_does_not(impl, reference, mla_mode):
    layer, ref = _attention(impl), _attention(reference)
    layer.load_state_dict(ref.state_dict())
    layer.mla_mode = ref.mla_mode = mla_mode
    x = torch.randn(2, 9, layer.hidden_size, generator=torch.Generator().manual_seed(7))
    with torch.no_grad():
        layer(x)
        ref(x)
    assert layer.max_logit is not None and layer.max_logit.shape == (layer.num_heads,), (
        "a training-mode forward with track_max_logit must leave max_logit of shape (heads,)")
    assert_close(layer.max_logit, ref.max_logit, atol=1e-4,
                 what=f"max_logit after one training forward ({mla_mode} MLA), x (2, 9, 64)",
                 hint="the logits are q k^T * softmax_scale before the mask; absorbed and expanded give the same")
    layer.eval()
    layer.max_logit = None
    with torch.no_grad():
        layer(x)
    assert layer.max_logit is None, "an eval-mode forward must not record (QK-Clip watches training only)"
