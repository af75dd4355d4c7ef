"""Rotary position embeddings: standard, linear, dynamic NTK and YaRN (course modules 04-05).

Every class hands out ``cos`` and ``sin`` tables of shape (seq_len, dim) with
``dim = qk_rope_head_dim`` (64 for Kimi-K2, not hidden_size / num_heads), built as
``concat(freqs, freqs)`` so that :func:`rotate_half` can pair dimension i with i + dim/2.
The tables are cached and rebuilt when a longer sequence arrives.
"""

from __future__ import annotations

import math

import torch
from torch import nn

from .config import KimiK2Config


class DeepseekV3RotaryEmbedding(nn.Module):
    """Plain RoPE: pair i turns by angle ``position * base^(-2i/dim)`` (lessons 09-11)."""

    def __init__(self, dim: int, max_position_embeddings: int = 2048, base: float = 10000.0,
                 device: torch.device | None = None) -> None:
        super().__init__()
        # BEGIN SOLUTION lesson_09
        self.dim = dim
        self.max_position_embeddings = max_position_embeddings
        self.base = base
        self.register_buffer("inv_freq", self._inv_freq(base, device), persistent=False)  # (dim/2,)
        self.attention_scaling = 1.0  # factor on cos and sin (YaRN's mscale ratio; 1 for plain RoPE)
        self.max_seq_len_cached = 0
        # END SOLUTION

    def _inv_freq(self, base: float, device: torch.device | None = None) -> torch.Tensor:
        """theta_i = base^(-2i/dim) for i = 0 .. dim/2 - 1, in float32."""
        # BEGIN SOLUTION lesson_09
        exponents = torch.arange(0, self.dim, 2, dtype=torch.int64).to(device=device, dtype=torch.float32)
        return 1.0 / (base ** (exponents / self.dim))
        # END SOLUTION

    def _positions(self, seq_len: int, device: torch.device | None) -> torch.Tensor:
        """The positions the table is built for: 0, 1, ..., seq_len - 1."""
        # BEGIN SOLUTION lesson_10
        return torch.arange(seq_len, device=device, dtype=torch.float32)
        # END SOLUTION

    def _set_cos_sin_cache(self, seq_len: int, device: torch.device | None) -> None:
        """Build cos/sin tables for positions 0 .. seq_len - 1 (float32, scaled by attention_scaling)."""
        # BEGIN SOLUTION lesson_10
        self.max_seq_len_cached = seq_len
        freqs = torch.outer(self._positions(seq_len, device), self.inv_freq.to(device))  # (seq_len, dim/2)
        emb = torch.cat((freqs, freqs), dim=-1)                                            # (seq_len, dim)
        self.register_buffer("cos_cached", emb.cos() * self.attention_scaling, persistent=False)
        self.register_buffer("sin_cached", emb.sin() * self.attention_scaling, persistent=False)
        # END SOLUTION

    def forward(self, x: torch.Tensor, seq_len: int) -> tuple[torch.Tensor, torch.Tensor]:
        """cos and sin for positions 0 .. seq_len - 1, each (seq_len, dim), in x's dtype."""
        # BEGIN SOLUTION lesson_11
        if seq_len > self.max_seq_len_cached:
            self._set_cos_sin_cache(seq_len, x.device)
        return self.cos_cached[:seq_len].to(x.dtype), self.sin_cached[:seq_len].to(x.dtype)
        # END SOLUTION


class DeepseekV3LinearScalingRotaryEmbedding(DeepseekV3RotaryEmbedding):
    """Position interpolation: position p is rotated as if it were p / factor (lessons 12-14)."""

    def __init__(self, dim: int, max_position_embeddings: int = 2048, base: float = 10000.0,
                 device: torch.device | None = None, scaling_factor: float = 1.0) -> None:
        super().__init__(dim, max_position_embeddings, base, device)
        # BEGIN SOLUTION lesson_12
        self.scaling_factor = scaling_factor
        # END SOLUTION

    def _positions(self, seq_len: int, device: torch.device | None) -> torch.Tensor:
        """Positions 0 .. seq_len - 1 squeezed by the factor: 0, 1/factor, 2/factor, ..."""
        # BEGIN SOLUTION lesson_13
        return super()._positions(seq_len, device) / self.scaling_factor
        # END SOLUTION


