"""The decoder layer, the model and the causal-LM head (course modules 02, 11 and 12)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

from .attention import ATTENTION_IMPLEMENTATIONS, MLA_MODES, DeepseekV3Attention, causal_mask
from .balance import collect_balance_loss
from .cache import KVCache
from .config import KimiK2Config
from .mlp import DeepseekV3MLP
from .moe import DeepseekV3MoE, MoEGate
from .norm import DeepseekV3RMSNorm


class DeepseekV3DecoderLayer(nn.Module):
    """Pre-norm block: h = x + attn(norm(x)); out = h + mlp(norm(h)). The MLP is the MoE
    block on MoE layers and the dense SwiGLU otherwise (Kimi-K2: layer 0 only is dense)."""

    def __init__(self, config: KimiK2Config, layer_idx: int) -> None:
        super().__init__()
        # BEGIN SOLUTION lesson_59
        self.hidden_size = config.hidden_size
        self.self_attn = DeepseekV3Attention(config, layer_idx)
        self.mlp = DeepseekV3MoE(config) if config.is_moe_layer(layer_idx) else DeepseekV3MLP(config)
        self.input_layernorm = DeepseekV3RMSNorm(config.hidden_size, eps=config.rms_norm_eps)
        self.post_attention_layernorm = DeepseekV3RMSNorm(config.hidden_size, eps=config.rms_norm_eps)
        # END SOLUTION

    def forward(self, hidden_states: torch.Tensor, attention_mask: torch.Tensor | None = None,
                position_ids: torch.Tensor | None = None, past_key_value: KVCache | None = None) -> torch.Tensor:
        """(b, s, H) -> (b, s, H): two pre-norm residual sub-blocks."""
        # BEGIN SOLUTION lesson_60
        hidden_states = hidden_states + self.self_attn(self.input_layernorm(hidden_states),
                                                       attention_mask, position_ids, past_key_value)
        return hidden_states + self.mlp(self.post_attention_layernorm(hidden_states))
        # END SOLUTION


class KimiK2PreTrainedModel(nn.Module):
    """Weight initialisation shared by the model classes (module 12)."""

    def __init__(self, config: KimiK2Config) -> None:
        super().__init__()
        self.config = config

    def _init_weights(self, module: nn.Module) -> None:
        """normal(0, initializer_range) for linear and embedding weights, zero biases, a zero
        padding row; the gate keeps its kaiming init and its correction bias starts at zero."""
        if any(parameter.is_meta for parameter in module.parameters(recurse=False)):
            return  # the meta device holds shapes, not values: nothing to draw
        std = self.config.initializer_range
        if isinstance(module, nn.Linear):
            # BEGIN SOLUTION lesson_61
            nn.init.normal_(module.weight, mean=0.0, std=std)
            if module.bias is not None:
                nn.init.zeros_(module.bias)
            # END SOLUTION
        elif isinstance(module, nn.Embedding):
            # BEGIN SOLUTION lesson_06
            nn.init.normal_(module.weight, mean=0.0, std=std)
            if module.padding_idx is not None:
                with torch.no_grad():
                    module.weight[module.padding_idx].zero_()
            # END SOLUTION
        elif isinstance(module, MoEGate):
            # BEGIN SOLUTION lesson_61
            module.reset_parameters()
            if hasattr(module, "e_score_correction_bias"):
                nn.init.zeros_(module.e_score_correction_bias)
            # END SOLUTION

    def init_weights(self) -> None:
        """Initialise every submodule, children first (module.apply order)."""
        # BEGIN SOLUTION lesson_61
        self.apply(self._init_weights)
        # END SOLUTION


class DeepseekV3Model(KimiK2PreTrainedModel):
    """Token embeddings, the decoder layers and the final norm."""

    def __init__(self, config: KimiK2Config) -> None:
        super().__init__(config)
        # BEGIN SOLUTION lesson_03
        self.padding_idx = config.pad_token_id
        self.vocab_size = config.vocab_size
        self.embed_tokens = nn.Embedding(config.vocab_size, config.hidden_size, self.padding_idx)
        # END SOLUTION
        # BEGIN SOLUTION lesson_62
        self.layers = nn.ModuleList(DeepseekV3DecoderLayer(config, i) for i in range(config.num_hidden_layers))
        self.norm = DeepseekV3RMSNorm(config.hidden_size, eps=config.rms_norm_eps)
        self.init_weights()
        # END SOLUTION

    def get_input_embeddings(self) -> nn.Embedding:
        # BEGIN SOLUTION lesson_05
        return self.embed_tokens
        # END SOLUTION

    def set_input_embeddings(self, value: nn.Embedding) -> None:
        # BEGIN SOLUTION lesson_05
        self.embed_tokens = value
        # END SOLUTION

    def forward(self, input_ids: torch.Tensor | None = None, attention_mask: torch.Tensor | None = None,
                position_ids: torch.Tensor | None = None, past_key_values: KVCache | None = None,
                inputs_embeds: torch.Tensor | None = None, use_cache: bool = False
                ) -> tuple[torch.Tensor, KVCache | None]:
        """(b, s) ids -> (b, s, H) final hidden states, and the cache when one is used."""
        if (input_ids is None) == (inputs_embeds is None):
            raise ValueError("pass exactly one of input_ids and inputs_embeds")
        if inputs_embeds is None:
            # BEGIN SOLUTION lesson_04
            inputs_embeds = self.embed_tokens(input_ids)                      # (b, s) -> (b, s, H)
            # END SOLUTION
        # BEGIN SOLUTION lesson_63
        batch, seq_len, _ = inputs_embeds.shape
        if use_cache and past_key_values is None:
            past_key_values = KVCache(layout=self.layers[0].self_attn.cache_layout)
        past_length = past_key_values.get_seq_length() if past_key_values is not None else 0
        if position_ids is None:
            position_ids = torch.arange(past_length, past_length + seq_len, device=inputs_embeds.device)[None]
        if attention_mask is not None and past_length == 0 and bool(attention_mask.all()):
            attention_mask = None  # no padding: plain causal attention, the fast path
        mask = causal_mask(attention_mask, seq_len, past_length, inputs_embeds.dtype, inputs_embeds.device)

        hidden_states = inputs_embeds
        for layer in self.layers:
            hidden_states = layer(hidden_states, mask, position_ids, past_key_values)
        return self.norm(hidden_states), past_key_values
        # END SOLUTION


KimiK2Model = DeepseekV3Model


@dataclass
class CausalLMOutput:
    logits: torch.Tensor                  # (b, s, vocab), float32
    loss: torch.Tensor | None = None      # the language-model loss alone, as transformers computes it
    past_key_values: KVCache | None = None
    aux_loss: torch.Tensor | None = None  # training mode: the weighted sequence-wise balance loss


class KimiK2ForCausalLM(KimiK2PreTrainedModel):
    """The model plus the LM head: logits in float32 and the shifted next-token loss."""

    def __init__(self, config: KimiK2Config) -> None:
        super().__init__(config)
        # BEGIN SOLUTION lesson_64
        self.model = DeepseekV3Model(config)
        self.vocab_size = config.vocab_size
        self.lm_head = nn.Linear(config.hidden_size, config.vocab_size, bias=False)
        self._init_weights(self.lm_head)
        if config.tie_word_embeddings:
            self.lm_head.weight = self.model.embed_tokens.weight
        # END SOLUTION

    def get_input_embeddings(self) -> nn.Embedding:
        # BEGIN SOLUTION lesson_05
        return self.model.get_input_embeddings()
        # END SOLUTION

    def set_input_embeddings(self, value: nn.Embedding) -> None:
        # BEGIN SOLUTION lesson_05
        self.model.set_input_embeddings(value)
        # END SOLUTION

    def get_output_embeddings(self) -> nn.Linear:
        # BEGIN SOLUTION lesson_05
        return self.lm_head
        # END SOLUTION

    def set_output_embeddings(self, value: nn.Linear) -> None:
        # BEGIN SOLUTION lesson_05
        self.lm_head = value
        # END SOLUTION

    def set_mla_mode(self, name: str) -> None:
        """'expanded' (default: per-head keys and values) or 'absorbed' (attention over the latent,
        with a latent cache of kv_lora_rank + qk_rope_head_dim values per token per layer)."""
        if name not in MLA_MODES:
            raise ValueError(f"MLA mode {name!r}: choose one of {MLA_MODES}")
        for module in self.modules():
            if isinstance(module, DeepseekV3Attention):
                module.mla_mode = name

    def set_attn_implementation(self, name: str) -> None:
        """'sdpa' (default, torch's fused kernel) or 'eager' (explicit softmax, for teaching)."""
        if name not in ATTENTION_IMPLEMENTATIONS:
            raise ValueError(f"attention implementation {name!r}: choose one of {ATTENTION_IMPLEMENTATIONS}")
        for module in self.modules():
            if isinstance(module, DeepseekV3Attention):
                module.attn_implementation = name

    @classmethod
    def from_pretrained(cls, directory: str | Path, dtype: torch.dtype = torch.float32) -> "KimiK2ForCausalLM":
        """Load config.json and safetensors in the Kimi-K2 / DeepSeek-V3 layout (see hf.py)."""
        from .hf import load_pretrained
        return load_pretrained(cls, directory, dtype)

    def save_pretrained(self, directory: str | Path) -> None:
        """Write config.json (model_type deepseek_v3) and model.safetensors (see hf.py)."""
        from .hf import save_pretrained
        save_pretrained(self, directory)

    @staticmethod
    def loss_function(logits: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        """Mean cross-entropy of position t's logits against label t + 1; -100 is ignored."""
        # BEGIN SOLUTION lesson_65
        shift_logits = logits[:, :-1].reshape(-1, logits.shape[-1]).float()   # (b*(s-1), vocab)
        shift_labels = labels[:, 1:].reshape(-1).to(shift_logits.device)      # (b*(s-1),)
        return F.cross_entropy(shift_logits, shift_labels, ignore_index=-100)
        # END SOLUTION

    def forward(self, input_ids: torch.Tensor | None = None, attention_mask: torch.Tensor | None = None,
                position_ids: torch.Tensor | None = None, labels: torch.Tensor | None = None,
                past_key_values: KVCache | None = None, use_cache: bool = False,
                inputs_embeds: torch.Tensor | None = None) -> CausalLMOutput:
        # BEGIN SOLUTION lesson_64
        hidden_states, past_key_values = self.model(input_ids, attention_mask, position_ids, past_key_values,
                                                    inputs_embeds, use_cache)
        logits = self.lm_head(hidden_states).float()                           # (b, s, vocab)
        # END SOLUTION
        loss = self.loss_function(logits, labels) if labels is not None else None
        aux_loss = collect_balance_loss(self) if self.training else None
        return CausalLMOutput(logits=logits, loss=loss, past_key_values=past_key_values, aux_loss=aux_loss)
