"""Test helpers: tiny configs, weights that make outputs O(1), and assertions with messages
that say what differs and where."""

import torch

from kimi_course.testing import randomize_  # noqa: F401  (shared with the lessons' graded tests)
from kimik2 import KimiK2Config


def tiny_config(**overrides) -> KimiK2Config:
    """A small config with every feature on (q_lora, yarn, groups, a dense first layer)."""
    values = dict(vocab_size=97, hidden_size=32, intermediate_size=48, moe_intermediate_size=16,
                  num_hidden_layers=3, num_attention_heads=4, num_key_value_heads=4, n_routed_experts=8,
                  num_experts_per_tok=3, n_group=2, topk_group=1, kv_lora_rank=16, q_lora_rank=24,
                  qk_rope_head_dim=8, qk_nope_head_dim=12, v_head_dim=10, max_position_embeddings=64,
                  routed_scaling_factor=2.827, rope_theta=50000.0,
                  rope_scaling={"type": "yarn", "factor": 4.0, "original_max_position_embeddings": 16,
                                "beta_fast": 1.0, "beta_slow": 1.0, "mscale": 1.0, "mscale_all_dim": 1.0})
    values.update(overrides)
    return KimiK2Config.tiny(**values)


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
