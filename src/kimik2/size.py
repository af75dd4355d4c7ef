"""Parameter counts and KV-cache sizes from the config alone (course module 06).

``total`` counts every parameter; ``active`` counts what one token touches: embeddings,
lm_head, all attention and norms, the dense MLPs, the gates, the shared experts and
num_experts_per_tok routed experts per MoE layer. The e_score_correction_bias counts as
a gate parameter (it is a stored parameter of the checkpoint).
"""

from __future__ import annotations

from .config import KimiK2Config


def attention_parameters(config: KimiK2Config) -> int:
    """One MLA block: query path, latent key/value path with its norm, and o_proj."""
    # BEGIN SOLUTION lesson_31
    heads, hidden = config.num_attention_heads, config.hidden_size
    bias = config.attention_bias
    if config.q_lora_rank is None:
        query = hidden * heads * config.qk_head_dim
    else:
        query = (hidden * config.q_lora_rank + bias * config.q_lora_rank   # q_a_proj
                 + config.q_lora_rank                                       # q_a_layernorm
                 + config.q_lora_rank * heads * config.qk_head_dim)         # q_b_proj
    latent = config.kv_lora_rank + config.qk_rope_head_dim
    key_value = (hidden * latent + bias * latent                            # kv_a_proj_with_mqa
                 + config.kv_lora_rank                                      # kv_a_layernorm
                 + config.kv_lora_rank * heads * (config.qk_nope_head_dim + config.v_head_dim))  # kv_b_proj
    output = heads * config.v_head_dim * hidden + bias * hidden             # o_proj
    return query + key_value + output
    # END SOLUTION


def mlp_parameters(hidden_size: int, intermediate_size: int) -> int:
    """gate_proj, up_proj and down_proj of one SwiGLU block."""
    # BEGIN SOLUTION lesson_31
    return 3 * hidden_size * intermediate_size
    # END SOLUTION


def count_parameters(config: KimiK2Config) -> dict[str, int]:
    """{"total": ..., "active": ...} for the main model (MTP layers excluded)."""
    # BEGIN SOLUTION lesson_02
    hidden = config.hidden_size
    expert = mlp_parameters(hidden, config.moe_intermediate_size)
    embeddings = config.vocab_size * hidden * (1 if config.tie_word_embeddings else 2)
    total = active = embeddings + hidden  # + the final norm
    for layer_idx in range(config.num_hidden_layers):
        shared = attention_parameters(config) + 2 * hidden  # + input and post-attention norms
        if config.is_moe_layer(layer_idx):
            gate = config.n_routed_experts * hidden + (config.n_routed_experts if config.topk_method == "noaux_tc" else 0)
            shared += gate + (config.n_shared_experts or 0) * expert
            total += shared + config.n_routed_experts * expert
            active += shared + config.num_experts_per_tok * expert
        else:
            dense = mlp_parameters(hidden, config.intermediate_size)
            total += shared + dense
            active += shared + dense
    return {"total": total, "active": active}
    # END SOLUTION


def kv_cache_values_per_token(config: KimiK2Config) -> dict[str, int]:
    """Values cached per token per layer: the MLA latent (c_KV + k_pe) vs expanded K and V."""
    # BEGIN SOLUTION lesson_80
    heads = config.num_attention_heads
    return {"latent": config.kv_lora_rank + config.qk_rope_head_dim,
            "expanded": heads * (config.qk_head_dim + config.v_head_dim)}
    # END SOLUTION


def weight_bytes(config: KimiK2Config, bytes_per_parameter: float = 2.0) -> int:
    """Memory to hold every parameter: 2 bytes each in bf16, 1 in FP8 (block scales not included)."""
    # BEGIN SOLUTION lesson_32
    return int(count_parameters(config)["total"] * bytes_per_parameter)
    # END SOLUTION


def kv_cache_bytes(config: KimiK2Config, tokens: int, bytes_per_value: float = 2.0, latent: bool = True) -> int:
    """Cache memory for ``tokens`` positions of one sequence over all layers: the MLA latent
    (kv_lora_rank + qk_rope_head_dim values per layer) or expanded per-head keys and values."""
    # BEGIN SOLUTION lesson_32
    values = kv_cache_values_per_token(config)["latent" if latent else "expanded"]
    return int(values * config.num_hidden_layers * tokens * bytes_per_value)
    # END SOLUTION


def forward_flops_per_token(config: KimiK2Config, context_length: int) -> int:
    """FLOPs of one token's forward pass when it attends to ``context_length`` positions:
    2 per weight it multiplies (the embedding lookup, norms and the correction bias multiply
    nothing) plus, per layer and head, q.k over the context and the weighted sum of values."""
    # BEGIN SOLUTION lesson_32
    hidden = config.hidden_size
    not_multiplied = config.vocab_size * hidden + hidden                 # input lookup, final norm
    for layer_idx in range(config.num_hidden_layers):
        not_multiplied += 2 * hidden + config.kv_lora_rank + (config.q_lora_rank or 0)  # norms
        if config.is_moe_layer(layer_idx) and config.topk_method == "noaux_tc":
            not_multiplied += config.n_routed_experts                   # e_score_correction_bias
    if config.tie_word_embeddings:
        not_multiplied -= config.vocab_size * hidden                   # the shared table is also the head
    matmul_flops = 2 * (count_parameters(config)["active"] - not_multiplied)
    attention_flops = (2 * config.num_hidden_layers * config.num_attention_heads * context_length
                       * (config.qk_head_dim + config.v_head_dim))
    return matmul_flops + attention_flops
    # END SOLUTION
