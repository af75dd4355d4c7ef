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
MLA_MODES = ("expanded", "absorbed")


def softmax_scale(config: KimiK2Config) -> float:
    """qk_head_dim^-0.5, times mscale(factor, mscale_all_dim)^2 when rope_scaling sets
    mscale_all_dim (Kimi-K2: 192^-0.5 * 1.3466^2 = 0.13086), applied at every length."""
    # BEGIN SOLUTION lesson_54
    scale = config.qk_head_dim ** -0.5
    scaling = config.rope_scaling
    if scaling is not None and scaling.get("mscale_all_dim", 0):
        mscale = yarn_get_mscale(scaling["factor"], scaling["mscale_all_dim"])
        scale = scale * mscale * mscale
    return scale
    # END SOLUTION


def causal_mask(attention_mask: torch.Tensor | None, query_length: int, past_length: int,
                dtype: torch.dtype, device: torch.device) -> torch.Tensor | None:
    """Additive mask (b or 1, 1, q, past + q): 0 where a query may look, the dtype's minimum
    where it may not (the future, and padding where attention_mask is 0).

    Returns None when no padding is given and nothing is cached: plain causal attention.
    A query row with every key masked (a left-padding position) gets a uniform softmax,
    never NaN.
    """
    # BEGIN SOLUTION lesson_56
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
    # END SOLUTION


