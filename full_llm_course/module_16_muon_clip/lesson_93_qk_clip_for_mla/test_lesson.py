"""Graded tests for lesson 93: kimik2.qk_clip.qk_clip_ (QK-Clip on MLA weights)."""

import importlib

import pytest
import torch
from kimi_course.testing import assert_close

KIMI_HEADS = dict(hidden_size=256, num_attention_heads=2, num_key_value_heads=2, q_lora_rank=96, kv_lora_rank=512,
                  qk_nope_head_dim=128, qk_rope_head_dim=64, v_head_dim=128)
CONFIGS = {"tiny": dict(v_head_dim=12), "no_q_lora": dict(q_lora_rank=None, v_head_dim=12), "kimi_heads": KIMI_HEADS}


def _qk_clip(module):
    return importlib.import_module(module.__name__ + ".qk_clip")


def _pair(impl, reference, overrides, seed=0):
    torch.manual_seed(seed)
    ref = reference.DeepseekV3Attention(reference.KimiK2Config.tiny(**overrides), layer_idx=0)
    mine = impl.DeepseekV3Attention(impl.KimiK2Config.tiny(**overrides), layer_idx=0)
    mine.load_state_dict(ref.state_dict())
    return mine, ref


@torch.no_grad()
def _logits_per_head(attn, x):
    """(h, b, s, s) scaled causal logits, one head at a time, straight from the weight rows."""
    h, nope, rope = attn.num_heads, attn.qk_nope_head_dim, attn.qk_rope_head_dim
    s = x.shape[1]
    q_all = attn.project_queries(x)                                        # (b, h, s, nope + rope)
    latent, k_pe = attn.project_latent(x)                                  # (b, s, r), (b, 1, s, rope)
    kv = latent @ attn.kv_b_proj.weight.T                                  # (b, s, h * (nope + v))
    kv = kv.view(x.shape[0], s, h, -1)
    out = []
    for head in range(h):
        q_nope, q_pe = q_all[:, head, :, :nope], q_all[:, head:head + 1, :, nope:]
        q_pe, k_pe_rot = attn.apply_decoupled_rope(q_pe, k_pe, torch.arange(s)[None], 0)
        k_nope = kv[:, :, head, :nope]
        logits = (q_nope @ k_nope.transpose(1, 2) + (q_pe @ k_pe_rot.transpose(2, 3))[:, 0]) * attn.softmax_scale
        out.append(logits.masked_fill(torch.ones(s, s, dtype=torch.bool).triu(1), float("-inf")))
    return torch.stack(out)


def _explode(attn, head, factor=6.0):
    with torch.no_grad():
        rows = attn.q_b_proj if attn.q_lora_rank is not None else attn.q_proj
        rows.weight.view(attn.num_heads, attn.q_head_dim, -1)[head] *= factor


@pytest.mark.parametrize("name", list(CONFIGS))
def test_qk_clip_matches_reference(impl, reference, name):
    mine, ref = _pair(impl, reference, CONFIGS[name])
    heads = ref.num_heads
    g = torch.Generator().manual_seed(3)
    max_logit = 50 + 100 * torch.rand(heads, generator=g)
    max_logit[0] = 250.0                                                   # at least one head over tau
    gamma_mine = _qk_clip(impl).qk_clip_(mine, max_logit.clone(), 100.0)
    gamma_ref = _qk_clip(reference).qk_clip_(ref, max_logit.clone(), 100.0)
    assert_close(gamma_mine, gamma_ref, what=f"qk_clip_ return value ({name})", hint="return gamma from clip_factors")
    for (pname, p_mine), p_ref in zip(mine.named_parameters(), ref.parameters()):
        assert_close(p_mine.detach(), p_ref.detach(), atol=1e-6, what=f"{pname} after qk_clip_ ({name})",
                     hint="q_nope and k_nope rows x sqrt(gamma), q_pe rows x gamma, k_pe and v rows untouched: "
                          "teaching.md §The code")


@pytest.mark.parametrize("name", ["tiny", "no_q_lora"])
def test_clipped_head_lands_on_tau_others_bitwise_unchanged(impl, reference, name):
    mine, _ = _pair(impl, reference, CONFIGS[name], seed=1)
    _explode(mine, head=1)
    x = torch.randn(2, 12, mine.hidden_size, generator=torch.Generator().manual_seed(2))
    before = _logits_per_head(mine, x)
    s_max = before.amax(dim=(1, 2, 3))                                     # (h,)
    top2 = s_max.sort().values[-2:]
    tau = float(top2.sum()) / 2                                            # only the exploded head is over tau
    _qk_clip(impl).qk_clip_(mine, s_max, tau)
    after = _logits_per_head(mine, x)
    new_max = after.amax(dim=(1, 2, 3))
    clipped = s_max > tau
    assert int(clipped.sum()) == 1
    assert_close(new_max[clipped], torch.tensor([tau]), atol=1e-4 * tau, what=f"clipped head's new max logit ({name})",
                 hint="logits must shrink by gamma = tau / S_max: teaching.md §The logit of one MLA head")
    for head in torch.nonzero(~clipped).flatten().tolist():
        assert torch.equal(after[head], before[head]), (
            f"head {head} was below tau but its logits changed ({name}): only clipped heads' rows may be touched, "
            "and never the shared k_pe rows of kv_a_proj_with_mqa (teaching.md §Pitfalls)")


def test_shared_rope_key_and_values_untouched(impl, reference):
    mine, _ = _pair(impl, reference, CONFIGS["tiny"], seed=4)
    h, nope = mine.num_heads, mine.qk_nope_head_dim
    kv_a = mine.kv_a_proj_with_mqa.weight.detach().clone()
    kv_b = mine.kv_b_proj.weight.detach().clone()
    q_b = mine.q_b_proj.weight.detach().clone()
    gamma = torch.tensor([0.25, 1.0, 1.0, 0.64])[:h]
    _qk_clip(impl).qk_clip_(mine, 100.0 / gamma, 100.0)
    assert torch.equal(mine.kv_a_proj_with_mqa.weight, kv_a), "kv_a_proj_with_mqa changed: the shared k_pe is never clipped"
    kv_view, kv_old = mine.kv_b_proj.weight.view(h, nope + mine.v_head_dim, -1), kv_b.view(h, nope + mine.v_head_dim, -1)
    assert torch.equal(kv_view[:, nope:], kv_old[:, nope:]), "value rows of kv_b_proj changed: values carry no logit"
    q_view, q_old = mine.q_b_proj.weight.view(h, mine.q_head_dim, -1), q_b.view(h, mine.q_head_dim, -1)
    for head in range(h):
        g = float(gamma[head])
        assert_close(q_view[head, :nope], q_old[head, :nope] * g ** 0.5, atol=1e-6, what=f"q_nope rows of head {head}",
                     hint="x sqrt(gamma)")
        assert_close(q_view[head, nope:], q_old[head, nope:] * g, atol=1e-6, what=f"q_pe rows of head {head}",
                     hint="x gamma (the whole factor: the key side is shared)")
        assert_close(kv_view[head, :nope], kv_old[head, :nope] * g ** 0.5, atol=1e-6, what=f"k_nope rows of head {head}",
                     hint="x sqrt(gamma)")
