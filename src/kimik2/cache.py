"""The key/value cache used for decoding token by token (course module 14).

Each attention layer appends its new keys and values and reads back everything so far.
This cache holds the expanded per-head keys (b, heads, t, qk_head_dim) and values
(b, heads, t, v_head_dim), as the remote code and transformers' eager path see them.
"""

from __future__ import annotations

import torch


class KVCache:
    """Per-layer keys and values, grown along the sequence axis (dim 2)."""

    def __init__(self) -> None:
        self.keys: dict[int, torch.Tensor] = {}
        self.values: dict[int, torch.Tensor] = {}

    def get_seq_length(self, layer_idx: int = 0) -> int:
        """Number of positions already cached for ``layer_idx`` (0 when empty)."""
        return self.keys[layer_idx].shape[2] if layer_idx in self.keys else 0

    def update(self, key: torch.Tensor, value: torch.Tensor, layer_idx: int) -> tuple[torch.Tensor, torch.Tensor]:
        """Append this step's key/value for ``layer_idx``; return all cached so far."""
        if layer_idx in self.keys:
            key = torch.cat([self.keys[layer_idx], key], dim=2)
            value = torch.cat([self.values[layer_idx], value], dim=2)
        self.keys[layer_idx], self.values[layer_idx] = key, value
        return key, value

    def bytes_per_token(self) -> int:
        """Cache memory for one position of one sequence, summed over layers."""
        return sum((self.keys[i][0, :, 0].numel() * self.keys[i].element_size()
                    + self.values[i][0, :, 0].numel() * self.values[i].element_size()) for i in self.keys)
