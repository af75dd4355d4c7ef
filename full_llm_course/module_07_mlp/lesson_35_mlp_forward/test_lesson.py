"""Graded tests for lesson 35: DeepseekV3MLP.forward in mlp.py, down_proj(act_fn(gate_proj(x)) * up_proj(x))."""

import pytest
import torch

from kimi_course.testing import assert_close

HINT = ("forward is down_proj(act_fn(gate_proj(x)) * up_proj(x)): the activation on the gate branch only, an "
        "elementwise product, nothing after down_proj (teaching.md §The forward pass)")


def _pair(impl, reference, seed, dtype=torch.float32, hidden_size=None, intermediate_size=None, **overrides):
    """The reference MLP with seeded weights and the implementation's MLP holding a copy of them."""
    torch.manual_seed(seed)
    want = reference.DeepseekV3MLP(reference.KimiK2Config.tiny(**overrides), hidden_size, intermediate_size)
    got = impl.DeepseekV3MLP(impl.KimiK2Config.tiny(**overrides), hidden_size, intermediate_size)
    got.load_state_dict(want.state_dict())
    return got.to(dtype), want.to(dtype)


def _input(shape, seed, dtype=torch.float32):
    return torch.randn(*shape, generator=torch.Generator().manual_seed(seed)).to(dtype)


@pytest.mark.parametrize("label, kwargs", [
    ("tiny dense MLP (64 -> 192 -> 64)", {}),
    ("tiny expert (64 -> 32 -> 64)", {"intermediate_size": 32}),
    ("tiny MLP with hidden_act='gelu'", {"hidden_act": "gelu"}),
])
def test_forward_fp32(impl, reference, label, kwargs):
    got, want = _pair(impl, reference, 35, **kwargs)
    x = _input((2, 7, 64), 1)
    with torch.no_grad():
        expected = want(x)
        assert_close(got(x), expected, atol=1e-5, what=f"{label}, x (2, 7, 64) fp32",
                     hint=HINT + ("; call self.act_fn, do not hard-code F.silu" if "gelu" in label else ""))


@pytest.mark.parametrize("shape", [(64,), (3, 64), (2, 3, 4, 64)])
def test_forward_any_leading_shape(impl, reference, shape):
    got, want = _pair(impl, reference, 36)
    x = _input(shape, 2)
    with torch.no_grad():
        assert_close(got(x), want(x), atol=1e-5, what=f"tiny MLP on x of shape {shape}",
                     hint="the Linears act on the last dimension; do not reshape or flatten x "
                          "(teaching.md §Shapes at every step)")


def test_forward_bf16(impl, reference):
    got, want = _pair(impl, reference, 37, dtype=torch.bfloat16)
    x = _input((2, 7, 64), 3, torch.bfloat16)
    with torch.no_grad():
        expected = want(x)
        assert_close(got(x), expected, atol=1e-2, rtol=2e-2, what="tiny MLP in bf16 (weights and x bf16)",
                     hint="stay in the input dtype: no .float() and no cast of the result "
                          "(teaching.md §bf16)")


@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16])
def test_forward_kimi_k2_expert_size(impl, reference, dtype):
    """One Kimi-K2 routed expert: hidden 7168, intermediate 2048."""
    got, want = _pair(impl, reference, 38, dtype=dtype, hidden_size=7168, intermediate_size=2048)
    x = _input((3, 5, 7168), 4, dtype)
    with torch.no_grad():
        expected = want(x)
        scale = expected.float().abs().max().item()
        atol, rtol = (1e-4 * scale, 0.0) if dtype == torch.float32 else (2e-2 * scale, 2e-2)
        assert_close(got(x), expected, atol=atol, rtol=rtol, what=f"Kimi-K2 expert (7168 -> 2048 -> 7168) in {dtype}",
                     hint=HINT)


def test_tiny_model_logits(impl, reference):
    """A whole tiny KimiK2ForCausalLM (dense layer 0, experts and shared experts in layers 1-3) with your MLP."""
    torch.manual_seed(39)
    want = reference.KimiK2ForCausalLM(reference.KimiK2Config.tiny()).eval()
    got = impl.KimiK2ForCausalLM(impl.KimiK2Config.tiny()).eval()
    got.load_state_dict(want.state_dict())
    ids = torch.randint(0, 512, (2, 12), generator=torch.Generator().manual_seed(5))
    with torch.no_grad():
        assert_close(got(ids).logits, want(ids).logits, atol=1e-4, what="tiny KimiK2ForCausalLM logits",
                     hint="every dense MLP, routed expert and shared expert runs your forward; " + HINT)