class DeepseekV3Attention(nn.Module):
    """MLA with an eager path (explicit softmax) and an SDPA path (the default), each either
    expanded (per-head keys and values, as the checkpoint's code computes them) or absorbed
    (attention over the 576-value latent itself; lesson 58).

    With ``track_max_logit`` set, every training-mode forward records each head's largest scaled
    logit in ``max_logit`` (the running maximum until reset to None): QK-Clip reads it (module 16).
    """

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
        self.mla_mode = "expanded"
        self.track_max_logit = False
        self.max_logit: torch.Tensor | None = None

        # BEGIN SOLUTION lesson_51
        if self.q_lora_rank is None:
            self.q_proj = nn.Linear(self.hidden_size, self.num_heads * self.q_head_dim, bias=False)
        else:
            self.q_a_proj = nn.Linear(self.hidden_size, self.q_lora_rank, bias=config.attention_bias)
            self.q_a_layernorm = DeepseekV3RMSNorm(self.q_lora_rank)  # eps 1e-6, not rms_norm_eps
            self.q_b_proj = nn.Linear(self.q_lora_rank, self.num_heads * self.q_head_dim, bias=False)
        # END SOLUTION
        # BEGIN SOLUTION lesson_52
        self.kv_a_proj_with_mqa = nn.Linear(self.hidden_size, self.kv_lora_rank + self.qk_rope_head_dim,
                                            bias=config.attention_bias)
        self.kv_a_layernorm = DeepseekV3RMSNorm(self.kv_lora_rank)  # eps 1e-6, latent only
        self.kv_b_proj = nn.Linear(self.kv_lora_rank,
                                   self.num_heads * (self.qk_nope_head_dim + self.v_head_dim), bias=False)
        # END SOLUTION
        # BEGIN SOLUTION lesson_55
        self.o_proj = nn.Linear(self.num_heads * self.v_head_dim, self.hidden_size, bias=config.attention_bias)
        # END SOLUTION
        # BEGIN SOLUTION lesson_53
        self.rotary_emb = build_rotary_embedding(config)
        # END SOLUTION
        # BEGIN SOLUTION lesson_54
        self.softmax_scale = softmax_scale(config)
        # END SOLUTION

    @property
    def cache_layout(self) -> str:
        """The KVCache layout this attention reads and writes: 'latent' when absorbed."""
        # BEGIN SOLUTION lesson_75
        return "latent" if self.mla_mode == "absorbed" else "expanded"
        # END SOLUTION

    @property
    def records_max_logit(self) -> bool:
        """Whether a forward now folds its logits into ``max_logit``: tracking is on and the layer
        is in training mode (QK-Clip watches training forwards only; evaluation never counts)."""
        return self.track_max_logit and self.training

    def project_queries(self, hidden_states: torch.Tensor) -> torch.Tensor:
        """(b, s, H) -> (b, heads, s, qk_head_dim), each head laid out [q_nope | q_pe]."""
        # BEGIN SOLUTION lesson_51
        batch, seq_len, _ = hidden_states.shape
        if self.q_lora_rank is None:
            q = self.q_proj(hidden_states)
        else:
            q = self.q_b_proj(self.q_a_layernorm(self.q_a_proj(hidden_states)))  # via (b, s, q_lora_rank)
        return q.view(batch, seq_len, self.num_heads, self.q_head_dim).transpose(1, 2)
        # END SOLUTION

    def project_latent(self, hidden_states: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(b, s, H) -> normalised latent c_KV (b, s, kv_lora_rank) and k_pe (b, 1, s, rope_dim)."""
        # BEGIN SOLUTION lesson_52
        batch, seq_len, _ = hidden_states.shape
        compressed_kv, k_pe = self.kv_a_proj_with_mqa(hidden_states).split(
            [self.kv_lora_rank, self.qk_rope_head_dim], dim=-1)
        k_pe = k_pe.view(batch, seq_len, 1, self.qk_rope_head_dim).transpose(1, 2)
        return self.kv_a_layernorm(compressed_kv), k_pe
        # END SOLUTION

    def expand_latent(self, compressed_kv: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """c_KV (b, s, kv_lora_rank) -> k_nope (b, heads, s, nope) and value (b, heads, s, v)."""
        # BEGIN SOLUTION lesson_52
        batch, seq_len, _ = compressed_kv.shape
        kv = self.kv_b_proj(compressed_kv).view(batch, seq_len, self.num_heads,
                                                self.qk_nope_head_dim + self.v_head_dim).transpose(1, 2)
        return kv.split([self.qk_nope_head_dim, self.v_head_dim], dim=-1)
        # END SOLUTION

    def apply_decoupled_rope(self, q_pe: torch.Tensor, k_pe: torch.Tensor, position_ids: torch.Tensor,
                             past_length: int) -> tuple[torch.Tensor, torch.Tensor]:
        """Rotate every head's q_pe (b, h, s, rope) and the one shared k_pe (b, 1, s, rope) by their
        positions; the nope parts never see a rotation."""
        # BEGIN SOLUTION lesson_53
        needed = max(past_length + q_pe.shape[2], int(position_ids.max()) + 1)
        # ask for the next power of two (never past max_position_embeddings, where dynamic NTK's table
        # depends on the length): decoding then rebuilds the table log2(t) times, not at every step
        limit = self.rotary_emb.max_position_embeddings
        table_length = needed if needed >= limit else min(limit, 1 << (needed - 1).bit_length())
        cos, sin = self.rotary_emb(q_pe, seq_len=table_length)
        return apply_rotary_pos_emb(q_pe, k_pe, cos, sin, position_ids)
        # END SOLUTION

    def attend(self, query: torch.Tensor, key: torch.Tensor, value: torch.Tensor,
               attention_mask: torch.Tensor | None) -> torch.Tensor:
        """softmax(q k^T * scale + mask) v: (b, h, q, d), (b, h or 1, kv, d), (b, h or 1, kv, dv)
        -> (b, h, q, dv); expanded MLA has d = 192, dv = 128 (absorbed MLA has its own, attend_absorbed)."""
        if self.records_max_logit:
            self.record_max_logit(query, key, attention_mask)
        # BEGIN SOLUTION lesson_57
        dropout = self.attention_dropout if self.training else 0.0
        if self.attn_implementation == "sdpa":
            return F.scaled_dot_product_attention(query, key, value, attn_mask=attention_mask, dropout_p=dropout,
                                                  is_causal=attention_mask is None, scale=self.softmax_scale,
                                                  enable_gqa=key.shape[1] != query.shape[1])
        scores = torch.matmul(query, key.transpose(2, 3)) * self.softmax_scale       # (b, h, q, kv)
        return torch.matmul(self.attention_probabilities(scores, attention_mask), value)
        # END SOLUTION

    def attention_probabilities(self, scores: torch.Tensor, attention_mask: torch.Tensor | None) -> torch.Tensor:
        """Scaled logits (b, h, q, kv) -> attention weights: mask added, softmax in float32, dropout
        while training. The eager path of :meth:`attend` and :meth:`attend_absorbed` share it."""
        # BEGIN SOLUTION lesson_57
        if attention_mask is None:  # plain causal: nothing cached, no padding (see forward)
            attention_mask = torch.full(scores.shape[-2:], torch.finfo(scores.dtype).min,
                                        dtype=scores.dtype, device=scores.device).triu(1)
        probs = F.softmax(scores + attention_mask, dim=-1, dtype=torch.float32).to(scores.dtype)
        return F.dropout(probs, p=self.attention_dropout, training=self.training)
        # END SOLUTION

    def attend_absorbed(self, q_nope: torch.Tensor, q_pe: torch.Tensor, latent: torch.Tensor,
                        k_pe: torch.Tensor, attention_mask: torch.Tensor | None) -> torch.Tensor:
        """Attention straight against the latent: W^UK folded into the query, W^UV applied after.

        q_nope (b, h, s, nope), q_pe (b, h, s, rope), latent (b, 1, t, kv_lora_rank), k_pe
        (b, 1, t, rope) -> (b, h, s, v_head_dim). Equal to the expanded path up to rounding.
        """
        # BEGIN SOLUTION lesson_58
        kv_b = self.kv_b_proj.weight.view(self.num_heads, self.qk_nope_head_dim + self.v_head_dim,
                                          self.kv_lora_rank)
        w_uk, w_uv = kv_b.split([self.qk_nope_head_dim, self.v_head_dim], dim=1)      # (h, nope, r), (h, v, r)
        q_latent = torch.einsum("bhsd,hdr->bhsr", q_nope, w_uk)                       # (b, h, s, r)
        latent, k_pe = latent.squeeze(1), k_pe.squeeze(1)                             # (b, t, r), (b, t, rope)
        if self.records_max_logit:
            self.record_max_logit(torch.cat([q_latent, q_pe], dim=-1), torch.cat([latent, k_pe], dim=-1)[:, None],
                                  attention_mask)
        # [q_latent | q_pe] . [c_KV | k_pe] as two products; einsum folds (h, s) into one axis, so the
        # one shared key head is read once and never copied per head
        scores = (torch.einsum("bhsr,btr->bhst", q_latent, latent)
                  + torch.einsum("bhsp,btp->bhst", q_pe, k_pe)) * self.softmax_scale     # (b, h, s, t)
        probs = self.attention_probabilities(scores, attention_mask)
        context = torch.einsum("bhst,btr->bhsr", probs, latent)                       # (b, h, s, r)
        return torch.einsum("bhsr,hvr->bhsv", context, w_uv)                          # (b, h, s, v)
        # END SOLUTION

    @torch.no_grad()
    def record_max_logit(self, query: torch.Tensor, key: torch.Tensor, attention_mask: torch.Tensor | None) -> None:
        """Fold this forward's largest scaled logit per head, over batch, queries and visible keys,
        into ``max_logit`` (heads,)."""
        # BEGIN SOLUTION lesson_91
        logits = torch.matmul(query.float(), key.float().transpose(2, 3))             # (b, h, q, kv), unscaled
        if attention_mask is None:
            hidden = torch.ones(logits.shape[-2:], dtype=torch.bool, device=logits.device).triu(1)
        else:
            hidden = attention_mask < 0
        # scale > 0 commutes with max: scale the (h,) maxima, not every logit
        current = logits.masked_fill_(hidden, float("-inf")).amax(dim=(0, 2, 3)) * self.softmax_scale  # (h,)
        self.max_logit = current if self.max_logit is None else torch.maximum(self.max_logit, current)
        # END SOLUTION

    def forward(self, hidden_states: torch.Tensor, attention_mask: torch.Tensor | None = None,
                position_ids: torch.Tensor | None = None, past_key_value: KVCache | None = None) -> torch.Tensor:
        """(b, s, H) -> (b, s, H). attention_mask is the additive 4-D mask of :func:`causal_mask`."""
        if past_key_value is not None and past_key_value.layout != self.cache_layout:
            raise ValueError(f"this cache holds {past_key_value.layout} entries but the attention runs in "
                             f"{self.mla_mode} mode: build the cache with KVCache(layout={self.cache_layout!r})")
        # BEGIN SOLUTION lesson_55
        batch, seq_len, _ = hidden_states.shape
        past_length = past_key_value.get_seq_length(self.layer_idx) if past_key_value is not None else 0
        if position_ids is None:
            position_ids = torch.arange(past_length, past_length + seq_len, device=hidden_states.device)[None]
        if attention_mask is None:  # still None afterwards only when nothing is cached
            attention_mask = causal_mask(None, seq_len, past_length, hidden_states.dtype, hidden_states.device)

        q_nope, q_pe = self.project_queries(hidden_states).split([self.qk_nope_head_dim, self.qk_rope_head_dim], dim=-1)
        compressed_kv, k_pe = self.project_latent(hidden_states)
        q_pe, k_pe = self.apply_decoupled_rope(q_pe, k_pe, position_ids, past_length)

        if self.mla_mode == "absorbed":
            latent = compressed_kv.unsqueeze(1)                                        # (b, 1, s, r)
            if past_key_value is not None:
                latent, k_pe = past_key_value.update(latent, k_pe, self.layer_idx)     # (b, 1, t, .)
            attn_output = self.attend_absorbed(q_nope, q_pe, latent, k_pe, attention_mask)
        else:
            k_nope, value = self.expand_latent(compressed_kv)
            query = torch.cat([q_nope, q_pe], dim=-1)                                  # (b, h, s, 192)
            key = torch.cat([k_nope, k_pe.expand(-1, self.num_heads, -1, -1)], dim=-1) # (b, h, s, 192)
            if past_key_value is not None:
                key, value = past_key_value.update(key, value, self.layer_idx)         # (b, h, t, .)
            attn_output = self.attend(query, key, value, attention_mask)               # (b, h, s, 128)
        attn_output = attn_output.transpose(1, 2).reshape(batch, seq_len, self.num_heads * self.v_head_dim)
        return self.o_proj(attn_output)
        # END SOLUTION
