"""Graded tests for lesson 83: kimik2.training.trainer.build_optimizer (AdamW, and the Muon branches)."""

import importlib
import math

import pytest
import torch
from kimi_course.testing import assert_close


pytestmark = pytest.mark.usefixtures("one_thread")    # many tiny matmuls: thread hand-offs cost more than they save


def _trainer(package):
    return importlib.import_module(package.__name__ + ".training.trainer")


def _model(package, seed=0):
    torch.manual_seed(seed)
    return package.KimiK2ForCausalLM(package.KimiK2Config.tiny(vocab_size=128, num_hidden_layers=2))


def _settings(package, **overrides):
    return _trainer(package).TrainSettings(**(dict(optimizer="adamw", lr=1e-3) | overrides))


@pytest.mark.parametrize("weight_decay", [0.1, 0.05])
def test_adamw_gets_every_trainable_parameter_and_the_recipe(impl, weight_decay):
    model = _model(impl)
    optimizer = _trainer(impl).build_optimizer(model, _settings(impl, lr=2e-3, weight_decay=weight_decay))
    assert isinstance(optimizer, torch.optim.AdamW), (
        f"optimizer='adamw' built a {type(optimizer).__name__}; expected torch.optim.AdamW "
        "(Adam with weight_decay is L2, not decoupled: teaching.md §Decoupled weight decay)")
    given = {id(p) for group in optimizer.param_groups for p in group["params"]}
    trainable = {id(p) for p in model.parameters() if p.requires_grad}
    frozen = [name for name, p in model.named_parameters() if not p.requires_grad]
    assert given == trainable, (
        f"the optimizer holds {len(given)} tensors; expected the {len(trainable)} with requires_grad=True "
        f"(leave out {frozen[:1]}..., moved by the balancing rule: teaching.md §The code)")
    for group in optimizer.param_groups:
        assert group["betas"] == (0.9, 0.95), f"betas {group['betas']}; the recipe uses (0.9, 0.95), not torch's (0.9, 0.999)"
        assert group["weight_decay"] == weight_decay, \
            f"weight_decay {group['weight_decay']}; take it from settings.weight_decay ({weight_decay})"
        assert group["lr"] == 2e-3, f"lr {group['lr']}; take it from settings.lr (2e-3)"
        assert group["eps"] == 1e-8, f"eps {group['eps']}; keep AdamW's default 1e-8"


def _step_twice(package, model, batch):
    optimizer = _trainer(package).build_optimizer(model, _settings(package, lr=1e-2))
    for _ in range(2):
        model(batch, labels=batch).loss.backward()
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)
    return optimizer


def test_one_adamw_step_matches_the_formula(impl):
    batch = torch.randint(0, 128, (2, 12), generator=torch.Generator().manual_seed(1))
    model = _model(impl)
    optimizer = _trainer(impl).build_optimizer(model, _settings(impl, lr=1e-2))
    weight = model.model.layers[0].self_attn.q_b_proj.weight
    start = weight.detach().clone()
    model(batch, labels=batch).loss.backward()
    g = weight.grad.clone()
    optimizer.step()
    m_hat, v_hat = (0.1 * g) / (1 - 0.9), (0.05 * g * g) / (1 - 0.95)         # bias-corrected moments, t = 1
    expected = start * (1 - 1e-2 * 0.1) - 1e-2 * m_hat / (v_hat.sqrt() + 1e-8)
    assert_close(weight.detach(), expected, atol=1e-6, what="q_b_proj.weight of layer 0 after one step (lr 1e-2)",
                 hint="decoupled decay w (1 - lr lambda), then w - lr m_hat / (sqrt(v_hat) + eps), betas (0.9, 0.95): "
                      "teaching.md §Adam in four lines")


def test_two_adamw_steps_match_the_answer_key(impl, reference):
    batch = torch.randint(0, 128, (2, 12), generator=torch.Generator().manual_seed(2))
    mine, ref = _model(impl), _model(reference)
    _step_twice(impl, mine, batch)
    _step_twice(reference, ref, batch)
    for (name, got), want in zip(mine.named_parameters(), ref.parameters()):
        assert_close(got.detach(), want.detach(), atol=1e-6, what=f"{name} after two steps vs the answer key",
                     hint="AdamW(trainable parameters, lr, betas=(0.9, 0.95), weight_decay): teaching.md §The code")


@pytest.mark.parametrize("name, tau", [("muon", math.inf), ("muonclip", 100.0)])
def test_muon_branches_build_muonclip(impl, name, tau):
    model = _model(impl)
    optimizer = _trainer(impl).build_optimizer(model, _settings(impl, optimizer=name, lr=2e-2, weight_decay=0.05))
    muon_clip = importlib.import_module(impl.__name__ + ".qk_clip").MuonClip
    assert isinstance(optimizer, muon_clip), f"optimizer={name!r} built a {type(optimizer).__name__}; expected MuonClip"
    assert optimizer.qk_clip_tau == tau, (
        f"optimizer={name!r}: qk_clip_tau {optimizer.qk_clip_tau}; expected {tau} ('muon' turns QK-Clip off with "
        "math.inf, 'muonclip' uses settings.qk_clip_tau)")
    for group in optimizer.param_groups:
        assert group["lr"] == 2e-2 and group["weight_decay"] == 0.05, \
            f"{group['algorithm']} group: lr {group['lr']}, weight_decay {group['weight_decay']}; pass settings.lr and " \
            "settings.weight_decay to MuonClip"
