"""Lesson 02: RMSNorm on a small vector."""

import torch

from minikey import RMSNorm

x = torch.tensor([[3.0, 4.0]])
print("rms:", x.pow(2).mean().sqrt().item())
print("normed:", RMSNorm(2)(x))
