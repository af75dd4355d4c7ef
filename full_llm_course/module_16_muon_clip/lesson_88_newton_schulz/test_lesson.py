"""Graded tests for lesson 88: kimik2.muon.newton_schulz (quintic Newton-Schulz orthogonalisation)."""

import importlib

import pytest
import torch
from kimi_course.testing import assert_close

COEFFICIENTS = (3.4445, -4.7750, 2.0315)


def _muon(module):
    return importlib.import_module(module.__name__ + ".muon")


def _with_spectrum(rows, cols, singular_values, seed):
    g = torch.Generator().manual_seed(seed)
    k = min(rows, cols)
    u = torch.linalg.qr(torch.randn(rows, k, generator=g, dtype=torch.float64))[0]
    v = torch.linalg.qr(torch.randn(cols, k, generator=g, dtype=torch.float64))[0]
    return (u * singular_values) @ v.T, u, v


SHAPES = {"wide (24, 40)": (24, 40), "tall (40, 24)": (40, 24), "square (32, 32)": (32, 32),
          "batch (3, 16, 24)": (3, 16, 24), "Kimi-K2 width, tall (7168, 64)": (7168, 64)}


@pytest.mark.parametrize("label", list(SHAPES))
def test_newton_schulz_matches_reference(impl, reference, label):
    matrix = torch.randn(*SHAPES[label], generator=torch.Generator().manual_seed(0))
    got, want = _muon(impl).newton_schulz(matrix), _muon(reference).newton_schulz(matrix)
    scale = want.abs().max().item()
    assert_close(got, want, atol=0.06 * scale, what=f"newton_schulz(randn{SHAPES[label]}) (float32 in and out)",
                 hint="Frobenius-normalise, then 5 steps X <- a X + (b A + c A A) X with A = X X^T and "
                      "(a, b, c) = (3.4445, -4.7750, 2.0315); return the input's dtype (teaching.md §The code)")


def test_singular_values_follow_the_scalar_map(impl):
    """Independent check: on U diag(s) V^T, NS acts on each singular value as the quintic p iterated 5 times."""
    s = torch.logspace(0, -2, 24, dtype=torch.float64)
    matrix, u, v = _with_spectrum(24, 48, s, seed=1)
    out = _muon(impl).newton_schulz(matrix.float()).double()
    core = u.T @ out @ v                                                      # (24, 24), diagonal if vectors kept
    off = (core - torch.diag(torch.diag(core))).norm() / core.norm()
    assert off < 0.05, (f"U^T newton_schulz(G) V has {off:.3f} of its mass off the diagonal: the singular vectors "
                        "of G must be kept, only the singular values move (teaching.md §What the iteration does)")
    predicted = s / s.norm()
    a, b, c = COEFFICIENTS
    for _ in range(5):
        predicted = a * predicted + b * predicted ** 3 + c * predicted ** 5
    assert_close(torch.diag(core), predicted, atol=0.03,
                 what="singular values of newton_schulz(U diag(s) V^T) vs p^5(s / ||s||) (float64 scalar loop)",
                 hint="normalise by the Frobenius norm (not the spectral norm), use the quintic coefficients "
                      "and exactly 5 steps (teaching.md §What the iteration does)")


def test_close_to_svd_orthogonal_factor(impl):
    """Against the SVD: all singular values in [0.66, 1.22] and the same U, V as U V^T."""
    matrix = torch.randn(48, 96, generator=torch.Generator().manual_seed(2))
    out = _muon(impl).newton_schulz(matrix)
    measured = torch.linalg.svdvals(out.float())
    assert 0.66 <= measured.min() and measured.max() <= 1.22, (
        f"singular values of newton_schulz(randn(48, 96)) span [{measured.min():.3f}, {measured.max():.3f}]; "
        "5 quintic steps put them in about [0.68, 1.20] (teaching.md §Near 1, not at 1)")
    u, _, vh = torch.linalg.svd(matrix, full_matrices=False)
    distance = ((out - u @ vh).norm() / (u @ vh).norm()).item()
    assert distance < 0.35, f"||NS(G) - U V^T|| / ||U V^T|| = {distance:.3f}, expected about 0.2"


def test_tall_matrices_use_the_wide_orientation(impl):
    """A tall matrix is transposed, orthogonalised wide, and transposed back: bit for bit the same numbers."""
    tall = torch.randn(96, 40, generator=torch.Generator().manual_seed(3))
    ns = _muon(impl).newton_schulz
    got = ns(tall)
    assert got.shape == tall.shape, f"shape {tuple(got.shape)} != {tuple(tall.shape)}"
    assert torch.equal(got, ns(tall.mT.contiguous()).mT), (
        "newton_schulz(M) for a tall M must equal newton_schulz(M^T)^T exactly: transpose tall inputs so "
        "X X^T is the small (40 x 40) Gram matrix (teaching.md §Orientation)")


def test_dtype_batch_and_zero(impl):
    ns = _muon(impl).newton_schulz
    x = torch.randn(2, 3, 8, 12, generator=torch.Generator().manual_seed(4))
    batched = ns(x)
    assert batched.shape == x.shape and batched.dtype == torch.float32, "leading dimensions are a batch"
    for index in [(0, 0), (1, 2)]:
        assert_close(batched[index], ns(x[index]), atol=1e-2, what=f"batch entry {index} vs alone",
                     hint="normalise each matrix by its own Frobenius norm: norm(dim=(-2, -1), keepdim=True)")
    assert ns(x.bfloat16()).dtype == torch.bfloat16, "return the input's dtype"
    zero = ns(torch.zeros(8, 5))
    assert torch.equal(zero, torch.zeros(8, 5)), "a zero matrix must give zeros (clamp the norm by NS_EPS), not NaN"
