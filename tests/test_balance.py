"""Load balancing: the auxiliary-loss-free bias update, the sequence-wise balance loss and the
load counters, each checked against a formula computed another way."""

import pytest
import torch

from kimik2 import KimiK2ForCausalLM, MoEGate, balance, sequence_balance_loss

from helpers import assert_close, randomize_, tiny_config


def skewed_gate(config, seed=0) -> MoEGate:
    """A gate whose weights point most tokens at the first experts."""
    torch.manual_seed(seed)
    gate = MoEGate(config)
    with torch.no_grad():
        gate.weight.normal_(0, 0.1)
        gate.weight[:3] += 1.0 * torch.ones(config.hidden_size) / config.hidden_size ** 0.5
    return gate


def test_bias_update_is_the_sign_rule_with_zero_for_ties():
    gate = MoEGate(tiny_config(n_routed_experts=4, num_experts_per_tok=2, n_group=1, topk_group=1))
    gate.update_correction_bias(torch.tensor([5, 1, 3, 3]), speed=0.01)   # mean 3
    assert gate.e_score_correction_bias.tolist() == pytest.approx([-0.01, 0.01, 0.0, 0.0])


def test_bias_update_balances_a_skewed_router_without_changing_the_weights():
    config = tiny_config(n_routed_experts=8, num_experts_per_tok=2, n_group=1, topk_group=1)
    gate = skewed_gate(config)
    tokens = torch.randn(1, 512, config.hidden_size, generator=torch.Generator().manual_seed(1)) + 0.5
    experts = config.n_routed_experts

    def load():
        topk_idx, _ = gate(tokens)
        return torch.bincount(topk_idx.view(-1), minlength=experts)

    before = balance.max_violation(load()).item()
    for _ in range(300):
        gate.update_correction_bias(load(), speed=0.01)
    after = balance.max_violation(load()).item()
    assert before > 1.0 and after < 0.25 * before, (before, after)
    # the bias picks experts; the mixing weights stay the unbiased sigmoid scores, renormalised
    topk_idx, topk_weight = gate(tokens)
    scores = torch.sigmoid(tokens.view(-1, config.hidden_size) @ gate.weight.T).gather(1, topk_idx)
    assert_close(topk_weight, scores / scores.sum(-1, keepdim=True) * config.routed_scaling_factor, 1e-6,
                 "mixing weights after bias updates")


def test_greedy_gate_refuses_a_bias_update():
    gate = MoEGate(tiny_config(topk_method="greedy", n_group=1, topk_group=1))
    with pytest.raises(ValueError, match="noaux_tc"):
        gate.update_correction_bias(torch.ones(gate.n_routed_experts), 0.001)


def loop_balance_loss(scores, topk_idx):
    """Eqs. 17-20 of DeepSeek-V3 written with explicit sums."""
    batch, seq_len, experts = scores.shape
    top_k = topk_idx.shape[-1]
    total = 0.0
    for b in range(batch):
        for i in range(experts):
            count = sum(int(i in topk_idx[b, t].tolist()) for t in range(seq_len))
            f_i = experts / (top_k * seq_len) * count
            p_i = sum(scores[b, t, i] / scores[b, t].sum() for t in range(seq_len)) / seq_len
            total += f_i * float(p_i)
    return total / batch


def test_sequence_balance_loss_equals_the_paper_formula():
    generator = torch.Generator().manual_seed(0)
    scores = torch.rand(2, 5, 6, generator=generator)
    topk_idx = torch.stack([torch.randperm(6, generator=generator)[:2] for _ in range(10)]).view(2, 5, 2)
    assert_close(sequence_balance_loss(scores, topk_idx), torch.tensor(loop_balance_loss(scores, topk_idx)),
                 1e-6, "sequence-wise balance loss")
    uniform = torch.full((1, 4, 4), 0.3)
    round_robin = torch.tensor([[[0], [1], [2], [3]]])
    assert sequence_balance_loss(uniform, round_robin).item() == pytest.approx(1.0)


def test_aux_loss_is_reported_in_training_only_and_kept_out_of_the_lm_loss():
    config = tiny_config(aux_loss_alpha=0.01)
    torch.manual_seed(0)
    model = randomize_(KimiK2ForCausalLM(config))
    ids = torch.randint(0, config.vocab_size, (2, 9), generator=torch.Generator().manual_seed(0))
    model.eval()
    evaluated = model(ids, labels=ids)
    model.train()
    trained = model(ids, labels=ids)
    assert evaluated.aux_loss is None and trained.aux_loss is not None
    assert_close(trained.loss, evaluated.loss, 1e-6, "the LM loss does not include the balance loss")
    expected = 0.0
    hidden = {}
    hooks = [layer.register_forward_pre_hook(lambda m, args, name=name: hidden.__setitem__(name, args[0].detach()))
             for name, layer in ((n, m) for n, m in model.named_modules() if m in balance.moe_layers(model))]
    model(ids)
    for hook in hooks:
        hook.remove()
    for name, layer in ((n, m) for n, m in model.named_modules() if m in balance.moe_layers(model)):
        x = hidden[name]
        topk_idx, _ = layer.gate(x)
        scores = torch.sigmoid(x.reshape(-1, config.hidden_size) @ layer.gate.weight.detach().T)
        expected += 0.01 * loop_balance_loss(scores.view(*x.shape[:2], -1), topk_idx.view(*x.shape[:2], -1))
    assert_close(trained.aux_loss.detach(), torch.tensor(float(expected)), 1e-5, "aux_loss summed over MoE layers")
    trained.aux_loss.backward()
    assert model.model.layers[1].mlp.gate.weight.grad.abs().sum() > 0


def test_load_counters_count_every_slot_and_reset():
    config = tiny_config()
    torch.manual_seed(0)
    model = KimiK2ForCausalLM(config)
    ids = torch.randint(0, config.vocab_size, (3, 7), generator=torch.Generator().manual_seed(0))
    model(ids)
    model(ids[:, :4])
    load = balance.expert_load(model)
    moe_count = sum(config.is_moe_layer(i) for i in range(config.num_hidden_layers))
    assert load.shape == (moe_count, config.n_routed_experts)
    assert load.sum(dim=1).tolist() == [(3 * 7 + 3 * 4) * config.num_experts_per_tok] * moe_count
    used = balance.update_correction_biases(model, speed=0.001)
    assert torch.equal(used, load) and int(balance.expert_load(model).sum()) == 0
    assert "tokens_per_expert" not in "".join(model.state_dict())


def test_max_violation_on_known_loads():
    loads = torch.tensor([[4, 4, 4, 4], [8, 0, 4, 4], [16, 0, 0, 0]])
    assert balance.max_violation(loads).tolist() == pytest.approx([0.0, 1.0, 3.0])
