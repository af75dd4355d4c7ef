"""Keeping the experts evenly loaded, across the whole model (course module 09).

Each DeepseekV3MoE counts the tokens its experts receive (``tokens_per_expert``). After an
optimizer step the training loop calls :func:`update_correction_biases` (DeepSeek-V3's
auxiliary-loss-free rule), may add :func:`collect_balance_loss` to the loss (the sequence-wise
balance loss, tiny alpha), and logs :func:`expert_load` and :func:`max_violation`.
"""

from __future__ import annotations

import torch
from torch import nn

from .moe import DeepseekV3MoE


def moe_layers(model: nn.Module) -> list[DeepseekV3MoE]:
    """The model's MoE blocks in layer order (Kimi-K2: layers 1-60)."""
    return [module for module in model.modules() if isinstance(module, DeepseekV3MoE)]


def expert_load(model: nn.Module) -> torch.Tensor:
    """Tokens each expert received since the last reset: (MoE layers, n_routed_experts), int64."""
    # BEGIN SOLUTION lesson_48
    return torch.stack([layer.tokens_per_expert for layer in moe_layers(model)])
    # END SOLUTION


def max_violation(load: torch.Tensor) -> torch.Tensor:
    """MaxVio = (max load - mean load) / mean load along the last axis (Wang et al. 2024,
    arXiv:2408.15664): 0 when balanced; n_experts / top_k - 1 when every token picks the same
    top_k experts."""
    # BEGIN SOLUTION lesson_48
    load = load.float()
    mean = load.mean(dim=-1)
    return (load.max(dim=-1).values - mean) / mean
    # END SOLUTION


def reset_expert_load(model: nn.Module) -> None:
    """Zero every MoE layer's token counts."""
    for layer in moe_layers(model):
        layer.tokens_per_expert.zero_()


def update_correction_biases(model: nn.Module, speed: float) -> torch.Tensor:
    """One bias update per MoE layer with the load counted since the last call, then reset the
    counts. Returns the load that was used, (MoE layers, n_routed_experts)."""
    load = expert_load(model)
    for layer, layer_load in zip(moe_layers(model), load):
        layer.gate.update_correction_bias(layer_load, speed)
    reset_expert_load(model)
    return load


def collect_balance_loss(model: nn.Module) -> torch.Tensor | None:
    """Sum of the weighted sequence-wise balance losses the MoE layers left in ``aux_loss`` during
    the last training forward (None when none did); each is taken once."""
    losses = [layer.aux_loss for layer in moe_layers(model) if layer.aux_loss is not None]
    for layer in moe_layers(model):
        layer.aux_loss = None
    return torch.stack(losses).sum() if losses else None
