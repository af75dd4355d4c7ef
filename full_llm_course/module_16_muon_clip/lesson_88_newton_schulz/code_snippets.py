"""Lesson 88: the quintic Newton-Schulz iteration. The scalar map, the measured spectrum, bf16, the orientation."""

import time
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import matplotlib.ticker
import torch

from kimik2.muon import NS_COEFFICIENTS, newton_schulz

torch.set_num_threads(1)
HERE = Path(__file__).parent
A, B, C = NS_COEFFICIENTS


def p(s):
    """One quintic step on a singular value: a s + b s^3 + c s^5."""
    return A * s + B * s ** 3 + C * s ** 5


# 1. The scalar map, step by step, for a few normalised singular values.
print("s after k quintic steps (k = 0..5):")
for s0 in [0.001, 0.01, 0.1, 0.5, 1.0]:
    s, trail = torch.tensor(s0, dtype=torch.float64), [s0]
    for _ in range(5):
        s = p(s)
        trail.append(s.item())
    print(f"  s0 = {s0:<6} -> " + "  ".join(f"{v:.4f}" for v in trail[1:]))

grid = torch.logspace(-4, 0, 4001, dtype=torch.float64)
out = grid.clone()
for _ in range(5):
    out = p(out)
band = out[grid >= 0.002]
print(f"after 5 steps, every s0 in [0.002, 1] lands in [{band.min():.3f}, {band.max():.3f}]")

# 2. A random gradient-like matrix: Newton-Schulz against the exact U V^T.
g = torch.Generator().manual_seed(0)
G = torch.randn(64, 256, generator=g) * torch.logspace(0, -2, 256)   # columns of very different size
U, S, Vh = torch.linalg.svd(G, full_matrices=False)
exact = U @ Vh
approx = newton_schulz(G)
sv = torch.linalg.svdvals(approx)
print(f"\nG (64, 256): normalised singular values s/||G||_F from {S.min() / S.norm():.4f} to {S.max() / S.norm():.4f}")
print(f"newton_schulz(G) singular values: min {sv.min():.3f}, max {sv.max():.3f}; U V^T: all 1")
print(f"relative Frobenius distance ||NS(G) - U V^T|| / ||U V^T|| = {(approx - exact).norm() / exact.norm():.3f}")
core = U.T @ approx @ Vh.T          # in G's singular bases: should be diagonal
off = (core - torch.diag(torch.diag(core))).norm() / core.norm()
print(f"U^T NS(G) V is diagonal up to {off:.3f} (relative off-diagonal mass): same singular vectors as G")

predicted = S / S.norm()
for _ in range(5):
    predicted = p(predicted)
measured = torch.diag(core)
print(f"measured vs scalar prediction p^5(s): max |diff| = {(measured - predicted).abs().max():.3f} (bf16 rounding)")

# 3. Orientation: tall matrices are transposed so the Gram matrix is the small one.
tall = torch.randn(1024, 64, generator=g)
t0 = time.perf_counter(); newton_schulz(tall); t_ref = time.perf_counter() - t0
x = tall.bfloat16() / tall.norm()
t0 = time.perf_counter()
for _ in range(5):
    gram = x @ x.mT                 # (1024, 1024) if we do not transpose
    x = A * x + (B * gram + C * gram @ gram) @ x
t_naive = time.perf_counter() - t0
print(f"\ntall (1024, 64): Gram 64 x 64 with the transpose {t_ref * 1e3:.1f} ms; "
      f"Gram 1024 x 1024 without {t_naive * 1e3:.1f} ms")

# Figure: the scalar map iterated, and the measured spectrum.
fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(10, 3.9))
s = grid.clone()
for k in range(1, 6):
    s = p(s)
    ax1.semilogx(grid, s, label=f"{k} step{'s' if k > 1 else ''}", lw=1.2 if k < 5 else 2.2)
ax1.axhline(1.0, color="k", ls=":", lw=1)
ax1.set_xlabel("normalised singular value $s_0 = \\sigma/\\|G\\|_F$")
ax1.set_ylabel("$p^{k}(s_0)$")
ax1.set_title("Quintic $p(s)=3.4445s-4.7750s^3+2.0315s^5$ iterated")
ax1.legend(fontsize=8)
ax1.grid(alpha=0.3)
order = S / S.norm()
ax2.semilogx(order, measured, "o", ms=3, label="newton_schulz(G), bf16")
ax2.semilogx(order, predicted, "-", lw=1, label="scalar prediction $p^5(s_0)$")
ax2.semilogx(order, torch.ones_like(order), "k:", label="SVD: $UV^T$")
ax2.set_xlabel("$s_0$ of G (64 x 256)")
ax2.set_ylabel("singular value after orthogonalisation")
ax2.set_title("Near 1, not at 1")
ax2.legend(fontsize=8)
ax2.grid(alpha=0.3)
ax2.xaxis.set_minor_formatter(matplotlib.ticker.NullFormatter())
fig.tight_layout()
fig.savefig(HERE / "newton_schulz.png", dpi=110)
print("wrote newton_schulz.png")
