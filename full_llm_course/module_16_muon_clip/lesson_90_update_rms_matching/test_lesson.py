"""Graded tests for lesson 90: kimik2.muon.rms_matching_scale (Muon's update RMS matched to AdamW's 0.2)."""

import importlib
import math

import pytest
import torch
from kimi_course.testing import assert_close

SHAPES = {"square (64, 64)": (64, 64), "wide (32, 96)": (32, 96), "tall (96, 32)": (96, 32),
          "Kimi-K2 expert gate_proj (2048, 7168)": (2048, 7168), "Kimi-K2 down_proj (7168, 2048)": (7168, 2048),
          "Kimi-K2 kv_b_proj (16384, 512)": (16384, 512), "Kimi-K2 o_proj (7168, 8192)": (7168, 8192)}


def _muon(module):
    return importlib.import_module(module.__name__ + ".muon")


@pytest.mark.parametrize("label", list(SHAPES))
def test_scale_matches_reference_and_formula(impl, reference, label):
    shape = torch.Size(SHAPES[label])
    got = _muon(impl).rms_matching_scale(shape)
    want = _muon(reference).rms_matching_scale(shape)
    assert isinstance(got, float), f"rms_matching_scale({tuple(shape)}) returned {type(got).__name__}, expected a float"
    assert math.isclose(got, want, rel_tol=1e-12), (
        f"rms_matching_scale({tuple(shape)}) = {got}, expected {want} = 0.2 sqrt(max(A, B)): the larger of the two "
        "dimensions, for tall and wide alike (teaching.md §Why max(A, B))")
    assert math.isclose(got, 0.2 * math.sqrt(max(shape)), rel_tol=1e-12)


def test_scaled_semi_orthogonal_matrix_has_rms_0_2(impl):
    """Independent: an exactly semi-orthogonal Q from QR, times the scale, has RMS 0.2."""
    g = torch.Generator().manual_seed(0)
    for shape in [(48, 48), (120, 30), (30, 120)]:
        q = torch.linalg.qr(torch.randn(max(shape), min(shape), generator=g, dtype=torch.float64))[0]
        q = q if shape[0] >= shape[1] else q.T
        scaled = q * _muon(impl).rms_matching_scale(torch.Size(shape))
        rms = scaled.pow(2).mean().sqrt()
        assert_close(rms, torch.tensor(0.2, dtype=torch.float64), atol=1e-9,
                     what=f"RMS of rms_matching_scale({shape}) * semi-orthogonal Q {shape}",
                     hint="RMS(Q) = sqrt(min/(A B)) = 1/sqrt(max(A, B)) (teaching.md §The arithmetic)")


@pytest.mark.parametrize("shape", [(192, 64), (64, 192)])
def test_muon_step_has_adamw_sized_update(impl, reference, shape):
    """One Muon step from W = 0 without decay: RMS(Delta W)/lr is 0.2 x RMS of the NS singular values."""
    grad = torch.randn(*shape, generator=torch.Generator().manual_seed(1))
    updates = {}
    for name, module in [("impl", impl), ("reference", reference)]:
        param = torch.nn.Parameter(torch.zeros(*shape))
        param.grad = grad.clone()
        _muon(module).Muon([param], lr=1e-3, weight_decay=0.0).step()
        updates[name] = param.detach() / 1e-3
    rms = updates["impl"].pow(2).mean().sqrt().item()
    assert 0.2 * 0.66 <= rms <= 0.2 * 1.22, (f"Muon update RMS / lr = {rms:.3f} for {shape}, expected about 0.2 "
                                             "(teaching.md §The arithmetic)")
    assert_close(updates["impl"], updates["reference"], atol=1e-4, what=f"Muon update / lr for {shape}",
                 hint="muon_update_ multiplies the orthogonal update by rms_matching_scale(shape)")
