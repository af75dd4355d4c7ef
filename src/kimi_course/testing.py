"""Helpers for a lesson's test_lesson.py: failures that say what differs and where to read.

The implementation under test arrives as the ``impl`` fixture and the answer key as the
``reference`` fixture (both from ``kimi_course.pytest_plugin``); a test compares the two on
inputs drawn from a fixed seed.
"""

import math

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


def randomize_(model: torch.nn.Module, seed: int = 0) -> torch.nn.Module:
    """Replace the (tiny, near-zero) init with weights that give O(1) activations and logits:
    matrices N(0, 1/fan_in), embeddings N(0, 1), norm weights in [0.5, 1.5), a router correction
    bias in [-0.1, 0.1). Differences between two implementations then show instead of vanishing."""
    generator = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, parameter in model.named_parameters():
            if name.endswith("e_score_correction_bias"):
                values = torch.rand(parameter.shape, generator=generator) * 0.2 - 0.1
            elif "norm" in name:
                values = torch.rand(parameter.shape, generator=generator) + 0.5
            elif parameter.dim() == 2 and "embed_tokens" not in name:
                values = torch.randn(parameter.shape, generator=generator) / math.sqrt(parameter.shape[1])
            else:
                values = torch.randn(parameter.shape, generator=generator)
            parameter.copy_(values)
    return model


def left_padded(prompts: list[list[int]], pad: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    """Token lists of different lengths -> ids (b, width) padded on the left with ``pad``, and the
    attention mask (b, width): 0 on the padding, 1 on the tokens. The batch layout generation expects."""
    width = max(map(len, prompts))
    ids = torch.tensor([[pad] * (width - len(p)) + p for p in prompts])
    mask = torch.tensor([[0] * (width - len(p)) + [1] * len(p) for p in prompts])
    return ids, mask