class DeepseekV3DynamicNTKScalingRotaryEmbedding(DeepseekV3RotaryEmbedding):
    """Dynamic NTK: past max_position_embeddings, raise the base so the slowest pair
    still fits the sequence (lessons 15-17)."""

    def __init__(self, dim: int, max_position_embeddings: int = 2048, base: float = 10000.0,
                 device: torch.device | None = None, scaling_factor: float = 1.0) -> None:
        super().__init__(dim, max_position_embeddings, base, device)
        # BEGIN SOLUTION lesson_15
        self.scaling_factor = scaling_factor
        # END SOLUTION

    def _set_cos_sin_cache(self, seq_len: int, device: torch.device | None) -> None:
        """Past max_position_embeddings: base' = base * (s * L / L_max - (s - 1))^(dim / (dim - 2))."""
        # BEGIN SOLUTION lesson_16
        if seq_len > self.max_position_embeddings:
            ratio = self.scaling_factor * seq_len / self.max_position_embeddings - (self.scaling_factor - 1)
            base = self.base * ratio ** (self.dim / (self.dim - 2))
            self.inv_freq = self._inv_freq(base, device)
        super()._set_cos_sin_cache(seq_len, device)
        # END SOLUTION

    def forward(self, x: torch.Tensor, seq_len: int) -> tuple[torch.Tensor, torch.Tensor]:
        """Grow the table as the base class does; when a sequence fits max_position_embeddings
        again after a longer one, go back to the original base (as transformers does), so a
        short input never depends on what came before."""
        # BEGIN SOLUTION lesson_17
        if seq_len <= self.max_position_embeddings < self.max_seq_len_cached:
            self.inv_freq = self._inv_freq(self.base, x.device)
            self._set_cos_sin_cache(self.max_position_embeddings, x.device)
        return super().forward(x, seq_len)
        # END SOLUTION


def yarn_find_correction_dim(num_rotations: float, dim: int, base: float = 10000.0,
                             max_position_embeddings: int = 2048) -> float:
    """The (fractional) pair index whose wavelength fits ``num_rotations`` times into
    max_position_embeddings: solve L / (2*pi*base^(2i/dim)) = num_rotations for i."""
    # BEGIN SOLUTION lesson_19
    return (dim * math.log(max_position_embeddings / (num_rotations * 2 * math.pi))) / (2 * math.log(base))
    # END SOLUTION


def yarn_find_correction_range(low_rot: float, high_rot: float, dim: int, base: float = 10000.0,
                               max_position_embeddings: int = 2048) -> tuple[int, int]:
    """Pair indices (low, high) between which YaRN blends; called with (beta_fast, beta_slow)."""
    # BEGIN SOLUTION lesson_20
    low = math.floor(yarn_find_correction_dim(low_rot, dim, base, max_position_embeddings))
    high = math.ceil(yarn_find_correction_dim(high_rot, dim, base, max_position_embeddings))
    return max(low, 0), min(high, dim - 1)
    # END SOLUTION


def yarn_get_mscale(scale: float = 1.0, mscale: float = 1.0) -> float:
    """YaRN's attention temperature: 0.1 * mscale * ln(scale) + 1 (1 when scale <= 1)."""
    # BEGIN SOLUTION lesson_21
    if scale <= 1:
        return 1.0
    return 0.1 * mscale * math.log(scale) + 1.0
    # END SOLUTION


def yarn_linear_ramp_mask(low: float, high: float, dim: int) -> torch.Tensor:
    """0 up to ``low``, 1 from ``high`` on, linear in between; shape (dim,), float32."""
    # BEGIN SOLUTION lesson_22
    if low == high:
        high += 0.001  # avoid dividing by zero when the ramp collapses to a step
    ramp = (torch.arange(dim, dtype=torch.float32) - low) / (high - low)
    return torch.clamp(ramp, 0, 1)
    # END SOLUTION


