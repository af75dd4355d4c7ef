"""KimiK2Config: every key of Kimi-K2's ``config.json``, validated (course module 06).

Field names are exactly the keys of the Hugging Face ``config.json`` of
moonshotai/Kimi-K2-Instruct, so a real config loads as-is. Two rope conventions are read:

* the remote-code one (``modeling_deepseek.py``): ``rope_theta`` plus ``rope_scaling`` with ``type``;
* the transformers >= 5 one: ``rope_parameters`` with ``rope_type`` and ``rope_theta`` inside.

Internally the config always holds the first form (``rope_theta``, ``rope_scaling`` or None).
Every value is checked; a bad one raises ``ValueError`` naming the field and the rule.
"""

from __future__ import annotations

import dataclasses
import json
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

# Keys that describe the file rather than the network: kept, written back, never used for maths.
METADATA_KEYS = frozenset({
    "architectures", "auto_map", "model_type", "torch_dtype", "dtype", "transformers_version",
    "quantization_config", "_name_or_path", "output_router_logits", "output_attentions",
    "output_hidden_states", "return_dict", "id2label", "label2id",
})

# rope_scaling keys per type: (required, optional with the remote code's defaults)
ROPE_SCALING_KEYS: dict[str, tuple[tuple[str, ...], dict[str, Any]]] = {
    "linear": (("factor",), {}),
    "dynamic": (("factor",), {}),
    "yarn": (("factor", "original_max_position_embeddings"),
             {"beta_fast": 32.0, "beta_slow": 1.0, "mscale": 1.0, "mscale_all_dim": 0.0}),
}

SUPPORTED_ACTIVATIONS = ("silu", "gelu", "relu", "gelu_pytorch_tanh")


