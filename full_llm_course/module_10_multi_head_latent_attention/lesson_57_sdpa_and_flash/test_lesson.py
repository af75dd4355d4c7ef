"""Graded tests for lesson 57: DeepseekV3Attention.attend (SDPA and eager)."""

import pytest
import torch
from kimi_course.testing import assert_close

IMPLEMENTATIONS = ["sdpa", "eager"]


def _attention(module, implementation, **overrides):
    config = dict(v_head_dim=12)            # value narrower than query/key (16 + 16 = 32), as in MLA
    config.update(overrides)
    attention = module.DeepseekV3Attention(module.KimiK2Config.tiny(**config), layer_idx=0).eval()
    attention.attn_implementation = implementation
    return attention


def _tensors(shapes, seed):
    generator = torch.Generator().manual_seed(seed)
    return [torch.randn(*shape, generator=generator) for shape in shapes]


def formula(query, key, value, scale, mask=None):
    """softmax(q k^T * scale + mask) v in float64, causal when mask is None; one-head keys broadcast."""
    q, k, v = query.double(), key.double(), value.double()
    scores = q @ k.transpose(-1, -2) * scale
    if mask is None:
        mask = torch.full(scores.shape[-2:], torch.finfo(torch.float32).min, dtype=torch.float64).triu(1)
    return torch.softmax(scores + mask.double(), dim=-1) @ v


def padding_mask(padding, query_length, past_length):
    """Additive mask built with loops (0 visible, float32 min hidden)."""
    key_length = past_length + query_length
    mask = torch.zeros(padding.shape[0], 1, query_length, key_length)
    for b in range(padding.shape[0]):
        for i in range(query_length):
            for j in range(key_length):
                if j > past_length + i or not padding[b, j]:
                    mask[b, 0, i, j] = torch.finfo(torch.float32).min
    return mask


@pytest.mark.parametrize("implementation", IMPLEMENTATIONS)
def test_causal_attend_matches_formula(impl, implementation):
    attention = _attention(impl, implementation)
    q, k, v = _tensors([(2, 4, 6, 32), (2, 4, 6, 32), (2, 4, 6, 12)], seed=0)
    with torch.no_grad():
        got = attention.attend(q, k, v, None)
    expected = formula(q, k, v, attention.softmax_scale).float()
    assert_close(got, expected, atol=1e-5, what=f"attend({implementation}), mask None, q/k 32 dims, v 12 dims",
                 hint="pass scale=self.softmax_scale (SDPA's default is 1/sqrt(32) here) and is_causal=True when the "
                      "mask is None; the eager path builds a finfo.min triangle with triu(1) "
                      "(teaching.md §The code)")


@pytest.mark.parametrize("implementation", IMPLEMENTATIONS)
def test_attend_with_padding_and_cache_mask(impl, implementation):
    """3 new queries after 4 cached keys; row 1 is left-padded so that two of its queries see nothing."""
    attention = _attention(impl, implementation)
    q, k, v = _tensors([(2, 4, 3, 32), (2, 4, 7, 32), (2, 4, 7, 12)], seed=1)
    padding = torch.tensor([[1] * 7, [0] * 6 + [1]])
    mask = padding_mask(padding, 3, 4)
    with torch.no_grad():
        got = attention.attend(q, k, v, mask)
    assert not bool(got.isnan().any()), "NaN output for fully masked rows (teaching.md §The code)"
    assert_close(got, formula(q, k, v, attention.softmax_scale, mask).float(), atol=1e-5,
                 what=f"attend({implementation}) with an additive (2, 1, 3, 7) mask",
                 hint="add the mask you are given (SDPA: attn_mask=..., is_causal=False); do not build a causal "
                      "triangle when a mask is passed (teaching.md §The code)")


@pytest.mark.parametrize("implementation", IMPLEMENTATIONS)
def test_one_key_head_for_all_query_heads(impl, implementation):
    """The absorbed layout of lesson 58: one key/value head of width 48 / 32, four query heads."""
    attention = _attention(impl, implementation)
    q, k, v = _tensors([(2, 4, 5, 48), (2, 1, 5, 48), (2, 1, 5, 32)], seed=2)
    mask = padding_mask(torch.tensor([[1] * 5, [0, 1, 1, 1, 1]]), 5, 0)
    for m in (None, mask):
        with torch.no_grad():
            got = attention.attend(q, k, v, m)
        assert_close(got, formula(q, k, v, attention.softmax_scale, m).float(), atol=1e-5,
                     what=f"attend({implementation}) with key (2, 1, 5, 48), value (2, 1, 5, 32), mask "
                          f"{'None' if m is None else 'given'}",
                     hint="SDPA needs enable_gqa=key.shape[1] != query.shape[1]; the explicit scale is still "
                          "softmax_scale, not 1/sqrt(48) (teaching.md §The code)")


@pytest.mark.parametrize("implementation", IMPLEMENTATIONS)
def test_bf16_matches_reference(impl, reference, implementation):
    mine, ref = _attention(impl, implementation), _attention(reference, implementation)
    q, k, v = [t.bfloat16() for t in _tensors([(2, 4, 9, 32), (2, 4, 9, 32), (2, 4, 9, 12)], seed=3)]
    with torch.no_grad():
        got, want = mine.attend(q, k, v, None), ref.attend(q, k, v, None)
    assert_close(got, want, atol=2e-3, what=f"attend({implementation}) in bfloat16 vs the answer key",
                 hint="eager: scores in the input dtype, softmax with dtype=torch.float32, cast back to query.dtype "
                      "before multiplying by the value (teaching.md §The code, eager step 3)")


@pytest.mark.parametrize("implementation", IMPLEMENTATIONS)
def test_dropout_only_in_training(impl, reference, implementation):
    mine = _attention(impl, implementation, attention_dropout=0.3)
    ref = _attention(reference, implementation, attention_dropout=0.3)
    q, k, v = _tensors([(1, 4, 8, 32), (1, 4, 8, 32), (1, 4, 8, 12)], seed=4)
    with torch.no_grad():
        evaluated = mine.attend(q, k, v, None)
    assert_close(evaluated, formula(q, k, v, mine.softmax_scale).float(), atol=1e-5,
                 what=f"attend({implementation}) in eval mode with attention_dropout 0.3",
                 hint="dropout probability 0 unless self.training: SDPA drops whenever dropout_p > 0 "
                      "(teaching.md §The code)")
    mine.train()
    ref.train()
    torch.manual_seed(5)
    got = mine.attend(q, k, v, None)
    torch.manual_seed(5)
    want = ref.attend(q, k, v, None)
    assert_close(got, want, atol=1e-5, what=f"attend({implementation}) in training with attention_dropout 0.3",
                 hint="SDPA: dropout_p=attention_dropout; eager: F.dropout on the softmax weights, before the "
                      "product with the value (teaching.md §The code)")


def test_eager_equals_sdpa(impl):
    sdpa, eager = _attention(impl, "sdpa"), _attention(impl, "eager")
    q, k, v = _tensors([(3, 4, 10, 32), (3, 4, 10, 32), (3, 4, 10, 12)], seed=6)
    mask = padding_mask(torch.tensor([[1] * 10, [0, 0] + [1] * 8, [0] * 5 + [1] * 5]), 10, 0)
    with torch.no_grad():
        for m in (None, mask):
            assert_close(eager.attend(q, k, v, m), sdpa.attend(q, k, v, m), atol=1e-5,
                         what=f"eager vs sdpa, float32, mask {'None' if m is None else 'with left padding'}",
                         hint="both paths compute softmax(q k^T * scale + mask) v (teaching.md §What both paths "
                              "compute)")
