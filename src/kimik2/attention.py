"""Multi-head Latent Attention, laid out exactly as the Kimi-K2 checkpoint stores it
(course module 10).

Per head, queries and keys have qk_nope_head_dim + qk_rope_head_dim = 128 + 64 = 192 dims;
values have v_head_dim = 128. Keys and values are decompressed from one latent c_KV of
kv_lora_rank = 512 per token, and the 64 rope dims of the key (k_pe) are one vector per
token shared by all heads.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from .cache import KVCache
from .config import KimiK2Config
from .norm import DeepseekV3RMSNorm
from .rope import apply_rotary_pos_emb, build_rotary_embedding, yarn_get_mscale

ATTENTION_IMPLEMENTATIONS = ("sdpa", "eager")


def softmax_scale(config: KimiK2Config) -> float:
    """qk_head_dim^-0.5, times mscale(factor, mscale_all_dim)^2 when rope_scaling sets
    mscale_all_dim (Kimi-K2: 192^-0.5 * 1.3466^2 = 0.13086), applied at every length."""
    scale = config.qk_head_dim ** -0.5
    scaling = config.rope_scaling
    if scaling is not None and scaling.get("mscale_all_dim", 0):
        mscale = yarn_get_mscale(scaling["factor"], scaling["mscale_all_dim"])
        scale = scale * mscale * mscale
    return scale


def causal_mask(attention_mask: torch.Tensor | None, query_length: int, past_length: int,
                dtype: torch.dtype, device: torch.device) -> torch.Tensor | None:
    """Additive mask (b or 1, 1, q, past + q): 0 where a query may look, the dtype's minimum
    where it may not (the future, and padding where attention_mask is 0).

    Returns None when no padding is given and nothing is cached: plain causal attention.
    A query row with every key masked (a left-padding position) gets a uniform softmax,
    never NaN.
    """
    if attention_mask is None and past_length == 0:
        return None
    key_length = past_length + query_length
    query_positions = torch.arange(past_length, key_length, device=device)[:, None]   # (q, 1)
    key_positions = torch.arange(key_length, device=device)[None, :]                  # (1, kv)
    allowed = (key_positions <= query_positions)[None, None]                         # (1, 1, q, kv)
    if attention_mask is not None:
        if attention_mask.shape[-1] != key_length:
            raise ValueError(f"attention_mask covers {attention_mask.shape[-1]} positions, but the cache "
                             f"plus the input hold {key_length}: pass the mask for all of them")
        allowed = allowed & attention_mask[:, None, None, :].bool()                   # (b, 1, q, kv)
    mask = torch.zeros(allowed.shape, dtype=dtype, device=device)
    return mask.masked_fill(~allowed, torch.finfo(dtype).min)


class DeepseekV3Attention(nn.Module):
    """MLA with an eager path (explicit softmax) and an SDPA path (the default)."""

    def __init__(self, config: KimiK2Config, layer_idx: int | None = None) -> None:
        super().__init__()
        self.layer_idx = layer_idx
        self.attention_dropout = config.attention_dropout
        self.hidden_size = config.hidden_size
        self.num_heads = config.num_attention_heads
        self.q_lora_rank = config.q_lora_rank
        self.kv_lora_rank = config.kv_lora_rank
        self.qk_nope_head_dim = config.qk_nope_head_dim
        self.qk_rope_head_dim = config.qk_rope_head_dim
        self.v_head_dim = config.v_head_dim
        self.q_head_dim = config.qk_head_dim
        self.attn_implementation = "sdpa"

        if self.q_lora_rank is None:
            self.q_proj = nn.Linear(self.hidden_size, self.num_heads * self.q_head_dim, bias=False)
        else:
            self.q_a_proj = nn.Linear(self.hidden_size, self.q_lora_rank, bias=config.attention_bias)
            self.q_a_layernorm = DeepseekV3RMSNorm(self.q_lora_rank)  # eps 1e-6, not rms_norm_eps
            self.q_b_proj = nn.Linear(self.q_lora_rank, self.num_heads * self.q_head_dim, bias=False)
        self.kv_a_proj_with_mqa = nn.Linear(self.hidden_size, self.kv_lora_rank + self.qk_rope_head_dim,
                                            bias=config.attention_bias)
        self.kv_a_layernorm = DeepseekV3RMSNorm(self.kv_lora_rank)  # eps 1e-6, latent only
        self.kv_b_proj = nn.Linear(self.kv_lora_rank,
                                   self.num_heads * (self.qk_nope_head_dim + self.v_head_dim), bias=False)
        self.o_proj = nn.Linear(self.num_heads * self.v_head_dim, self.hidden_size, bias=config.attention_bias)
        self.rotary_emb = build_rotary_embedding(config)
        self.softmax_scale = softmax_scale(config)

    def project_queries(self, hidden_states: torch.Tensor) -> torch.Tensor:
        """(b, s, H) -> (b, heads, s, qk_head_dim), each head laid out [q_nope | q_pe]."""
        batch, seq_len, _ = hidden_states.shape
        if self.q_lora_rank is None:
            q = self.q_proj(hidden_states)
        else:
            q = self.q_b_proj(self.q_a_layernorm(self.q_a_proj(hidden_states)))  # via (b, s, q_lora_rank)
        return q.view(batch, seq_len, self.num_heads, self.q_head_dim).transpose(1, 2)

    def project_latent(self, hidden_states: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(b, s, H) -> normalised latent c_KV (b, s, kv_lora_rank) and k_pe (b, 1, s, rope_dim)."""
        batch, seq_len, _ = hidden_states.shape
        compressed_kv, k_pe = self.kv_a_proj_with_mqa(hidden_states).split(
            [self.kv_lora_rank, self.qk_rope_head_dim], dim=-1)
        k_pe = k_pe.view(batch, seq_len, 1, self.qk_rope_head_dim).transpose(1, 2)
        return self.kv_a_layernorm(compressed_kv), k_pe

    def expand_latent(self, compressed_kv: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """c_KV (b, s, kv_lora_rank) -> k_nope (b, heads, s, nope) and value (b, heads, s, v)."""
        batch, seq_len, _ = compressed_kv.shape
        kv = self.kv_b_proj(compressed_kv).view(batch, seq_len, self.num_heads,
                                                self.qk_nope_head_dim + self.v_head_dim).transpose(1, 2)
        return kv.split([self.qk_nope_head_dim, self.v_head_dim], dim=-1)

    def attend(self, query: torch.Tensor, key: torch.Tensor, value: torch.Tensor,
               attention_mask: torch.Tensor | None) -> torch.Tensor:
        """softmax(q k^T * scale + mask) v: (b, h, q, 192), (b, h, kv, 192), (b, h, kv, 128) -> (b, h, q, 128)."""
        dropout = self.attention_dropout if self.training else 0.0
        if self.attn_implementation == "sdpa":
            return F.scaled_dot_product_attention(query, key, value, attn_mask=attention_mask, dropout_p=dropout,
                                                  is_causal=attention_mask is None, scale=self.softmax_scale)
        scores = torch.matmul(query, key.transpose(2, 3)) * self.softmax_scale       # (b, h, q, kv)
        if attention_mask is None:  # plain causal: nothing cached, no padding (see forward)
            attention_mask = torch.full(scores.shape[-2:], torch.finfo(scores.dtype).min,
                                        dtype=scores.dtype, device=scores.device).triu(1)
        probs = F.softmax(scores + attention_mask, dim=-1, dtype=torch.float32).to(query.dtype)
        probs = F.dropout(probs, p=dropout, training=self.training)
        return torch.matmul(probs, value)

    def forward(self, hidden_states: torch.Tensor, attention_mask: torch.Tensor | None = None,
                position_ids: torch.Tensor | None = None, past_key_value: KVCache | None = None) -> torch.Tensor:
        """(b, s, H) -> (b, s, H). attention_mask is the additive 4-D mask of :func:`causal_mask`."""
        batch, seq_len, _ = hidden_states.shape
        past_length = past_key_value.get_seq_length(self.layer_idx) if past_key_value is not None else 0
        if position_ids is None:
            position_ids = torch.arange(past_length, past_length + seq_len, device=hidden_states.device)[None]
        if attention_mask is None:  # still None afterwards only when nothing is cached
            attention_mask = causal_mask(None, seq_len, past_length, hidden_states.dtype, hidden_states.device)

        q_nope, q_pe = self.project_queries(hidden_states).split([self.qk_nope_head_dim, self.qk_rope_head_dim], dim=-1)
        compressed_kv, k_pe = self.project_latent(hidden_states)
        k_nope, value = self.expand_latent(compressed_kv)

        table_length = max(past_length + seq_len, int(position_ids.max()) + 1)
        cos, sin = self.rotary_emb(value, seq_len=table_length)
        q_pe, k_pe = apply_rotary_pos_emb(q_pe, k_pe, cos, sin, position_ids)

        query = torch.cat([q_nope, q_pe], dim=-1)                                      # (b, h, s, 192)
        key = torch.cat([k_nope, k_pe.expand(-1, self.num_heads, -1, -1)], dim=-1)     # (b, h, s, 192)
        if past_key_value is not None:
            key, value = past_key_value.update(key, value, self.layer_idx)            # (b, h, t, .)

        attn_output = self.attend(query, key, value, attention_mask)                  # (b, h, s, 128)
        attn_output = attn_output.transpose(1, 2).reshape(batch, seq_len, self.num_heads * self.v_head_dim)
        return self.o_proj(attn_output)
