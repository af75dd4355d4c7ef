"""Graded tests for lesson 56: kimik2.attention.causal_mask (additive causal + padding mask)."""

import pytest
import torch
from kimi_course.testing import assert_close


def loop_mask(padding, query_length, past_length, dtype):
    """The rule written with explicit loops: key j is visible to query row i iff j <= past + i and it is not padding."""
    key_length = past_length + query_length
    batch = 1 if padding is None else padding.shape[0]
    low = torch.finfo(dtype).min
    expected = torch.empty(batch, 1, query_length, key_length, dtype=dtype)
    for b in range(batch):
        for i in range(query_length):
            for j in range(key_length):
                visible = j <= past_length + i and (padding is None or bool(padding[b, j]))
                expected[b, 0, i, j] = 0.0 if visible else low
    return expected


CASES = {
    "prefill, left padding, float32": (torch.tensor([[1, 1, 1, 1, 1], [0, 0, 1, 1, 1]]), 5, 0, torch.float32),
    "prefill, all ones, float32": (torch.ones(2, 4, dtype=torch.long), 4, 0, torch.float32),
    "no padding, 4 cached + 3 new": (None, 3, 4, torch.float32),
    "padding, 5 cached + 2 new, bfloat16": (torch.tensor([[0, 0, 0, 1, 1, 1, 1], [1, 1, 1, 1, 1, 1, 1],
                                                          [0, 1, 1, 1, 1, 1, 1]]), 2, 5, torch.bfloat16),
    "decode 1 token after 9, bool padding, float16": (torch.tensor([[False] * 3 + [True] * 7, [True] * 10]), 1, 9,
                                                      torch.float16),
}


@pytest.mark.parametrize("label", list(CASES))
def test_mask_equals_the_rule(impl, reference, label):
    padding, q, past, dtype = CASES[label]
    got = impl.attention.causal_mask(padding, q, past, dtype, torch.device("cpu"))
    expected = loop_mask(padding, q, past, dtype)
    assert got is not None, f"{label}: got None; None only when there is no padding mask and nothing is cached"
    assert tuple(got.shape) == tuple(expected.shape), (
        f"{label}: mask shape {tuple(got.shape)} != {tuple(expected.shape)}: (b or 1, 1, query_length, "
        "past_length + query_length) (teaching.md §The rule)")
    assert got.dtype == dtype, f"{label}: mask dtype {got.dtype} != {dtype}: build it in the dtype you are given"
    wrong = (got != expected).nonzero()
    assert len(wrong) == 0, (
        f"{label}: {len(wrong)} entries differ from the rule, first at (b, 0, i, j) = {tuple(wrong[0].tolist())}: "
        f"got {got[tuple(wrong[0])].item():.4g}, expected {expected[tuple(wrong[0])].item():.4g}. Query row i sits at "
        "position past_length + i; 0 where j <= that and attention_mask[b, j] == 1, finfo(dtype).min elsewhere "
        "(teaching.md §The rule)")
    want = reference.attention.causal_mask(padding, q, past, dtype, torch.device("cpu"))
    assert_close(got, want, atol=0.0, what=f"{label}: causal_mask vs the answer key")


def test_none_only_for_plain_causal(impl):
    assert impl.attention.causal_mask(None, 6, 0, torch.float32, torch.device("cpu")) is None, (
        "no padding mask and nothing cached: return None (plain causal, SDPA's is_causal path) "
        "(teaching.md §The code)")
    decode = impl.attention.causal_mask(None, 1, 6, torch.float32, torch.device("cpu"))
    assert decode is not None and tuple(decode.shape) == (1, 1, 1, 7) and bool((decode == 0).all()), (
        "one new token after 6 cached ones: a (1, 1, 1, 7) mask of zeros, not None - is_causal is aligned "
        "top-left and would show the query only key 0 (teaching.md §Decoding needs a real mask)")


def test_wrong_mask_length_raises(impl):
    with pytest.raises(ValueError):
        impl.attention.causal_mask(torch.ones(2, 5), 1, 5, torch.float32, torch.device("cpu"))
    with pytest.raises(ValueError):
        impl.attention.causal_mask(torch.ones(1, 8), 4, 0, torch.float32, torch.device("cpu"))


def test_fully_masked_rows_give_a_uniform_softmax(impl):
    padding = torch.tensor([[0, 0, 0, 1, 1, 1]])
    mask = impl.attention.causal_mask(padding, 6, 0, torch.float32, torch.device("cpu"))
    assert bool(torch.isfinite(mask).all()), (
        "the mask holds -inf: use torch.finfo(dtype).min, a finite number (teaching.md §A fully masked row)")
    scores = 3 * torch.randn(1, 2, 6, 6, generator=torch.Generator().manual_seed(0))
    probs = torch.softmax(scores + mask, dim=-1)
    assert not bool(probs.isnan().any()), "softmax(scores + mask) has NaN rows (teaching.md §A fully masked row)"
    assert_close(probs[0, :, :3], torch.full((2, 3, 6), 1 / 6), atol=1e-7,
                 what="softmax rows of the three pad queries (every key masked)",
                 hint="finfo(dtype).min + score == finfo(dtype).min, so a fully masked row is uniform "
                      "(teaching.md §A fully masked row)")


@pytest.mark.parametrize("implementation", ["eager", "sdpa"])
def test_left_padded_model_with_cache(impl, reference, implementation):
    """A left-padded batch: prefill 6 tokens, decode 2 more, through the whole tiny model."""
    torch.manual_seed(0)
    ref = reference.KimiK2ForCausalLM(reference.KimiK2Config.tiny()).eval()
    mine = impl.KimiK2ForCausalLM(impl.KimiK2Config.tiny()).eval()
    mine.load_state_dict(ref.state_dict())
    ref.set_attn_implementation(implementation)
    mine.set_attn_implementation(implementation)
    ids = torch.randint(0, 512, (2, 8), generator=torch.Generator().manual_seed(1))
    padding = torch.tensor([[1] * 8, [0, 0, 0] + [1] * 5])
    positions = (padding.cumsum(-1) - 1).clamp(min=0)
    with torch.no_grad():
        want = ref(ids, attention_mask=padding, position_ids=positions).logits
        prefill = mine(ids[:, :6], attention_mask=padding[:, :6], position_ids=positions[:, :6], use_cache=True)
        step = mine(ids[:, 6:], attention_mask=padding, position_ids=positions[:, 6:],
                    past_key_values=prefill.past_key_values)
    got = torch.cat([prefill.logits, step.logits], dim=1)
    assert not bool(got.isnan().any()), (
        "NaN logits with left padding: masked entries must be finfo(dtype).min, not -inf "
        "(teaching.md §A fully masked row)")
    real = padding.bool()   # a pad query's uniform row averages over however many keys exist: compare real ones
    assert_close(got[real], want[real], atol=1e-5,
                 what=f"logits at real tokens, left-padded batch, prefill 6 + decode 2 ({implementation})",
                 hint="the padding mask covers cache + input; query row i sits at past_length + i "
                      "(teaching.md §The rule)")
