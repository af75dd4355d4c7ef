"""kimik2: Kimi-K2 (the DeepSeek-V3 architecture) in plain PyTorch - the course's answer key."""

from . import balance, basics, parity
from .attention import DeepseekV3Attention
from .cache import KVCache
from .config import KimiK2Config
from .hf import CheckpointError
from .mlp import DeepseekV3MLP
from .model import (CausalLMOutput, DeepseekV3DecoderLayer, DeepseekV3Model, KimiK2ForCausalLM, KimiK2Model,
                    KimiK2PreTrainedModel)
from .moe import DeepseekV3MoE, MoEGate, sequence_balance_loss
from .norm import DeepseekV3RMSNorm
from .rope import (DeepseekV3DynamicNTKScalingRotaryEmbedding, DeepseekV3LinearScalingRotaryEmbedding,
                   DeepseekV3RotaryEmbedding, DeepseekV3YarnRotaryEmbedding)
from .size import count_parameters, kv_cache_values_per_token

__all__ = [
    "balance", "basics", "parity", "CausalLMOutput", "CheckpointError", "DeepseekV3Attention", "DeepseekV3DecoderLayer",
    "DeepseekV3DynamicNTKScalingRotaryEmbedding", "DeepseekV3LinearScalingRotaryEmbedding", "DeepseekV3MLP",
    "DeepseekV3Model", "DeepseekV3MoE", "DeepseekV3RMSNorm", "DeepseekV3RotaryEmbedding",
    "DeepseekV3YarnRotaryEmbedding", "KVCache", "KimiK2Config", "KimiK2ForCausalLM", "KimiK2Model",
    "KimiK2PreTrainedModel", "MoEGate", "count_parameters", "kv_cache_values_per_token",
    "sequence_balance_loss",
]
