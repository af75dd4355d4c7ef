"""Checkpoints in the Kimi-K2 / DeepSeek-V3 on-disk layout (course module 12).

The layout is the Hugging Face one: ``config.json`` plus ``model.safetensors`` or shards
listed in ``model.safetensors.index.json``, one tensor per expert matrix
(``model.layers.1.mlp.experts.0.gate_proj.weight``). Only safetensors are read: never pickle.
"""

from __future__ import annotations

import json
import logging
import re
from pathlib import Path
from typing import TYPE_CHECKING

import torch
from safetensors import safe_open
from safetensors.torch import save_file

from .config import KimiK2Config
from .moe import MoEGate

if TYPE_CHECKING:
    from .model import KimiK2PreTrainedModel

logger = logging.getLogger("kimik2")

INDEX_FILE = "model.safetensors.index.json"
WEIGHTS_FILE = "model.safetensors"
LAYER_KEY = re.compile(r"^model\.layers\.(\d+)\.")
# Stored by some checkpoints but recomputed from the config, never loaded.
DERIVED_KEY = re.compile(r"rotary_emb\.inv_freq$")
FP8_DTYPES = {getattr(torch, name) for name in ("float8_e4m3fn", "float8_e5m2", "float8_e4m3fnuz",
                                                  "float8_e5m2fnuz") if hasattr(torch, name)}
# Metadata that would be false for the weights we write.
DROPPED_ON_SAVE = ("quantization_config", "auto_map", "torch_dtype", "dtype", "transformers_version")


class CheckpointError(ValueError):
    """A checkpoint that does not fit the model: the message lists what to fix."""


def _weight_files(directory: Path) -> list[Path]:
    if (directory / INDEX_FILE).is_file():
        with open(directory / INDEX_FILE, encoding="utf-8") as handle:
            weight_map = json.load(handle)["weight_map"]
        files = [directory / name for name in dict.fromkeys(weight_map.values())]
    elif (directory / WEIGHTS_FILE).is_file():
        files = [directory / WEIGHTS_FILE]
    else:
        raise CheckpointError(f"{directory}: no {WEIGHTS_FILE} or {INDEX_FILE} found "
                              "(only safetensors checkpoints are read; pickled .bin files are not)")
    missing = [str(path) for path in files if not path.is_file()]
    if missing:
        raise CheckpointError(f"{directory}: shard files listed in {INDEX_FILE} are missing: {missing}")
    return files


def _listing(title: str, items: list[str], limit: int = 12) -> str:
    shown = ", ".join(items[:limit]) + (f", ... ({len(items) - limit} more)" if len(items) > limit else "")
    return f"\n  {title} ({len(items)}): {shown}"


def read_state_dict(directory: str | Path, config: KimiK2Config) -> dict[str, torch.Tensor]:
    """All tensors of the checkpoint the model owns: MTP layers and derived buffers are skipped
    (with a log line); FP8 weights are refused."""
    directory = Path(directory)
    state: dict[str, torch.Tensor] = {}
    skipped_mtp: list[str] = []
    for path in _weight_files(directory):
        with safe_open(str(path), framework="pt") as shard:
            for key in shard.keys():
                layer = LAYER_KEY.match(key)
                if layer and int(layer.group(1)) >= config.num_hidden_layers:
                    skipped_mtp.append(key)
                    continue
                if DERIVED_KEY.search(key):
                    continue
                if key.endswith("weight_scale_inv"):
                    raise CheckpointError(f"{path.name}: {key}: FP8 checkpoints are not supported yet: "
                                          "dequantise the weights to bf16 first")
                tensor = shard.get_tensor(key)
                if tensor.dtype in FP8_DTYPES:
                    raise CheckpointError(f"{path.name}: {key} is {tensor.dtype}: FP8 checkpoints are not "
                                          "supported yet: dequantise the weights to bf16 first")
                state[key] = tensor
    if skipped_mtp:
        layers = sorted({int(LAYER_KEY.match(key).group(1)) for key in skipped_mtp})
        logger.info("skipped %d tensors of multi-token-prediction layer(s) %s (not part of the main model)",
                    len(skipped_mtp), layers)
    return state