@dataclass
class KimiK2Config:
    """Hyper-parameters of a Kimi-K2 / DeepSeek-V3 network. Defaults are Kimi-K2-Instruct's."""

    vocab_size: int = 163840
    hidden_size: int = 7168
    intermediate_size: int = 18432          # width of the dense MLP (layers < first_k_dense_replace)
    moe_intermediate_size: int = 2048       # width of one expert
    num_hidden_layers: int = 61
    num_nextn_predict_layers: int = 0       # MTP layers in the checkpoint (skipped when loading)
    num_attention_heads: int = 64
    num_key_value_heads: int = 64           # not used by MLA (every head has its own k_nope and v)
    n_shared_experts: int | None = 1
    n_routed_experts: int | None = 384
    ep_size: int = 1
    routed_scaling_factor: float = 2.827
    kv_lora_rank: int = 512
    q_lora_rank: int | None = 1536
    qk_rope_head_dim: int = 64
    v_head_dim: int = 128
    qk_nope_head_dim: int = 128
    topk_method: str = "noaux_tc"
    n_group: int = 1
    topk_group: int = 1
    num_experts_per_tok: int = 8
    moe_layer_freq: int = 1
    first_k_dense_replace: int = 1
    norm_topk_prob: bool = True
    scoring_func: str = "sigmoid"
    aux_loss_alpha: float = 0.001           # weight of the sequence-wise balance loss (training)
    seq_aux: bool = True
    hidden_act: str = "silu"
    max_position_embeddings: int = 131072
    initializer_range: float = 0.02
    rms_norm_eps: float = 1e-6
    use_cache: bool = True
    pad_token_id: int | None = None
    bos_token_id: int | None = 163584
    eos_token_id: int | list[int] | None = 163585
    pretraining_tp: int = 1
    tie_word_embeddings: bool = False
    rope_theta: float = 50000.0
    rope_scaling: dict[str, Any] | None = field(default_factory=lambda: {
        "type": "yarn", "factor": 32.0, "original_max_position_embeddings": 4096,
        "beta_fast": 1.0, "beta_slow": 1.0, "mscale": 1.0, "mscale_all_dim": 1.0})
    attention_bias: bool = False
    attention_dropout: float = 0.0
    metadata: dict[str, Any] = field(default_factory=dict)  # METADATA_KEYS found in the file

    def __post_init__(self) -> None:
        self.validate()

    # ------------------------------------------------------------------ derived sizes
    @property
    def qk_head_dim(self) -> int:
        """Per-head query/key width: the no-rope part plus the rope part (128 + 64 = 192)."""
        return self.qk_nope_head_dim + self.qk_rope_head_dim

    def is_moe_layer(self, layer_idx: int) -> bool:
        """True if decoder layer ``layer_idx`` uses the MoE block (the remote code's rule)."""
        # BEGIN SOLUTION lesson_59
        return (self.n_routed_experts is not None
                and layer_idx >= self.first_k_dense_replace
                and layer_idx % self.moe_layer_freq == 0)
        # END SOLUTION

    # ------------------------------------------------------------------ validation
    def validate(self) -> None:
        """Raise ValueError naming the first field that breaks a rule."""
        def fail(name: str, rule: str) -> None:
            raise ValueError(f"KimiK2Config.{name} = {getattr(self, name)!r}: {rule}")

        for name in ("vocab_size", "hidden_size", "intermediate_size", "moe_intermediate_size",
                     "num_hidden_layers", "num_attention_heads", "num_key_value_heads",
                     "kv_lora_rank", "qk_rope_head_dim", "qk_nope_head_dim", "v_head_dim",
                     "max_position_embeddings", "num_experts_per_tok", "n_group", "topk_group",
                     "moe_layer_freq"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
                fail(name, "must be a positive integer")
        for name in ("q_lora_rank", "n_routed_experts", "n_shared_experts"):
            value = getattr(self, name)
            if value is not None and (isinstance(value, bool) or not isinstance(value, int) or value <= 0):
                fail(name, "must be a positive integer or null")
        for name in ("first_k_dense_replace", "num_nextn_predict_layers"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 0:
                fail(name, "must be a non-negative integer")
        if self.qk_rope_head_dim % 2:
            fail("qk_rope_head_dim", "must be even: RoPE rotates pairs of dimensions")
        for name in ("rms_norm_eps", "initializer_range", "routed_scaling_factor", "rope_theta"):
            value = getattr(self, name)
            if not isinstance(value, (int, float)) or isinstance(value, bool) or not value > 0 or not math.isfinite(value):
                fail(name, "must be a positive finite number")
        if not 0.0 <= self.attention_dropout < 1.0:
            fail("attention_dropout", "must be in [0, 1)")
        if self.hidden_act not in SUPPORTED_ACTIVATIONS:
            fail("hidden_act", f"must be one of {SUPPORTED_ACTIVATIONS}")
        if self.scoring_func != "sigmoid":
            fail("scoring_func", "only 'sigmoid' is supported (as in Kimi-K2 and DeepSeek-V3)")
        if self.topk_method not in ("noaux_tc", "greedy"):
            fail("topk_method", "must be 'noaux_tc' (group-limited, bias-corrected) or 'greedy'")
        if self.pretraining_tp != 1:
            fail("pretraining_tp", "must be 1: tensor-parallel pre-training slices are not supported")
        if self.ep_size != 1:
            fail("ep_size", "must be 1: expert parallelism is not supported in this model")
        for name in ("pad_token_id", "bos_token_id"):
            value = getattr(self, name)
            if value is not None and not 0 <= value < self.vocab_size:
                fail(name, f"must be null or an id in [0, vocab_size={self.vocab_size})")
        # BEGIN SOLUTION lesson_30
        if self.n_routed_experts is not None:
            experts, groups = self.n_routed_experts, self.n_group
            if experts % groups:
                fail("n_group", f"must divide n_routed_experts = {experts}")
            if self.topk_group > groups:
                fail("topk_group", f"must be <= n_group = {groups}")
            if self.num_experts_per_tok > self.topk_group * (experts // groups):
                fail("num_experts_per_tok", f"exceeds the {self.topk_group * (experts // groups)} experts "
                     f"in the topk_group={self.topk_group} kept groups of {experts // groups}")
            if self.topk_method == "noaux_tc" and experts // groups < 2:
                fail("n_group", "noaux_tc scores each group by its top-2 experts: "
                     "every group needs at least 2 experts")
            if self.first_k_dense_replace > self.num_hidden_layers:
                fail("first_k_dense_replace", f"must be <= num_hidden_layers = {self.num_hidden_layers}")
        # END SOLUTION
        self._validate_rope_scaling()

    def _validate_rope_scaling(self) -> None:
        scaling = self.rope_scaling
        if scaling is None:
            return
        if not isinstance(scaling, dict):
            raise ValueError(f"KimiK2Config.rope_scaling = {scaling!r}: must be a dict or null")
        rope_type = scaling.get("type")
        if rope_type not in ROPE_SCALING_KEYS:
            raise ValueError(f"KimiK2Config.rope_scaling['type'] = {rope_type!r}: must be one of "
                             f"{sorted(ROPE_SCALING_KEYS)} (or set rope_scaling to null for plain RoPE)")
        required, optional = ROPE_SCALING_KEYS[rope_type]
        missing = [key for key in required if key not in scaling]
        if missing:
            raise ValueError(f"KimiK2Config.rope_scaling: type {rope_type!r} needs the keys {missing}")
        unknown = sorted(set(scaling) - set(required) - set(optional) - {"type"})
        if unknown:
            raise ValueError(f"KimiK2Config.rope_scaling: unknown keys {unknown} for type {rope_type!r}; "
                             f"allowed: {sorted(set(required) | set(optional))}")
        if not scaling["factor"] > 0:
            raise ValueError(f"KimiK2Config.rope_scaling['factor'] = {scaling['factor']!r}: must be > 0")
        if rope_type == "yarn" and not scaling["original_max_position_embeddings"] > 0:
            raise ValueError("KimiK2Config.rope_scaling['original_max_position_embeddings'] must be > 0")

    # ------------------------------------------------------------------ (de)serialisation
    @classmethod
    def from_dict(cls, config_dict: dict[str, Any]) -> "KimiK2Config":
        """Build a config from a ``config.json`` dict (remote-code or transformers >= 5 form)."""
        values = dict(config_dict)
        field_names = {f.name for f in dataclasses.fields(cls)} - {"metadata"}
        metadata = {key: values.pop(key) for key in list(values) if key in METADATA_KEYS}

        rope_parameters = values.pop("rope_parameters", None)
        if rope_parameters is not None:
            if "rope_scaling" in values and values["rope_scaling"] is not None:
                raise ValueError("config has both rope_parameters and rope_scaling: keep one")
            rope_parameters = dict(rope_parameters)
            if "rope_theta" in rope_parameters:
                values["rope_theta"] = rope_parameters.pop("rope_theta")
            values["rope_scaling"] = rope_parameters
        if values.get("rope_scaling") is not None:
            values["rope_scaling"] = _normalise_rope_scaling(values["rope_scaling"])

        # transformers >= 5 writes derived fields; accept them only when they agree.
        derived = {
            "head_dim": values.get("qk_rope_head_dim", cls.qk_rope_head_dim),
            "qk_head_dim": (values.get("qk_nope_head_dim", cls.qk_nope_head_dim)
                            + values.get("qk_rope_head_dim", cls.qk_rope_head_dim)),
        }
        for key, expected in derived.items():
            if key in values and values.pop(key) != expected:
                raise ValueError(f"config key {key!r} = {config_dict[key]!r} disagrees with the value "
                                 f"derived from the other fields ({expected})")
        if "rope_interleave" in values and values.pop("rope_interleave") is not True:
            raise ValueError("config key 'rope_interleave' = False is not supported: Kimi-K2 and "
                             "DeepSeek-V3 checkpoints store rope dimensions as interleaved pairs")

        unknown = sorted(set(values) - field_names)
        if unknown:
            raise ValueError(f"unknown config keys {unknown}: not fields of KimiK2Config and not "
                             f"metadata ({sorted(METADATA_KEYS)})")
        return cls(**values, metadata=metadata)

    @classmethod
    def from_json_file(cls, path: str | Path) -> "KimiK2Config":
        """Read a ``config.json`` file."""
        with open(path, encoding="utf-8") as handle:
            return cls.from_dict(json.load(handle))

    def to_dict(self) -> dict[str, Any]:
        """The ``config.json`` dict in the remote-code convention, metadata included."""
        values = dataclasses.asdict(self)
        metadata = values.pop("metadata")
        return {**metadata, **values}

    def to_json_file(self, path: str | Path) -> None:
        with open(path, "w", encoding="utf-8") as handle:
            json.dump(self.to_dict(), handle, indent=2, sort_keys=True)
            handle.write("\n")

    # ------------------------------------------------------------------ presets
    @classmethod
    def kimi_k2(cls) -> "KimiK2Config":
        """Kimi-K2-Instruct (0711): 1.026T parameters, 32.9B active per token."""
        return cls(metadata={"architectures": ["DeepseekV3ForCausalLM"], "model_type": "kimi_k2"})

    @classmethod
    def deepseek_v3(cls) -> "KimiK2Config":
        """DeepSeek-V3 (main model; its checkpoint adds one MTP layer)."""
        # BEGIN SOLUTION lesson_29
        return cls(vocab_size=129280, num_attention_heads=128, num_key_value_heads=128,
                   n_routed_experts=256, routed_scaling_factor=2.5, n_group=8, topk_group=4,
                   first_k_dense_replace=3, num_nextn_predict_layers=1, max_position_embeddings=163840,
                   bos_token_id=0, eos_token_id=1, rope_theta=10000.0,
                   rope_scaling={"type": "yarn", "factor": 40.0, "original_max_position_embeddings": 4096,
                                 "beta_fast": 32.0, "beta_slow": 1.0, "mscale": 1.0, "mscale_all_dim": 1.0},
                   metadata={"architectures": ["DeepseekV3ForCausalLM"], "model_type": "deepseek_v3"})
        # END SOLUTION

    @classmethod
    def tiny(cls, **overrides: Any) -> "KimiK2Config":
        """A Kimi-K2-shaped model small enough to train on a laptop CPU (about 0.5M parameters)."""
        values: dict[str, Any] = dict(
            vocab_size=512, hidden_size=64, intermediate_size=192, moe_intermediate_size=32,
            num_hidden_layers=4, num_attention_heads=4, num_key_value_heads=4, n_routed_experts=16,
            num_experts_per_tok=4, kv_lora_rank=32, q_lora_rank=48, qk_rope_head_dim=16,
            qk_nope_head_dim=16, v_head_dim=16, max_position_embeddings=1024, bos_token_id=None,
            eos_token_id=None,
            rope_scaling={"type": "yarn", "factor": 4.0, "original_max_position_embeddings": 256,
                          "beta_fast": 1.0, "beta_slow": 1.0, "mscale": 1.0, "mscale_all_dim": 1.0})
        values.update(overrides)
        return cls(**values)


def _normalise_rope_scaling(scaling: dict[str, Any]) -> dict[str, Any] | None:
    """Map transformers' ``rope_type`` to the remote code's ``type``; 'default' means no scaling."""
    # BEGIN SOLUTION lesson_28
    scaling = dict(scaling)
    rope_type = scaling.pop("rope_type", None)
    if rope_type is not None and scaling.get("type", rope_type) != rope_type:
        raise ValueError(f"rope_scaling has type={scaling['type']!r} and rope_type={rope_type!r}: keep one")
    scaling["type"] = scaling.get("type", rope_type)
    if scaling["type"] == "default":
        if set(scaling) - {"type"}:
            raise ValueError(f"rope type 'default' takes no parameters, got {sorted(set(scaling) - {'type'})}")
        return None
    return scaling
    # END SOLUTION
