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


def mlp_parameters(hidden_size: int, intermediate_size: int) -> int:
    """gate_proj, up_proj and down_proj of one SwiGLU block."""
    return 3 * hidden_size * intermediate_size


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
    heads = config.num_attention_heads
    return {"latent": config.kv_lora_rank + config.qk_rope_head_dim,
            "expanded": heads * (config.qk_head_dim + config.v_head_dim)}
