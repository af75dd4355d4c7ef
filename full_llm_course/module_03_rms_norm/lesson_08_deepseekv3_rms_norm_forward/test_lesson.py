"""Graded tests for lesson 08: DeepseekV3RMSNorm.forward."""

import torch
from kimi_course.testing import assert_close


def _pair(impl, reference, hidden, dtype, seed, eps=1e-6):
    """The learner's norm and the reference norm with the same random (non-unit) weight."""
    weight = 1 + 0.3 * torch.randn(hidden, generator=torch.Generator().manual_seed(seed))
    mine, ref = impl.DeepseekV3RMSNorm(hidden, eps=eps), reference.DeepseekV3RMSNorm(hidden, eps=eps)
    with torch.no_grad():
        mine.weight.copy_(weight)
        ref.weight.copy_(weight)
    return mine.to(dtype), ref.to(dtype)


def test_forward_fp32_matches_reference(impl, reference):
    mine, ref = _pair(impl, reference, 64, torch.float32, seed=1)
    x = torch.randn(2, 5, 64, generator=torch.Generator().manual_seed(2)) * 3 + 0.5
    with torch.no_grad():
        assert_close(mine(x), ref(x), atol=1e-6, what="DeepseekV3RMSNorm(64)(x) in float32",
                     hint="y = weight * x / sqrt(mean(x^2, last dim) + eps): teaching.md §The code")


def test_forward_bf16_cast_before_weight_hidden_7168(impl, reference):
    mine, ref = _pair(impl, reference, 7168, torch.bfloat16, seed=3)
    x = (torch.randn(2, 3, 7168, generator=torch.Generator().manual_seed(4)) * 3 + 1).bfloat16()
    with torch.no_grad():
        got, expected = mine(x), ref(x)
    hint = ("normalise in float32, cast back to the input dtype, THEN multiply by the weight: "
            "teaching.md §Cast order")
    assert_close(got, expected, atol=0.07, what="DeepseekV3RMSNorm(7168)(x in bf16)", hint=hint)
    # Both orders are within one bf16 ulp of each other, but they differ on about a quarter of the
    # elements. A different (equally valid) float32 rounding of the statistics flips only a handful.
    differ = (got.float() != expected.float()).float().mean().item()
    assert differ < 0.01, (f"{differ:.1%} of the bf16 outputs differ from the reference by one rounding step "
                           f"(allowed < 1%)\nhint: {hint}")


def test_statistics_in_float32(impl, reference):
    mine, ref = _pair(impl, reference, 256, torch.float16, seed=5)
    x = (300 + 20 * torch.randn(1, 4, 256, generator=torch.Generator().manual_seed(6))).half()
    with torch.no_grad():
        got = mine(x)
    assert torch.isfinite(got).all(), ("fp16 input of magnitude 300 gave inf/nan: the squares (9e4) overflow "
                                       "float16; compute the mean of squares in float32 (teaching.md §Why float32)")
    with torch.no_grad():
        assert_close(got, ref(x), atol=2e-3, what="DeepseekV3RMSNorm(256)(x in fp16, |x| ~ 300)",
                     hint="upcast to float32 before squaring: teaching.md §Why float32")


def test_eps_is_used(impl, reference):
    x = torch.randn(3, 16, generator=torch.Generator().manual_seed(7)) * 0.05
    for eps in (1e-6, 1e-2):
        mine, ref = _pair(impl, reference, 16, torch.float32, seed=8, eps=eps)
        with torch.no_grad():
            assert_close(mine(x), ref(x), atol=1e-6, what=f"DeepseekV3RMSNorm(16, eps={eps:g}) on small x",
                         hint="add self.variance_epsilon to the mean of squares, inside the rsqrt: teaching.md §eps")


def test_any_leading_shape(impl, reference):
    mine, ref = _pair(impl, reference, 32, torch.float32, seed=9)
    for shape in ((32,), (4, 32), (2, 3, 4, 32)):
        x = torch.randn(*shape, generator=torch.Generator().manual_seed(10))
        with torch.no_grad():
            assert_close(mine(x), ref(x), atol=1e-6, what=f"DeepseekV3RMSNorm(32) on shape {shape}",
                         hint="reduce over the last dimension only, keepdim=True: teaching.md §The code")
