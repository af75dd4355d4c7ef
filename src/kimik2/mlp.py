"""The SwiGLU feed-forward block (course module 07)."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from .config import KimiK2Config

ACTIVATIONS = {
    "silu": F.silu,
    "gelu": F.gelu,
    "relu": F.relu,
    "gelu_pytorch_tanh": lambda x: F.gelu(x, approximate="tanh"),
}


class DeepseekV3MLP(nn.Module):
    """down_proj(act(gate_proj(x)) * up_proj(x)), no biases.

    The dense layers use intermediate_size (18432 in Kimi-K2); each expert uses
    moe_intermediate_size (2048) and the shared expert moe_intermediate_size * n_shared_experts.
    """

    def __init__(self, config: KimiK2Config, hidden_size: int | None = None,
                 intermediate_size: int | None = None) -> None:
        super().__init__()
        # BEGIN SOLUTION lesson_34
        self.hidden_size = config.hidden_size if hidden_size is None else hidden_size
        self.intermediate_size = config.intermediate_size if intermediate_size is None else intermediate_size
        self.gate_proj = nn.Linear(self.hidden_size, self.intermediate_size, bias=False)
        self.up_proj = nn.Linear(self.hidden_size, self.intermediate_size, bias=False)
        self.down_proj = nn.Linear(self.intermediate_size, self.hidden_size, bias=False)
        self.act_fn = ACTIVATIONS[config.hidden_act]
        # END SOLUTION

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        # BEGIN SOLUTION lesson_35
        # (..., hidden) -> (..., intermediate) twice -> (..., hidden)
        return self.down_proj(self.act_fn(self.gate_proj(x)) * self.up_proj(x))
        # END SOLUTION
