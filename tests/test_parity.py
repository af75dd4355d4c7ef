"""kimik2 equals transformers' DeepseekV3ForCausalLM: logits, loss and gradients, loading the
same weights both ways (our checkpoint into theirs, theirs into ours)."""

import re

import pytest
import torch
from transformers import DeepseekV3Config, DeepseekV3ForCausalLM

from helpers import assert_close, randomize_, tiny_config
from kimik2 import KimiK2ForCausalLM, parity

KIMI_YARN = {"type": "yarn", "factor": 4.0, "original_max_position_embeddings": 16,
             "beta_fast": 1.0, "beta_slow": 1.0, "mscale": 1.0, "mscale_all_dim": 1.0}
DEEPSEEK_YARN = {"type": "yarn", "factor": 4.0, "original_max_position_embeddings": 16,
                 "beta_fast": 32.0, "beta_slow": 1.0, "mscale": 1.0, "mscale_all_dim": 1.0}

# Each case: config overrides, sequence length, whether the batch is left-padded.
CASES = {
    "no_q_lora-plain_rope-dense0-no_norm_topk": (
        dict(q_lora_rank=None, rope_scaling=None, first_k_dense_replace=0, norm_topk_prob=False,
             n_group=1, topk_group=1), 20, False),
    "linear_rope-groups-dense1": (
        dict(rope_scaling={"type": "linear", "factor": 2.0}, n_group=4, topk_group=2), 24, False),
    "dynamic_ntk_beyond_max_positions-dense2": (
        dict(rope_scaling={"type": "dynamic", "factor": 2.0}, max_position_embeddings=16,
             first_k_dense_replace=2), 40, False),
    "yarn_deepseek_style-groups-left_padding": (
        dict(rope_scaling=DEEPSEEK_YARN, rope_theta=10000.0, n_group=4, topk_group=2), 48, True),
    "yarn_kimi_style-no_groups": (
        dict(rope_scaling=KIMI_YARN, n_group=1, topk_group=1, num_experts_per_tok=4), 48, False),
    "yarn_kimi_style-no_q_lora-left_padding": (
        dict(rope_scaling=KIMI_YARN, q_lora_rank=None, first_k_dense_replace=0), 32, True),
}


def make_batch(vocab_size: int, seq_len: int, left_padding: bool):
    """ids (2, s), a 0/1 mask, positions from the mask (cumsum - 1), and labels that only
    score predictions made from real tokens (pads and each row's first token are -100)."""
    generator = torch.Generator().manual_seed(1)
    input_ids = torch.randint(0, vocab_size, (2, seq_len), generator=generator)
    mask = torch.ones(2, seq_len, dtype=torch.long)
    if left_padding:
        mask[0, :7] = 0
        mask[1, :2] = 0
    position_ids = (mask.cumsum(-1) - 1).clamp(min=0)
    labels = input_ids.masked_fill(mask == 0, -100)
    first_real = mask.argmax(-1)
    labels[torch.arange(2), first_real] = -100
    return input_ids, mask, position_ids, labels


def ours_to_hf(model: KimiK2ForCausalLM, directory) -> DeepseekV3ForCausalLM:
    model.save_pretrained(directory)
    return DeepseekV3ForCausalLM.from_pretrained(directory)


def hf_to_ours(model: DeepseekV3ForCausalLM, directory) -> KimiK2ForCausalLM:
    model.save_pretrained(directory)
    return KimiK2ForCausalLM.from_pretrained(directory)


def hf_gradients(model: DeepseekV3ForCausalLM) -> dict[str, torch.Tensor]:
    """transformers keeps experts fused in memory: split them back to per-expert names."""
    grads = {}
    for name, parameter in model.named_parameters():
        if parameter.grad is None:
            continue
        fused = re.match(r"(.*\.experts)\.(gate_up_proj|down_proj)$", name)
        if not fused:
            grads[name] = parameter.grad
            continue
        for expert, grad in enumerate(parameter.grad):
            if fused.group(2) == "down_proj":
                grads[f"{fused.group(1)}.{expert}.down_proj.weight"] = grad
            else:
                gate, up = grad.chunk(2, dim=0)
                grads[f"{fused.group(1)}.{expert}.gate_proj.weight"] = gate
                grads[f"{fused.group(1)}.{expert}.up_proj.weight"] = up
    return grads


