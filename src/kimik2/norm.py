"""RMSNorm as Kimi-K2 computes it (course module 03, lessons 07-08)."""

import torch
from torch import nn


class DeepseekV3RMSNorm(nn.Module):
    """y = weight * cast_back(x / sqrt(mean(x^2) + eps)), the statistics in float32.

    The cast back to the input dtype happens before the weight multiply (lesson 08), and
    eps defaults to 1e-6 (the latent norms of the attention rely on this default, lessons 51-52).
    """

    def __init__(self, hidden_size: int, eps: float = 1e-6) -> None:
        super().__init__()
        # BEGIN SOLUTION lesson_07
        self.weight = nn.Parameter(torch.ones(hidden_size))
        self.variance_epsilon = eps
        # END SOLUTION

    def forward(self, hidden_states: torch.Tensor) -> torch.Tensor:
        # BEGIN SOLUTION lesson_08
        input_dtype = hidden_states.dtype
        hidden_states = hidden_states.to(torch.float32)
        variance = hidden_states.pow(2).mean(-1, keepdim=True)            # (..., 1)
        hidden_states = hidden_states * torch.rsqrt(variance + self.variance_epsilon)
        return self.weight * hidden_states.to(input_dtype)
        # END SOLUTION

    def extra_repr(self) -> str:
        return f"{self.weight.shape[0]}, eps={self.variance_epsilon}"
