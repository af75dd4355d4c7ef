"""Lesson 25: rotate_half, the 90-degree turn that pairs dimension i with i + d/2.

Run: python code_snippets.py   (prints the numbers quoted in teaching.md, writes rotate_half_matrix.png)
"""
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import torch

from kimik2.rope import rotate_half

HERE = Path(__file__).parent
torch.set_printoptions(precision=4, sci_mode=False, linewidth=110)

x = torch.arange(8.0)
print("x                 :", x)
print("rotate_half(x)    :", rotate_half(x))
print("rotate_half twice :", rotate_half(rotate_half(x)))

# rotate_half is a linear map: its matrix J (columns = images of the unit vectors).
d = 8
J = rotate_half(torch.eye(d)).T          # J @ x == rotate_half(x)
print("J @ x == rotate_half(x):", torch.equal(J @ x, rotate_half(x)), "  J @ J == -I:", torch.equal(J @ J, -torch.eye(d)),
      "  J^T == -J:", torch.equal(J.T, -J))

# One angle per pair: x*cos + rotate_half(x)*sin turns pair (x_i, x_{i+d/2}) by angle a_i.
angles = torch.tensor([0.5, 1.0, 2.0, 3.0])
cos, sin = torch.cat([angles, angles]).cos(), torch.cat([angles, angles]).sin()
y = x * cos + rotate_half(x) * sin
z = torch.complex(x[:4], x[4:]) * torch.polar(torch.ones(4), angles)   # complex number per split-half pair
print("x*cos + rotate_half(x)*sin:", y)
print("as complex (x_i + i x_{i+4}) * e^{i a_i}:", torch.cat([z.real, z.imag]))
print("equal:", torch.allclose(y, torch.cat([z.real, z.imag]), atol=1e-6),
      " norm kept:", torch.allclose(y.norm(), x.norm()))

# Any leading shape: q_pe of Kimi-K2 is (batch, 64 heads, seq, 64), k_pe is (batch, 1, seq, 64).
g = torch.Generator().manual_seed(0)
for shape in ((64,), (2, 64, 5, 64), (2, 1, 5, 64)):
    t = torch.randn(shape, generator=g)
    print(f"shape {shape}: out {tuple(rotate_half(t).shape)}, first half of out == -second half of in:",
          torch.equal(rotate_half(t)[..., :32], -t[..., 32:]))

# The picture: split-half pairing (rotate_half) vs interleaved pairing (the checkpoint's layout).
J_inter = torch.zeros(d, d)
for p in range(d // 2):
    J_inter[2 * p, 2 * p + 1], J_inter[2 * p + 1, 2 * p] = -1.0, 1.0
fig, axes = plt.subplots(1, 2, figsize=(9, 4.2))
for ax, M, title in ((axes[0], J, "rotate_half: pairs (i, i+d/2)"), (axes[1], J_inter, "interleaved: pairs (2p, 2p+1)")):
    ax.imshow(M, cmap="bwr", vmin=-2.5, vmax=2.5)
    for (r, c), v in zip(torch.nonzero(M).tolist(), M[M != 0].tolist()):
        ax.text(c, r, f"{v:+.0f}", ha="center", va="center", fontsize=9)
    ax.set_xticks(range(d))
    ax.set_yticks(range(d))
    ax.set_xlabel("input dim")
    ax.set_ylabel("output dim")
    ax.set_title(title, fontsize=10)
fig.suptitle("The 90° turn as a matrix (d = 8): same idea, different pairing", fontsize=11)
fig.tight_layout()
fig.savefig(HERE / "rotate_half_matrix.png", dpi=110)
print("wrote rotate_half_matrix.png")
