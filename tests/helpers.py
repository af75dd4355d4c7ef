"""Assertions with messages that say what differs and where."""

import torch


def assert_close(actual: torch.Tensor, expected: torch.Tensor, atol: float, what: str, rtol: float = 0.0) -> None:
    """Fail with the shapes, dtypes, max abs error and the index where it occurs."""
    assert actual.shape == expected.shape, f"{what}: shape {tuple(actual.shape)} != expected {tuple(expected.shape)}"
    error = (actual.double() - expected.double()).abs()
    bound = atol + rtol * expected.double().abs()
    if bool((error > bound).any()) or bool(torch.isnan(actual).any() != torch.isnan(expected).any()):
        worst = tuple(int(i) for i in torch.unravel_index(error.argmax(), error.shape))
        raise AssertionError(
            f"{what}: max abs error {error.max().item():.3e} > atol {atol:.1e} (rtol {rtol:.1e}) at index {worst}: "
            f"got {actual[worst].item():.6g}, expected {expected[worst].item():.6g} "
            f"(dtypes {actual.dtype} / {expected.dtype}, shape {tuple(actual.shape)})")
