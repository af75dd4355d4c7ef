"""Graded tests for lesson 60: DeepseekV3DecoderLayer.forward (pre-norm residuals)."""


import pytest
import torch
from kimi_course.testing import assert_close, randomize_

HINT = "h = x + self_attn(input_layernorm(x), mask, positions, cache); out = h + mlp(post_attention_layernorm(h))"


def _pair(impl, reference, layer_idx, seed=0):
    want = randomize_(reference.DeepseekV3DecoderLayer(reference.KimiK2Config.tiny(), layer_idx), seed).eval()
    got = impl.DeepseekV3DecoderLayer(impl.KimiK2Config.tiny(), layer_idx).eval()
    got.load_state_dict(want.state_dict())
    return got, want


def _x(seed, shape=(2, 7, 64)):
    return torch.randn(*shape, generator=torch.Generator().manual_seed(seed))


@pytest.mark.parametrize("layer_idx", [0, 1], ids=["dense layer 0", "MoE layer 1"])
def test_forward_matches_reference(impl, reference, layer_idx):
    got, want = _pair(impl, reference, layer_idx, seed=layer_idx)
    x = _x(100 + layer_idx)
    with torch.no_grad():
        out, expected = got(x), want(x)
    assert_close(out, expected, atol=1e-5, what=f"tiny layer {layer_idx} output, no mask", hint=HINT)


def test_silenced_branches_give_the_identity(impl, reference):
    got, _ = _pair(impl, reference, 0, seed=3)
    with torch.no_grad():
        got.self_attn.o_proj.weight.zero_()
        got.mlp.down_proj.weight.zero_()
        x = _x(4)
        assert_close(got(x), x, atol=0.0, what="layer output with o_proj and down_proj zeroed",
                     hint="pre-norm: the stream x itself is added back, not its normalised copy; with both branches "
                          "silent the layer must return x exactly (teaching.md §The code)")


def test_padding_mask_reaches_the_attention(impl, reference):
    got, want = _pair(impl, reference, 1, seed=5)
    attention_mask = torch.ones(2, 7, dtype=torch.long)
    attention_mask[0, :3] = 0                                        # row 0 is left-padded by 3
    position_ids = (attention_mask.cumsum(-1) - 1).clamp(min=0)
    mask = reference.attention.causal_mask(attention_mask, 7, 0, torch.float32, torch.device("cpu"))
    x = _x(6)
    with torch.no_grad():
        out = got(x, mask, position_ids)
        expected = want(x, mask, position_ids)
    assert_close(out, expected, atol=1e-5, what="layer output with a padding mask and positions from the mask",
                 hint="pass attention_mask, position_ids and past_key_value on to self_attn (teaching.md §The code)")


def test_explicit_positions_reach_the_attention(impl, reference):
    """RoPE is relative: a constant shift of positions changes nothing, so these positions jump."""
    got, want = _pair(impl, reference, 0, seed=14)
    position_ids = torch.tensor([[0, 1, 2, 3, 20, 21, 22], [7, 8, 9, 10, 11, 12, 13]])
    x = _x(15)
    with torch.no_grad():
        out = got(x, None, position_ids)
        expected = want(x, None, position_ids)
    assert_close(out, expected, atol=1e-5, what="layer output with explicit position_ids (a jump of 17 in row 0)",
                 hint="pass position_ids on to self_attn (teaching.md §The code)")


def test_cache_is_used_when_decoding(impl, reference):
    got, want = _pair(impl, reference, 1, seed=7)
    x = _x(8, (1, 6, 64))
    outs = []
    for layer, package in ((got, impl), (want, reference)):
        cache = package.KVCache()
        with torch.no_grad():
            layer(x[:, :5], None, None, cache)                       # prefill 5 positions
            outs.append(layer(x[:, 5:], None, None, cache))          # decode position 5 against the cache
    with torch.no_grad():
        full = want(x)[:, 5:]
    assert_close(outs[0], outs[1], atol=1e-5, what="decode step (1 new token after a 5-token prefill) with a KVCache",
                 hint="the cache must reach self_attn as past_key_value (teaching.md §The code)")
    assert_close(outs[0], full, atol=1e-5, what="decode step vs the same position in a full forward",
                 hint="with the cache passed on, decoding equals the full forward (teaching.md §The code)")


def test_gradients_match_reference(impl, reference):
    got, want = _pair(impl, reference, 1, seed=9)
    probe = torch.randn(2, 7, 64, generator=torch.Generator().manual_seed(10))
    grads = []
    for layer in (got, want):
        x = _x(11).requires_grad_()
        (layer(x) * probe).sum().backward()
        grads.append((x.grad, {n: p.grad for n, p in layer.named_parameters() if p.grad is not None}))
    assert_close(grads[0][0], grads[1][0], atol=1e-5, what="gradient w.r.t. the layer input",
                 hint="the input must reach the output through the identity path x + ... (teaching.md §The gradient "
                      "path, derived); no in-place += (teaching.md §Pitfalls)")
    assert set(grads[0][1]) == set(grads[1][1]), (
        f"parameters with a gradient differ: {sorted(set(grads[0][1]) ^ set(grads[1][1]))[:4]} "
        "(each norm feeds exactly one branch: teaching.md §The code)")
    for name, g in grads[1][1].items():
        assert_close(grads[0][1][name], g, atol=1e-5, what=f"gradient of {name}", hint=HINT)


def test_bf16_forward(impl, reference):
    got, want = _pair(impl, reference, 0, seed=12)
    got, want = got.to(torch.bfloat16), want.to(torch.bfloat16)
    x = _x(13).bfloat16()
    with torch.no_grad():
        out = got(x)
        expected = want(x)
    assert_close(out, expected, atol=0.0, what="dense layer output in bf16",
                 hint="add the residuals in the model dtype, as the answer key does (teaching.md §Pitfalls)")
