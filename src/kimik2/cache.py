"""The key/value cache used for decoding token by token (course lessons 74-75; used by lesson 58).

Each attention layer appends its new entries and reads back everything so far. Two layouts:
``expanded`` holds per-head keys (b, heads, t, qk_head_dim) and values (b, heads, t, v_head_dim),
as the remote code and transformers see them; ``latent`` holds what absorbed MLA attends over,
the normalised c_KV (b, 1, t, kv_lora_rank) and the rotated k_pe (b, 1, t, qk_rope_head_dim):
576 values per token per layer at Kimi-K2's sizes instead of 64 x (192 + 128) = 20480.
"""

from __future__ import annotations

import torch

CACHE_LAYOUTS = ("expanded", "latent")


class KVCache:
    """Per-layer pairs of tensors, grown along the sequence axis (dim 2)."""

    def __init__(self, layout: str = "expanded") -> None:
        if layout not in CACHE_LAYOUTS:
            raise ValueError(f"cache layout {layout!r}: choose one of {CACHE_LAYOUTS}")
        self.layout = layout
        self.keys: dict[int, torch.Tensor] = {}
        self.values: dict[int, torch.Tensor] = {}

    def get_seq_length(self, layer_idx: int = 0) -> int:
        """Number of positions already cached for ``layer_idx`` (0 when empty)."""
        # BEGIN SOLUTION lesson_74
        return self.keys[layer_idx].shape[2] if layer_idx in self.keys else 0
        # END SOLUTION

    def update(self, key: torch.Tensor, value: torch.Tensor, layer_idx: int) -> tuple[torch.Tensor, torch.Tensor]:
        """Append this step's pair for ``layer_idx`` (keys and values, or latent and k_pe);
        return all cached so far."""
        # BEGIN SOLUTION lesson_74
        if layer_idx in self.keys:
            key = torch.cat([self.keys[layer_idx], key], dim=2)
            value = torch.cat([self.values[layer_idx], value], dim=2)
        self.keys[layer_idx], self.values[layer_idx] = key, value
        return key, value
        # END SOLUTION

    def bytes_per_token(self) -> int:
        """Cache memory for one position of one sequence, summed over layers."""
        # BEGIN SOLUTION lesson_75
        return sum((self.keys[i][0, :, 0].numel() * self.keys[i].element_size()
                    + self.values[i][0, :, 0].numel() * self.values[i].element_size()) for i in self.keys)
        # END SOLUTION