def load_pretrained(cls: type["KimiK2PreTrainedModel"], directory: str | Path,
                    dtype: torch.dtype = torch.float32) -> "KimiK2PreTrainedModel":
    """Build ``cls`` from ``directory``; every missing, unexpected or mis-shaped key is an error."""
    directory = Path(directory)
    if not (directory / "config.json").is_file():
        raise CheckpointError(f"{directory}: no config.json")
    config = KimiK2Config.from_json_file(directory / "config.json")
    state = read_state_dict(directory, config)
    model = cls(config).to(dtype)
    for module in model.modules():  # routing stays float32 whatever the dtype, as in transformers
        if isinstance(module, MoEGate):
            module.float()
    expected = model.state_dict()   # cast before the copy: the gates keep every bit of the file
    if config.tie_word_embeddings:
        expected.pop("lm_head.weight", None)
        state.pop("lm_head.weight", None)
    missing = sorted(set(expected) - set(state))
    unexpected = sorted(set(state) - set(expected))
    misshaped = sorted(f"{key} {tuple(state[key].shape)} != {tuple(expected[key].shape)}"
                       for key in set(state) & set(expected) if state[key].shape != expected[key].shape)
    if missing or unexpected or misshaped:
        message = f"{directory} does not match the model built from its config.json:"
        for title, items in (("missing keys", missing), ("unexpected keys", unexpected),
                             ("mis-shaped keys (checkpoint != model)", misshaped)):
            if items:
                message += _listing(title, items)
        raise CheckpointError(message)
    with torch.no_grad():
        for key, tensor in state.items():
            expected[key].copy_(tensor)
    return model


def transformers_incompatibilities(config: KimiK2Config) -> list[str]:
    """Settings transformers' DeepseekV3 does not read: a checkpoint saved with them loads there
    but computes something else."""
    problems = []
    if config.moe_layer_freq != 1:
        problems.append("moe_layer_freq != 1 (transformers makes every layer from first_k_dense_replace on MoE)")
    if config.topk_method == "greedy" and config.n_group > 1:
        problems.append("topk_method 'greedy' with n_group > 1 (transformers always routes group-limited)")
    if config.num_experts_per_tok == 1 and config.norm_topk_prob:
        problems.append("norm_topk_prob with one expert per token (transformers normalises it to 1)")
    if config.n_shared_experts is None:
        problems.append("n_shared_experts null (transformers always builds a shared expert)")
    return problems


def save_pretrained(model: "KimiK2PreTrainedModel", directory: str | Path) -> None:
    """Write config.json (model_type deepseek_v3, loadable by transformers) and model.safetensors."""
    for problem in transformers_incompatibilities(model.config):
        logger.warning("saving a config transformers will not reproduce: %s", problem)
    # BEGIN SOLUTION lesson_99
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    config_dict = {key: value for key, value in model.config.to_dict().items() if key not in DROPPED_ON_SAVE}
    config_dict.update(model_type="deepseek_v3", architectures=["DeepseekV3ForCausalLM"],
                       torch_dtype=str(next(model.parameters()).dtype).removeprefix("torch."))
    with open(directory / "config.json", "w", encoding="utf-8") as handle:
        json.dump(config_dict, handle, indent=2, sort_keys=True)
        handle.write("\n")
    state = {key: tensor.detach().contiguous() for key, tensor in model.state_dict().items()}
    if model.config.tie_word_embeddings:
        state.pop("lm_head.weight", None)  # stored once, as the embedding
    save_file(state, str(directory / WEIGHTS_FILE), metadata={"format": "pt"})
    # END SOLUTION
