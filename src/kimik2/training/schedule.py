"""The warmup-stable-decay learning-rate schedule (course lesson on WSD, module 15).

Linear warmup from 0 to the peak, a long constant stage, then a cosine decay to
``final_ratio`` x peak over the last ``decay_fraction`` of the steps. WSD was introduced with
MiniCPM (Hu et al. 2024, arXiv:2404.06395). Kimi-K2 (report arXiv:2507.20534 §2.5): 500 warmup
steps, 2e-4 constant for the first 10T of 15.5T tokens, then a cosine decay from 2e-4 to 2e-5 over
the last 5.5T - the defaults below keep those proportions (decay 5.5 / 15.5, final ratio 0.1).
"""

from __future__ import annotations

import math


def wsd_learning_rate(step: int, total_steps: int, peak_lr: float, warmup_steps: int,
                      decay_fraction: float = 5.5 / 15.5, final_ratio: float = 0.1) -> float:
    """Learning rate for optimizer step ``step`` (0-based) of ``total_steps``."""
    if not 0 <= decay_fraction <= 1:
        raise ValueError(f"decay_fraction={decay_fraction}: must be between 0 and 1")
    if warmup_steps < 0 or total_steps < 1:
        raise ValueError(f"warmup_steps={warmup_steps}, total_steps={total_steps}: need warmup >= 0 and steps >= 1")
    # BEGIN SOLUTION lesson_84
    decay_steps = round(total_steps * decay_fraction)
    decay_start = total_steps - decay_steps
    if step < warmup_steps:
        return peak_lr * (step + 1) / warmup_steps
    if step < decay_start or decay_steps == 0:
        return peak_lr
    progress = (step - decay_start + 1) / decay_steps                 # (0, 1]
    cosine = 0.5 * (1 + math.cos(math.pi * progress))                 # 1 -> 0
    return peak_lr * (final_ratio + (1 - final_ratio) * cosine)
    # END SOLUTION
