"""Graded tests for lesson 74: KVCache.update and KVCache.get_seq_length."""

import pytest
import torch
from kimi_course.testing import assert_close


def _random(shape, seed):
    return torch.randn(*shape, generator=torch.Generator().manual_seed(seed))


@pytest.mark.parametrize("layout, key_dim, value_dim, heads", [("expanded", 32, 16, 4), ("latent", 32, 16, 1)])
def test_update_appends_along_the_sequence_axis(impl, reference, layout, key_dim, value_dim, heads):
    """Prefill 5 positions, then 1, then 3: every call returns the concatenation of all pieces so far."""
    mine, ref = impl.KVCache(layout=layout), reference.KVCache(layout=layout)
    pieces = [(_random((2, heads, s, key_dim), 10 + i), _random((2, heads, s, value_dim), 20 + i))
              for i, s in enumerate((5, 1, 3))]
    assert mine.get_seq_length(0) == 0, (
        f"get_seq_length(0) of an empty cache is {mine.get_seq_length(0)}; expected 0 (teaching.md §The code)")
    for step, (key, value) in enumerate(pieces):
        got_key, got_value = mine.update(key, value, layer_idx=0)
        want_key, want_value = ref.update(key, value, layer_idx=0)
        length = sum(k.shape[2] for k, _ in pieces[:step + 1])
        by_hand_key = torch.cat([k for k, _ in pieces[:step + 1]], dim=2)
        by_hand_value = torch.cat([v for _, v in pieces[:step + 1]], dim=2)
        where = f"update #{step + 1} ({layout}, key {tuple(key.shape)})"
        assert_close(got_key, by_hand_key, atol=0, what=f"{where}: returned keys",
                     hint="append along dim 2 (the sequence axis of (b, heads, t, d)) and return everything "
                          "cached so far (teaching.md §The code)")
        assert_close(got_value, by_hand_value, atol=0, what=f"{where}: returned values",
                     hint="values are appended exactly like keys (teaching.md §The code)")
        assert_close(got_key, want_key, atol=0, what=f"{where}: keys vs the answer key")
        assert mine.get_seq_length(0) == length, (
            f"after {where}, get_seq_length(0) = {mine.get_seq_length(0)}; expected {length}: the length of "
            "dim 2 of the stored keys (teaching.md §The code)")


def test_layers_are_independent(impl, reference):
    """Each layer has its own entry; a layer never updated reports length 0."""
    mine = impl.KVCache()
    for layer, length in ((0, 4), (2, 7)):
        mine.update(_random((1, 4, length, 32), layer), _random((1, 4, length, 16), 50 + layer), layer_idx=layer)
    lengths = [mine.get_seq_length(layer) for layer in range(3)]
    assert lengths == [4, 0, 7], (
        f"get_seq_length for layers 0, 1, 2 = {lengths}; expected [4, 0, 7]: keep one entry per layer_idx and "
        "answer 0 for a layer with nothing cached (teaching.md §The code)")
    key, value = mine.update(_random((1, 4, 1, 32), 9), _random((1, 4, 1, 16), 19), layer_idx=2)
    assert tuple(key.shape) == (1, 4, 8, 32) and tuple(value.shape) == (1, 4, 8, 16), (
        f"layer 2 after one more position holds keys {tuple(key.shape)}, values {tuple(value.shape)}; expected "
        "(1, 4, 8, 32) and (1, 4, 8, 16)")
    assert mine.get_seq_length(0) == 4, "updating layer 2 changed layer 0's length: store entries per layer_idx"


@pytest.mark.parametrize("mla_mode", ["expanded", "absorbed"])
def test_cached_decoding_equals_one_full_forward(impl, reference, mla_mode):
    """Whole tiny model: prefill 6 tokens, then feed 1, 1 and 2 tokens against the cache; the logits
    must equal one forward over all 10 tokens without a cache."""
    torch.manual_seed(0)
    model = impl.KimiK2ForCausalLM(impl.KimiK2Config.tiny(v_head_dim=12)).eval()
    ids = torch.randint(0, 512, (2, 10), generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        want = model(ids).logits                                 # no cache: the reference
        model.set_mla_mode(mla_mode)
        out = model(ids[:, :6], use_cache=True)
        cache, pieces = out.past_key_values, [out.logits]
        for start, stop in ((6, 7), (7, 8), (8, 10)):
            pieces.append(model(ids[:, start:stop], past_key_values=cache).logits)
            assert cache.get_seq_length() == stop, (
                f"after feeding tokens up to {stop}, cache.get_seq_length() = {cache.get_seq_length()}; expected "
                f"{stop}: the model reads it to place the new tokens (teaching.md §How the model uses it)")
    assert_close(torch.cat(pieces, dim=1), want, atol=1e-5,
                 what=f"logits with the cache ({mla_mode}; 6 + 1 + 1 + 2 tokens) vs one full forward",
                 hint="update must return old and new entries together, in order (teaching.md §The code)")
