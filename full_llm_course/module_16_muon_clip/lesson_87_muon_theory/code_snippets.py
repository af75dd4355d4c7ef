"""Lesson 87: why Muon orthogonalises. Steepest descent under three norms, msign = U V^T, the gradient's spectrum."""

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import torch

torch.set_num_threads(1)
HERE = Path(__file__).parent


def msign(g: torch.Tensor) -> torch.Tensor:
    u, _, vh = torch.linalg.svd(g, full_matrices=False)
    return u @ vh


# 1. A gradient of a real (tiny) layer: a linear regression with a low-rank teacher.
g = torch.Generator().manual_seed(0)
x = torch.randn(256, 64, generator=g)
teacher = torch.randn(64, 4, generator=g) @ torch.randn(4, 32, generator=g)     # rank-4 target map
weight = (0.02 * torch.randn(64, 32, generator=g)).requires_grad_()
loss = ((x @ weight - x @ teacher) ** 2).mean()
loss.backward()
grad = weight.grad.T.contiguous()                                               # (32, 64) like nn.Linear.weight
s = torch.linalg.svdvals(grad)
print(f"gradient shape {tuple(grad.shape)}, top 6 singular values: {[round(v, 4) for v in s[:6].tolist()]}")
print(f"sigma_1 / sigma_5 = {s[0] / s[4]:.1f}   (the gradient is nearly rank 4)")

# 2. Steepest descent: the unit-norm direction D maximising <G, D> under three norms.
directions = {
    "Frobenius (SGD): G / ||G||_F": grad / grad.norm(),
    "max-abs (signSGD ~ Adam): sign(G)": grad.sign(),
    "spectral (Muon): U V^T": msign(grad),
}
print(f"\n{'norm ball':38s} {'<G, D>':>9s} {'||D||_2':>8s} {'||D||_F':>8s}")
for name, d in directions.items():
    print(f"{name:38s} {(grad * d).sum():9.4f} {torch.linalg.matrix_norm(d, 2):8.3f} {d.norm():8.3f}")
print(f"nuclear norm of G (sum of singular values) = {s.sum():.4f}")

# 3. No spectral-norm-1 matrix beats U V^T: try 2000 random ones.
best = max((grad * msign(torch.randn(32, 64, generator=g))).sum().item() for _ in range(2000))
print(f"best <G, D> over 2000 random D with ||D||_2 = 1: {best:.4f}  (U V^T gives {s.sum():.4f})")

# 4. The update's spectrum: every direction gets the same step.
o = msign(grad)
print(f"\nsingular values of U V^T: min {torch.linalg.svdvals(o).min():.4f}, max {torch.linalg.svdvals(o).max():.4f}")
print(f"RMS of U V^T (32 x 64) = {o.pow(2).mean().sqrt():.4f};  1/sqrt(64) = {64 ** -0.5:.4f}")

fig, ax = plt.subplots(figsize=(6.4, 3.8))
ax.semilogy(range(1, 33), s / s[0], "o-", label="gradient G (normalised by $\\sigma_1$)")
ax.semilogy(range(1, 33), torch.linalg.svdvals(o), "s-", label="Muon direction $UV^T$")
sd = torch.linalg.svdvals(grad.sign())
ax.semilogy(range(1, 33), sd / sd[0], "^-", label="sign(G) (normalised)")
ax.set_xlabel("singular value index")
ax.set_ylabel("singular value (relative)")
ax.set_title("A rank-4-ish gradient: $UV^T$ gives every direction the same size")
ax.legend(fontsize=8)
ax.grid(alpha=0.3)
fig.tight_layout()
fig.savefig(HERE / "spectra.png", dpi=110)
print("wrote spectra.png")
