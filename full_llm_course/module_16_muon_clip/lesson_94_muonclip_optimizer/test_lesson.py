"""Graded tests for lesson 94: kimik2.qk_clip.muon_and_adamw_parameters and MuonClip.step."""

import importlib
import io
import math

import pytest
import torch
from kimi_course.testing import assert_close


pytestmark = pytest.mark.usefixtures("one_thread")    # many tiny matmuls: thread hand-offs cost more than they save

VARIANTS = {"tiny": {}, "no_q_lora": dict(q_lora_rank=None), "tied": dict(tie_word_embeddings=True),
            "bias": dict(attention_bias=True)}


def _qk_clip(module):
    return importlib.import_module(module.__name__ + ".qk_clip")


def _model(package, seed=0, **overrides):
    torch.manual_seed(seed)
    model = package.KimiK2ForCausalLM(package.KimiK2Config.tiny(num_hidden_layers=2, n_routed_experts=4, num_experts_per_tok=2, **overrides))
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():                                  # O(1) logits so that a low tau really clips
        for p in model.parameters():
            if p.dim() == 2 and p.requires_grad:
                p.copy_(0.1 * torch.randn(p.shape, generator=g))
    return model


def _steps(model, optimizer, batches):
    for ids in batches:
        optimizer.zero_grad()
        out = model(ids, labels=ids)
        (out.loss + out.aux_loss).backward()
        optimizer.step()


def _batches(n, vocab, seed=5):
    g = torch.Generator().manual_seed(seed)
    return [torch.randint(0, vocab, (2, 16), generator=g) for _ in range(n)]


@pytest.mark.parametrize("name", list(VARIANTS))
def test_parameter_split(impl, name):
    model = _model(impl, **VARIANTS[name])
    muon, adamw = _qk_clip(impl).muon_and_adamw_parameters(model)
    muon_names, adamw_names = [n for n, _ in muon], [n for n, _ in adamw]
    tables = {"model.embed_tokens.weight", "lm_head.weight"}
    expected_muon = [n for n, p in model.named_parameters() if p.requires_grad and p.dim() == 2 and n not in tables]
    expected_adamw = [n for n, p in model.named_parameters() if p.requires_grad and (p.dim() < 2 or n in tables)]
    assert sorted(muon_names) == sorted(expected_muon), (
        f"Muon group ({name}): missing {sorted(set(expected_muon) - set(muon_names))[:4]}, extra "
        f"{sorted(set(muon_names) - set(expected_muon))[:4]}: every 2-D hidden matrix incl. mlp.gate.weight, "
        "never the embedding or lm_head (teaching.md §Which parameter goes to which algorithm?)")
    assert sorted(adamw_names) == sorted(expected_adamw), (
        f"AdamW group ({name}): missing {sorted(set(expected_adamw) - set(adamw_names))[:4]}, extra "
        f"{sorted(set(adamw_names) - set(expected_adamw))[:4]}: embedding, lm_head, norms, biases")
    assert not any("e_score_correction_bias" in n for n in muon_names + adamw_names), (
        "e_score_correction_bias has requires_grad=False: it belongs to neither group")
    assert all(p is model.get_parameter(n) for n, p in muon + adamw), "return (name, the parameter itself) pairs"


def test_muonclip_steps_match_reference(impl, reference):
    mine, ref = _model(impl), _model(reference)
    opt_mine = _qk_clip(impl).MuonClip(mine, lr=3e-2, qk_clip_tau=2.0)
    opt_ref = _qk_clip(reference).MuonClip(ref, lr=3e-2, qk_clip_tau=2.0)
    batches = _batches(3, mine.config.vocab_size)
    for step, ids in enumerate(batches[:2]):
        _steps(mine, opt_mine, [ids])
        _steps(ref, opt_ref, [ids])
        assert set(opt_mine.last_max_logits) == set(opt_ref.last_max_logits), (
            "last_max_logits must map each attention's module name to its (heads,) max logits")
        for key, value in opt_ref.last_max_logits.items():
            assert_close(opt_mine.last_max_logits[key], value, atol=1e-5, what=f"last_max_logits[{key}] at step {step}",
                         hint="store the pre-clip max_logit before resetting it: teaching.md §The step")
    assert any(bool((v > 2.0).any()) for v in opt_ref.last_max_logits.values()), "test setup: the clip never acted"
    for (name, p), q in zip(mine.named_parameters(), ref.parameters()):
        assert_close(p.detach(), q.detach(), atol=1e-5, what=f"{name} after 2 MuonClip steps",
                     hint="Muon group, AdamW group, then qk_clip_ per attention, then reset: teaching.md §The step")
    assert all(a.max_logit is None for a in opt_mine.attentions.values()), (
        "after step() every attention's max_logit must be reset to None")


def test_no_clip_equals_muon_plus_torch_adamw(impl, reference):
    """Independent: with tau = inf, MuonClip is the answer key's Muon on the matrices plus torch.optim.AdamW on the rest."""
    mine, theirs = _model(impl, seed=2), _model(reference, seed=2)
    muon_module = importlib.import_module(reference.__name__ + ".muon")
    tables = {"model.embed_tokens.weight", "lm_head.weight"}
    matrices = [p for n, p in theirs.named_parameters() if p.requires_grad and p.dim() == 2 and n not in tables]
    others = [p for n, p in theirs.named_parameters() if p.requires_grad and (p.dim() < 2 or n in tables)]
    opt_theirs = [muon_module.Muon(matrices, lr=1e-2, weight_decay=0.1),
                  torch.optim.AdamW(others, lr=1e-2, weight_decay=0.1, betas=(0.9, 0.95), eps=1e-8, foreach=False)]
    opt_mine = _qk_clip(impl).MuonClip(mine, lr=1e-2, qk_clip_tau=math.inf)
    for ids in _batches(2, mine.config.vocab_size, seed=6):
        _steps(mine, opt_mine, [ids])
        for opt in opt_theirs:
            opt.zero_grad()
        out = theirs(ids, labels=ids)
        (out.loss + out.aux_loss).backward()
        for opt in opt_theirs:
            opt.step()
    for (name, p), q in zip(mine.named_parameters(), theirs.parameters()):
        assert_close(p.detach(), q.detach(), atol=1e-6, what=f"{name} after 2 steps with tau = inf",
                     hint="Muon for hidden matrices, AdamW (adamw_step_) for the rest: teaching.md §The step")


def test_state_dict_round_trip(impl):
    model = _model(impl, seed=3)
    optimizer = _qk_clip(impl).MuonClip(model, lr=3e-2, qk_clip_tau=2.0)
    batches = _batches(4, model.config.vocab_size, seed=7)
    _steps(model, optimizer, batches[:1])
    buffer = io.BytesIO()
    torch.save({"model": model.state_dict(), "optimizer": optimizer.state_dict()}, buffer)
    buffer.seek(0)
    saved = torch.load(buffer)
    resumed = impl.KimiK2ForCausalLM(model.config)
    resumed.load_state_dict(saved["model"])
    resumed_optimizer = _qk_clip(impl).MuonClip(resumed, lr=7.0, qk_clip_tau=2.0)
    resumed_optimizer.load_state_dict(saved["optimizer"])
    _steps(model, optimizer, batches[1:2])
    _steps(resumed, resumed_optimizer, batches[1:2])
    for (name, p), q in zip(model.named_parameters(), resumed.parameters()):
        assert torch.equal(p, q), f"{name} differs after resuming: teaching.md §Saving and resuming"