def compare(ours: KimiK2ForCausalLM, theirs: DeepseekV3ForCausalLM, seq_len: int, left_padding: bool) -> None:
    input_ids, mask, position_ids, labels = make_batch(ours.config.vocab_size, seq_len, left_padding)
    ours.eval()
    theirs.eval()
    real = mask.bool()
    with torch.no_grad():
        our_logits = ours(input_ids, attention_mask=mask, position_ids=position_ids).logits
        their_logits = theirs(input_ids, attention_mask=mask, position_ids=position_ids).logits.float()
    assert their_logits.abs().max() > 1.0, "logits too small for a meaningful comparison"
    assert_close(our_logits[real], their_logits[real], atol=1e-5, what="logits at real positions")

    ours.train()
    theirs.train()
    our_loss = ours(input_ids, attention_mask=mask, position_ids=position_ids, labels=labels).loss
    their_loss = theirs(input_ids, attention_mask=mask, position_ids=position_ids, labels=labels).loss
    assert_close(our_loss, their_loss, atol=1e-5, what="loss")
    our_loss.backward()
    their_loss.backward()
    their_grads = hf_gradients(theirs)
    our_grads = {name: p.grad for name, p in ours.named_parameters() if p.grad is not None}
    assert set(our_grads) == set(their_grads), sorted(set(our_grads) ^ set(their_grads))
    for name, grad in our_grads.items():
        scale = their_grads[name].abs().max().item()
        assert_close(grad, their_grads[name], atol=1e-5 * max(1.0, scale), what=f"gradient of {name}")


@pytest.mark.parametrize("case", CASES)
def test_our_checkpoint_in_transformers(case, tmp_path):
    overrides, seq_len, left_padding = CASES[case]
    ours = randomize_(KimiK2ForCausalLM(tiny_config(**overrides)))
    compare(ours, ours_to_hf(ours, tmp_path), seq_len, left_padding)


@pytest.mark.parametrize("case", CASES)
def test_transformers_checkpoint_in_ours(case, tmp_path):
    overrides, seq_len, left_padding = CASES[case]
    config = tiny_config(**overrides).to_dict()
    hf_config = DeepseekV3Config(**{k: v for k, v in config.items()
                                    if k not in ("topk_method", "scoring_func", "aux_loss_alpha", "seq_aux",
                                                 "ep_size", "moe_layer_freq", "rope_scaling")},
                                 rope_scaling=config["rope_scaling"])
    theirs = DeepseekV3ForCausalLM(hf_config)
    randomize_(theirs, seed=3)
    ours = hf_to_ours(theirs, tmp_path)
    compare(ours, theirs, seq_len, left_padding)


def test_routing_bias_changes_the_choice():
    """The parity cases would not test the bias if it never changed which experts win."""
    model = randomize_(KimiK2ForCausalLM(tiny_config()))
    gate = model.model.layers[1].mlp.gate
    hidden = torch.randn(64, 32)
    with_bias = gate(hidden)[0].sort(-1).values
    with torch.no_grad():
        gate.e_score_correction_bias.zero_()
    without_bias = gate(hidden)[0].sort(-1).values
    assert not torch.equal(with_bias, without_bias)


def test_eager_equals_sdpa():
    model = randomize_(KimiK2ForCausalLM(tiny_config())).eval()
    input_ids, mask, position_ids, _ = make_batch(97, 30, left_padding=True)
    with torch.no_grad():
        sdpa = model(input_ids, attention_mask=mask, position_ids=position_ids).logits
        model.set_attn_implementation("eager")
        eager = model(input_ids, attention_mask=mask, position_ids=position_ids).logits
    assert_close(eager, sdpa, atol=1e-5, what="eager vs sdpa logits")
    with pytest.raises(ValueError, match="choose one of"):
        model.set_attn_implementation("flash")


def test_absorbed_mla_equals_transformers(tmp_path):
    ours = randomize_(KimiK2ForCausalLM(tiny_config(rope_scaling=KIMI_YARN))).eval()
    theirs = ours_to_hf(ours, tmp_path).eval()
    ours.set_mla_mode("absorbed")
    input_ids, mask, position_ids, _ = make_batch(97, 32, left_padding=True)
    with torch.no_grad():
        our_logits = ours(input_ids, attention_mask=mask, position_ids=position_ids).logits
        their_logits = theirs(input_ids, attention_mask=mask, position_ids=position_ids).logits
    assert_close(our_logits[mask.bool()], their_logits[mask.bool()], atol=1e-5, what="absorbed MLA logits")


def test_parity_debugger_agrees_and_finds_the_first_divergent_submodule(tmp_path):
    ours = randomize_(KimiK2ForCausalLM(tiny_config())).eval()
    theirs = ours_to_hf(ours, tmp_path).eval()
    input_ids = make_batch(97, 16, left_padding=False)[0]
    checkpoints = parity.compare_layer_outputs(ours, theirs, input_ids)
    assert [c.name for c in checkpoints] == parity.checkpoint_names(3)
    assert parity.first_divergence(checkpoints) is None, parity.format_report(checkpoints)
    with torch.no_grad():
        ours.model.layers[1].self_attn.kv_a_layernorm.weight.mul_(1.01)   # a subtle bug in layer 1's attention
    checkpoints = parity.compare_layer_outputs(ours, theirs, input_ids)
    first = parity.first_divergence(checkpoints)
    assert first is not None and first.name == "model.layers.1.self_attn", parity.format_report(checkpoints)
    assert "<- first divergence" in parity.format_report(checkpoints).splitlines()[first_index(checkpoints) + 1]


def first_index(checkpoints):
    return [c.ok for c in checkpoints].index(False)
