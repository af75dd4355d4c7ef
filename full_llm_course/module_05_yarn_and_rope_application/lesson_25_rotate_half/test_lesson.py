"""Lesson 25: rotate_half maps (x1, x2) to (-x2, x1) over the halves of the last dimension."""
import torch
from kimi_course.testing import assert_close


def test_values_on_a_known_vector(impl, reference):
    x = torch.arange(8.0)
    assert_close(impl.rope.rotate_half(x), torch.tensor([-4.0, -5.0, -6.0, -7.0, 0.0, 1.0, 2.0, 3.0]), atol=0,
                 what="rotate_half(arange(8))",
                 hint="the output is cat(-second half, first half); a sign on the wrong half gives (4..7, -0..-3): "
                      "teaching.md §The code")


def test_leading_shapes_and_dtypes(impl, reference):
    g = torch.Generator().manual_seed(0)
    # (d,), Kimi-K2's q_pe (b, 64 heads, s, 64), k_pe (b, 1, s, 64), the tiny config's (b, 4, s, 16)
    for shape in ((64,), (2, 64, 5, 64), (2, 1, 5, 64), (3, 4, 7, 16), (1, 2)):
        x = torch.randn(shape, generator=g)
        for dtype in (torch.float32, torch.bfloat16):
            assert_close(impl.rope.rotate_half(x.to(dtype)), reference.rope.rotate_half(x.to(dtype)), atol=0,
                         what=f"rotate_half(x of shape {shape}, {dtype})",
                         hint="slice the last dimension with x[..., :d/2] and x[..., d/2:] so any leading shape works")


def test_twice_is_negation(impl, reference):
    x = torch.randn(2, 3, 4, 16, generator=torch.Generator().manual_seed(1))
    assert_close(impl.rope.rotate_half(impl.rope.rotate_half(x)), -x, atol=0, what="rotate_half(rotate_half(x))",
                 hint="two 90-degree turns make a 180-degree turn: the result must be -x (teaching.md §A 90-degree turn)")


def test_rotation_formula_uses_it(impl, reference):
    g = torch.Generator().manual_seed(2)
    x = torch.randn(5, 64, generator=g)
    angles = torch.rand(5, 32, generator=g) * 6.3
    cos, sin = torch.cat([angles, angles], -1).cos(), torch.cat([angles, angles], -1).sin()
    mine = x * cos + impl.rope.rotate_half(x) * sin
    z = torch.complex(x[:, :32], x[:, 32:]) * torch.polar(torch.ones(5, 32), angles)
    assert_close(mine, torch.cat([z.real, z.imag], -1), atol=1e-5, what="x*cos + rotate_half(x)*sin",
                 hint="this must equal turning the complex number x_i + i x_{i+d/2} by each angle")
