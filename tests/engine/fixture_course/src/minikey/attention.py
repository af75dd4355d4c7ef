"""Softmax and attention weights (lesson 03)."""

import torch

from .norm import RMSNorm


def softmax(x: torch.Tensor, dim: int = -1) -> torch.Tensor:
    """Numerically stable softmax over ``dim``."""
    # BEGIN SOLUTION lesson_03
    exp = (x - x.amax(dim=dim, keepdim=True)).exp()
    return exp / exp.sum(dim=dim, keepdim=True)
    # END SOLUTION


def attention_weights(q: torch.Tensor, k: torch.Tensor, norm: RMSNorm) -> torch.Tensor:
    """softmax(norm(q) k^T / sqrt(d)) over the keys."""
    # BEGIN SOLUTION lesson_03
    scores = norm(q) @ k.transpose(-1, -2) / q.shape[-1] ** 0.5
    return softmax(scores)
    # END SOLUTION


def attend(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, norm: RMSNorm) -> torch.Tensor:
    """The attention output: attention_weights(q, k, norm) @ v (lesson 02, built on lesson 03's code)."""
    # BEGIN SOLUTION lesson_02
    return attention_weights(q, k, norm) @ v
    # END SOLUTION
