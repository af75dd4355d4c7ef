"""Helpers for a lesson's test_lesson.py: failures that say what differs and where to read.

The implementation under test arrives as the ``impl`` fixture and the answer key as the
``reference`` fixture (both from ``kimi_course.pytest_plugin``); a test compares the two on
inputs drawn from a fixed seed.
"""

import torch


def assert_close(actual, expected: torch.Tensor, atol: float = 1e-6, what: str = "output", hint: str = "",
                 rtol: float = 0.0) -> None:
    """Fail with shape, dtype, max abs error and the worst index, then ``hint`` (where to read)."""
    hint = f"\nhint: {hint}" if hint else ""
    if not isinstance(actual, torch.Tensor):
        raise AssertionError(f"{what}: expected a tensor, got {type(actual).__name__}{hint}")
    if actual.shape != expected.shape:
        raise AssertionError(f"{what}: shape {tuple(actual.shape)} != expected {tuple(expected.shape)}{hint}")
    if actual.dtype != expected.dtype:
        raise AssertionError(f"{what}: dtype {actual.dtype} != expected {expected.dtype}{hint}")
    error = (actual.detach().double() - expected.double()).abs().nan_to_num(nan=float("inf"))
    bound = atol + rtol * expected.double().abs()
    if actual.numel() and bool((error > bound).any()):
        worst = tuple(int(i) for i in torch.unravel_index((error - bound).argmax(), error.shape))
        raise AssertionError(
            f"{what}: max abs error {error.max().item():.3e} > atol {atol:.1e} at index {worst}: got "
            f"{actual[worst].item():.6g}, expected {expected[worst].item():.6g} "
            f"(shape {tuple(actual.shape)}, dtype {actual.dtype}){hint}")
