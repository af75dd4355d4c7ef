"""Lesson 84: the warmup-stable-decay learning rate (kimik2.training.schedule.wsd_learning_rate).

Run: python code_snippets.py   (about 2 seconds; writes wsd_schedule.png)
"""
import math
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

from kimik2.training import TrainSettings, wsd_learning_rate  # noqa: E402

HERE = Path(__file__).parent


def cosine_learning_rate(step, total_steps, peak_lr, warmup_steps, final_ratio=0.1):
    """The usual alternative: the same warm-up, then one cosine from the peak to final_ratio x peak."""
    if step < warmup_steps:
        return peak_lr * (step + 1) / warmup_steps
    progress = (step - warmup_steps + 1) / (total_steps - warmup_steps)
    return peak_lr * (final_ratio + (1 - final_ratio) * 0.5 * (1 + math.cos(math.pi * progress)))


# 1. Our trainer's defaults.
settings = TrainSettings()
steps, warmup, peak = settings.steps, settings.warmup_steps, settings.lr
decay_steps = round(steps * settings.decay_fraction)
print(f"1. TrainSettings defaults (the reference run of module 17): steps {steps}, warmup {warmup}, peak lr {peak}, decay_fraction "
      f"{settings.decay_fraction:.4f} (= 5.5 / 15.5)")
print(f"  decay_steps = round({steps} x {settings.decay_fraction:.4f}) = {decay_steps}; decay starts at step "
      f"{steps - decay_steps}")
for step in (0, 1, warmup - 1, warmup, 100, steps - decay_steps - 1, steps - decay_steps, steps - decay_steps + decay_steps // 2 - 1,
             steps - 2, steps - 1):
    lr = wsd_learning_rate(step, steps, peak, warmup, settings.decay_fraction)
    print(f"  step {step:3d}: lr {lr:.6f} = {lr / peak:.4f} x peak")

# 2. Kimi-K2's recipe (report arXiv:2507.20534 §2.5), in steps of 67M tokens.
print("\n2. Kimi-K2: 15.5T tokens, 67M tokens per step, 500 warm-up steps, 2e-4 then cosine to 2e-5")
batch, total_tokens = 67e6, 15.5e12
kimi_steps = round(total_tokens / batch)
kimi_decay = round(kimi_steps * 5.5 / 15.5)
print(f"  total steps {kimi_steps:,d}; decay steps {kimi_decay:,d}; decay starts at step {kimi_steps - kimi_decay:,d} "
      f"= {(kimi_steps - kimi_decay) * batch / 1e12:.2f}T tokens")
print(f"  warm-up: 500 steps = {500 * batch / 1e9:.1f}B tokens = {500 / kimi_steps:.2%} of training")
for step in (0, 499, 100_000, kimi_steps - kimi_decay, kimi_steps - kimi_decay // 2, kimi_steps - 1):
    print(f"  step {step:7,d} ({step * batch / 1e12:5.2f}T tokens): lr {wsd_learning_rate(step, kimi_steps, 2e-4, 500):.3e}")

# 3. WSD vs cosine over the same run: how much learning rate each spends, and when.
print(f"\n3. WSD vs one cosine (same warm-up, same peak and final lr), our {steps} steps")
wsd = [wsd_learning_rate(s, steps, peak, warmup) for s in range(steps)]
cos = [cosine_learning_rate(s, steps, peak, warmup) for s in range(steps)]
print(f"  mean lr / peak: WSD {sum(wsd) / steps / peak:.3f}, cosine {sum(cos) / steps / peak:.3f}")
for fraction in (0.25, 0.5, 0.64, 0.75, 0.9):
    s = int(fraction * steps)
    print(f"  at {fraction:.0%} of the run (step {s}): WSD {wsd[s] / peak:.3f} x peak, cosine {cos[s] / peak:.3f} x peak")

# 4. Edge cases.
print("\n4. edge cases")
print(f"  decay_fraction 0 (no decay): last step lr = {wsd_learning_rate(299, 300, 1.0, 20, decay_fraction=0):.3f}")
print(f"  warmup 0: step 0 lr = {wsd_learning_rate(0, 300, 1.0, 0):.3f}")
print(f"  decay_fraction 1 (the cosine starts at step 0, under the warm-up): steps 0..4 = "
      f"{[round(wsd_learning_rate(s, 300, 1.0, 3, decay_fraction=1.0), 4) for s in range(5)]}")
print(f"  a 1-step run, no warm-up: {wsd_learning_rate(0, 1, 1.0, 0):.3f} (round(1 x 0.3548) = 0 decay steps)")

# Figure: our run, and Kimi-K2's schedule against tokens with DeepSeek-V3's for comparison.
fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(11, 4.2))
ax1.plot(range(steps), wsd, label="WSD (decay_fraction 5.5/15.5)")
ax1.plot(range(steps), cos, "--", label="warm-up + one cosine")
ax1.axvspan(0, warmup, color="tab:green", alpha=0.12, label=f"warm-up ({warmup} steps)")
ax1.axvspan(steps - decay_steps, steps, color="tab:red", alpha=0.08, label=f"decay ({decay_steps} steps)")
ax1.set_xlabel("optimizer step")
ax1.set_ylabel("learning rate")
ax1.set_title(f"Our run: {steps} steps, peak {peak}, final 0.1 x peak")
ax1.legend(fontsize=8)
tokens = [i * 0.01 for i in range(1551)]                       # 0 .. 15.5T
kimi = [wsd_learning_rate(round(t * 1e12 / batch), kimi_steps, 2e-4, 500) for t in tokens]
ax2.plot(tokens, kimi, label="Kimi-K2: 2e-4 to 10T, cosine to 2e-5 over 5.5T")
dsv3_tokens = [i * 0.01 for i in range(1481)]                  # 0 .. 14.8T


def dsv3(t):
    if t <= 10.0:
        return 2.2e-4
    if t <= 14.3:
        return 2.2e-5 + (2.2e-4 - 2.2e-5) * 0.5 * (1 + math.cos(math.pi * (t - 10.0) / 4.3))
    return 2.2e-5 if t <= 14.633 else 7.3e-6


ax2.plot(dsv3_tokens, [dsv3(t) for t in dsv3_tokens], "--", label="DeepSeek-V3: 2.2e-4 to 10T, cosine over 4.3T")
ax2.set_xlabel("tokens seen (trillions)")
ax2.set_ylabel("learning rate")
ax2.set_title("Pretraining schedules (warm-ups too short to see)")
ax2.legend(fontsize=8, loc="center left")
fig.tight_layout()
fig.savefig(HERE / "wsd_schedule.png", dpi=110)
print("wrote wsd_schedule.png")