class DeepseekV3YarnRotaryEmbedding(DeepseekV3RotaryEmbedding):
    """YaRN: keep fast pairs (extrapolate), divide slow pairs by ``factor`` (interpolate),
    blend in between; cos and sin carry mscale(factor, mscale) / mscale(factor, mscale_all_dim)
    (course module 05)."""

    def __init__(self, dim: int, max_position_embeddings: int = 2048, base: float = 10000.0,
                 device: torch.device | None = None, scaling_factor: float = 1.0,
                 original_max_position_embeddings: int = 4096, beta_fast: float = 32.0,
                 beta_slow: float = 1.0, mscale: float = 1.0, mscale_all_dim: float = 0.0) -> None:
        super().__init__(dim, max_position_embeddings, base, device)
        # BEGIN SOLUTION lesson_23
        self.scaling_factor = scaling_factor
        self.original_max_position_embeddings = original_max_position_embeddings
        self.beta_fast = beta_fast
        self.beta_slow = beta_slow
        self.mscale = mscale
        self.mscale_all_dim = mscale_all_dim
        self.inv_freq = self._yarn_inv_freq(device)
        self.attention_scaling = yarn_get_mscale(scaling_factor, mscale) / yarn_get_mscale(scaling_factor, mscale_all_dim)
        # END SOLUTION

    def _yarn_inv_freq(self, device: torch.device | None) -> torch.Tensor:
        """Per-pair frequencies the cos/sin table is built from: original below ``low``,
        divided by the factor above ``high``, blended by the ramp in between."""
        # BEGIN SOLUTION lesson_24
        freq_extra = self._inv_freq(self.base, device)          # (dim/2,) original frequencies
        freq_inter = freq_extra / self.scaling_factor            # interpolated frequencies
        low, high = yarn_find_correction_range(self.beta_fast, self.beta_slow, self.dim, self.base,
                                               self.original_max_position_embeddings)
        extrapolate = 1.0 - yarn_linear_ramp_mask(low, high, self.dim // 2).to(device)  # 1 = keep
        return freq_inter * (1 - extrapolate) + freq_extra * extrapolate
        # END SOLUTION


def build_rotary_embedding(config: KimiK2Config) -> DeepseekV3RotaryEmbedding:
    """Pick the RoPE class from ``config.rope_scaling`` (lesson 18); dim = qk_rope_head_dim."""
    # BEGIN SOLUTION lesson_18
    common = dict(dim=config.qk_rope_head_dim, max_position_embeddings=config.max_position_embeddings,
                  base=config.rope_theta)
    scaling = config.rope_scaling
    if scaling is None:
        return DeepseekV3RotaryEmbedding(**common)
    if scaling["type"] == "linear":
        return DeepseekV3LinearScalingRotaryEmbedding(**common, scaling_factor=scaling["factor"])
    if scaling["type"] == "dynamic":
        return DeepseekV3DynamicNTKScalingRotaryEmbedding(**common, scaling_factor=scaling["factor"])
    yarn_keys = ("original_max_position_embeddings", "beta_fast", "beta_slow", "mscale", "mscale_all_dim")
    return DeepseekV3YarnRotaryEmbedding(**common, scaling_factor=scaling["factor"],
                                         **{key: scaling[key] for key in yarn_keys if key in scaling})
    # END SOLUTION


def rotate_half(x: torch.Tensor) -> torch.Tensor:
    """(x1, x2) -> (-x2, x1) over the two halves of the last dimension."""
    # BEGIN SOLUTION lesson_25
    x1 = x[..., : x.shape[-1] // 2]
    x2 = x[..., x.shape[-1] // 2:]
    return torch.cat((-x2, x1), dim=-1)
    # END SOLUTION


def deinterleave(x: torch.Tensor) -> torch.Tensor:
    """(x0, x1, x2, x3, ...) -> (x0, x2, ..., x1, x3, ...): the checkpoint's interleaved pairs
    become [evens | odds] so that rotate_half pairs the right dimensions."""
    # BEGIN SOLUTION lesson_26
    *batch, dim = x.shape
    return x.view(*batch, dim // 2, 2).transpose(-1, -2).reshape(*batch, dim)
    # END SOLUTION


def apply_rotary_pos_emb(q: torch.Tensor, k: torch.Tensor, cos: torch.Tensor, sin: torch.Tensor,
                         position_ids: torch.Tensor, unsqueeze_dim: int = 1) -> tuple[torch.Tensor, torch.Tensor]:
    """Rotate q (b, h, s, d) and k (b, 1 or h, s, d) to their positions (course module 05).

    cos/sin are (max_pos, d) tables indexed by position_ids (b, s). The outputs stay in
    the de-interleaved order; q and k share it, so q . k is unchanged.
    """
    # BEGIN SOLUTION lesson_26
    cos = cos[position_ids].unsqueeze(unsqueeze_dim)  # (b, 1, s, d)
    sin = sin[position_ids].unsqueeze(unsqueeze_dim)
    q, k = deinterleave(q), deinterleave(k)
    q_embed = (q * cos) + (rotate_half(q) * sin)
    k_embed = (k * cos) + (rotate_half(k) * sin)
    return q_embed, k_embed
    # END SOLUTION
