"""Graded tests for lesson 63: DeepseekV3Model.forward (positions, fast path, mask, layer loop, final norm, cache)."""


import torch
from kimi_course.testing import assert_close, randomize_


def _pair(impl, reference, seed=0):
    want = randomize_(reference.DeepseekV3Model(reference.KimiK2Config.tiny()), seed).eval()
    got = impl.DeepseekV3Model(impl.KimiK2Config.tiny()).eval()
    got.load_state_dict(want.state_dict())
    return got, want


def _ids(seed, shape=(2, 9)):
    return torch.randint(0, 512, shape, generator=torch.Generator().manual_seed(seed))


def _left_padding():
    mask = torch.ones(2, 9, dtype=torch.long)
    mask[0, :4] = 0
    return mask, (mask.cumsum(-1) - 1).clamp(min=0)


def test_forward_no_mask(impl, reference):
    got, want = _pair(impl, reference, seed=0)
    ids = _ids(1)
    with torch.no_grad():
        out = got(ids)
        expected, _ = want(ids)
    assert isinstance(out, tuple) and len(out) == 2, (
        "forward returns (final hidden states, cache): teaching.md §The code")
    assert out[1] is None, "without use_cache the returned cache must be None (teaching.md §The code)"
    assert_close(out[0], expected, atol=1e-5, what="DeepseekV3Model(ids (2, 9)) hidden states",
                 hint="run every layer, then the final norm (teaching.md §The code)")


def test_all_ones_mask_equals_no_mask(impl, reference):
    got, want = _pair(impl, reference, seed=1)
    ids = _ids(2)
    with torch.no_grad():
        out, _ = got(ids, attention_mask=torch.ones(2, 9, dtype=torch.long))
        expected, _ = want(ids)
    assert_close(out, expected, atol=1e-5, what="hidden states with an all-ones attention_mask",
                 hint="an all-ones mask with an empty cache is the plain causal case (teaching.md §The code, step 4)")


def test_left_padding(impl, reference):
    got, want = _pair(impl, reference, seed=2)
    ids, (mask, positions) = _ids(3), _left_padding()
    real = mask.bool()
    with torch.no_grad():
        out, _ = got(ids, attention_mask=mask, position_ids=positions)
        expected, _ = want(ids, attention_mask=mask, position_ids=positions)
        alone, _ = want(ids[:1, 4:])                                   # row 0's 5 real tokens, unpadded
    assert_close(out[real], expected[real], atol=1e-5, what="hidden states at real positions, row 0 left-padded by 4",
                 hint="build the mask with causal_mask(attention_mask, s, past_length, dtype, device) and pass it to "
                      "every layer (teaching.md §The code, step 5)")
    assert_close(out[0, 4:], alone[0], atol=1e-5, what="left-padded row vs the same tokens without padding",
                 hint="pads must be invisible to the real tokens (teaching.md §Worked example)")


def test_explicit_positions(impl, reference):
    got, want = _pair(impl, reference, seed=3)
    ids = _ids(4)
    positions = torch.tensor([[0, 1, 2, 3, 0, 1, 2, 3, 4], [5, 6, 7, 8, 9, 10, 11, 12, 13]])
    with torch.no_grad():
        out, _ = got(ids, position_ids=positions)
        expected, _ = want(ids, position_ids=positions)
    assert_close(out, expected, atol=1e-5, what="hidden states with explicit position_ids (a restart in row 0)",
                 hint="use the caller's position_ids when given (teaching.md §The code, step 3)")


def test_cache_prefill_then_decode(impl, reference):
    got, want = _pair(impl, reference, seed=4)
    ids = _ids(5)
    with torch.no_grad():
        full, _ = want(ids)
        prefill, cache = got(ids[:, :5], use_cache=True)
        assert cache is not None and cache.get_seq_length() == 5, (
            "use_cache=True without a cache must create a KVCache and return it, holding 5 positions after a "
            "5-token prefill (teaching.md §The code, step 1)")
        steps = [prefill]
        for t in range(5, 9):                                          # default positions must continue at t
            step, cache = got(ids[:, t:t + 1], past_key_values=cache, use_cache=True)
            steps.append(step)
    assert_close(torch.cat(steps, 1), full, atol=1e-5, what="prefill 5 + 4 one-token decode steps vs full forward",
                 hint="positions default to arange(past_length, past_length + s); no fast path with a cache "
                      "(teaching.md §Why the fast path matters)")


def test_cache_with_padding_and_positions(impl, reference):
    got, want = _pair(impl, reference, seed=5)
    ids, (mask, positions) = _ids(6), _left_padding()
    real = mask.bool()
    with torch.no_grad():
        full, _ = want(ids, attention_mask=mask, position_ids=positions)
        out, cache = got(ids[:, :7], attention_mask=mask[:, :7], position_ids=positions[:, :7], use_cache=True)
        steps = [out]
        for t in (7, 8):
            step, cache = got(ids[:, t:t + 1], attention_mask=mask[:, :t + 1], position_ids=positions[:, t:t + 1],
                              past_key_values=cache, use_cache=True)
            steps.append(step)
    assert_close(torch.cat(steps, 1)[real], full[real], atol=1e-5,
                 what="padded prefill + 2 decode steps (mask covering cache + new) vs full forward, real positions",
                 hint="causal_mask(attention_mask, s, past_length, ...) covers the cached keys too (teaching.md §The code)")


def test_inputs_embeds(impl, reference):
    got, want = _pair(impl, reference, seed=6)
    ids = _ids(7)
    with torch.no_grad():
        out, _ = got(inputs_embeds=want.embed_tokens(ids))
        expected, _ = want(ids)
    assert_close(out, expected, atol=1e-5, what="forward from inputs_embeds",
                 hint="everything after the lookup works on inputs_embeds (teaching.md §The code)")


def test_matches_transformers(impl, reference, tmp_path):
    """An independent reference: transformers' DeepseekV3Model on the same weights, left-padded batch."""
    from transformers import DeepseekV3ForCausalLM
    from transformers.utils import logging

    logging.set_verbosity_error()
    ours = randomize_(impl.KimiK2ForCausalLM(impl.KimiK2Config.tiny()), seed=7).eval()
    ours.save_pretrained(tmp_path)
    theirs = DeepseekV3ForCausalLM.from_pretrained(tmp_path).eval()
    ids, (mask, positions) = _ids(8), _left_padding()
    real = mask.bool()
    with torch.no_grad():
        out, _ = ours.model(ids, attention_mask=mask, position_ids=positions)
        expected = theirs.model(ids, attention_mask=mask, position_ids=positions).last_hidden_state
    assert_close(out[real], expected[real], atol=1e-5, what="hidden states vs transformers' DeepseekV3Model",
                 hint="positions, mask, every layer, the final norm (teaching.md §The code)")
