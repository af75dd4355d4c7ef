"""Newton-Schulz, Muon (against torch.optim.Muon) and MuonClip with QK-Clip (course module 16)."""

import io
import math

import pytest
import torch

from helpers import assert_close, randomize_, tiny_config
from kimik2 import DeepseekV3Attention, KimiK2Config, KimiK2ForCausalLM
from kimik2.muon import Muon, newton_schulz
from kimik2.qk_clip import MuonClip, muon_and_adamw_parameters

# 5 quintic steps map a normalised singular value s >= 0.002 into [0.682, 1.202] (iterating the
# scalar polynomial); bfloat16 rounding of the iterates moves the measured values by < 0.01.
NS_BAND = (0.66, 1.22)


def matrix_with_spectrum(rows: int, cols: int, singular_values: torch.Tensor) -> torch.Tensor:
    """U diag(s) V^T with random orthonormal U (rows, k) and V (cols, k)."""
    k = min(rows, cols)
    u = torch.linalg.qr(torch.randn(rows, k))[0]
    v = torch.linalg.qr(torch.randn(cols, k))[0]
    return (u * singular_values) @ v.T


@pytest.mark.parametrize("shape, dtype", [((64, 64), torch.float32), ((256, 64), torch.float32),
                                          ((64, 256), torch.float32), ((96, 96), torch.bfloat16),
                                          ((160, 48), torch.bfloat16)])
def test_newton_schulz_singular_values_land_in_band(shape, dtype):
    """Singular values spread over two decades (normalised minimum >= 0.002) all land in NS_BAND."""
    singular_values = torch.logspace(0, -2, min(shape))
    assert singular_values.min() / singular_values.norm() >= 0.002
    matrix = matrix_with_spectrum(*shape, singular_values).to(dtype)
    orthogonal = newton_schulz(matrix)
    assert orthogonal.shape == matrix.shape and orthogonal.dtype == dtype
    measured = torch.linalg.svdvals(orthogonal.float())
    low, high = NS_BAND
    assert low <= measured.min() and measured.max() <= high, (
        f"{shape} {dtype}: singular values in [{measured.min():.3f}, {measured.max():.3f}], expected within {NS_BAND}")


def test_newton_schulz_batches_and_edge_cases():
    stacked = torch.randn(3, 2, 40, 24)
    batched = newton_schulz(stacked)
    for index in [(0, 0), (1, 1), (2, 0)]:
        assert torch.equal(batched[index], newton_schulz(stacked[index])), f"batch entry {index} differs"
    assert torch.equal(newton_schulz(torch.zeros(8, 5)), torch.zeros(8, 5)), "a zero gradient must give a zero update"
    with pytest.raises(ValueError, match="AdamW"):
        newton_schulz(torch.randn(7))


@pytest.mark.parametrize("nesterov", [True, False])
def test_muon_equals_torch_muon_step_by_step(nesterov):
    """Bit for bit torch.optim.Muon(adjust_lr_fn="match_rms_adamw"): square, tall and wide, and
    same-shape matrices (orthogonalised as one batch here, one by one in torch)."""
    shapes = [(48, 48), (96, 32), (32, 96), (5, 130), (96, 32), (96, 32)]
    ours = [torch.nn.Parameter(torch.randn(shape)) for shape in shapes]
    theirs = [torch.nn.Parameter(p.detach().clone()) for p in ours]
    ours_optimizer = Muon(ours, lr=0.02, weight_decay=0.1, nesterov=nesterov)
    theirs_optimizer = torch.optim.Muon(theirs, lr=0.02, weight_decay=0.1, nesterov=nesterov,
                                        adjust_lr_fn="match_rms_adamw")
    for step in range(5):
        for p, q in zip(ours, theirs):
            p.grad = torch.randn(p.shape)
            q.grad = p.grad.clone()
        ours_optimizer.step()
        theirs_optimizer.step()
        for shape, p, q in zip(shapes, ours, theirs):
            assert torch.equal(p, q), f"step {step}, shape {shape}: max abs diff {(p - q).abs().max():.3e}"


def test_muon_update_rms_matches_adamw():
    """RMS(update) / lr = 0.2 x RMS of the Newton-Schulz singular values, within 0.2 x NS_BAND."""
    param = torch.nn.Parameter(torch.zeros(192, 64))
    param.grad = torch.randn(192, 64)
    Muon([param], lr=1e-3, weight_decay=0.0).step()
    rms = param.detach().pow(2).mean().sqrt().item() / 1e-3
    assert 0.2 * NS_BAND[0] <= rms <= 0.2 * NS_BAND[1], f"update RMS / lr = {rms:.3f}, expected about 0.2"


def test_muon_rejects_vectors_and_bad_values():
    with pytest.raises(ValueError, match="AdamW"):
        Muon([torch.nn.Parameter(torch.ones(4))], lr=1e-3, weight_decay=0.1)
    with pytest.raises(ValueError, match="momentum"):
        Muon([torch.nn.Parameter(torch.ones(4, 4))], lr=1e-3, weight_decay=0.1, momentum=1.0)
    model = KimiK2ForCausalLM(tiny_config())
    with pytest.raises(ValueError, match="qk_clip_tau"):
        MuonClip(model, lr=1e-3, qk_clip_tau=0.0)


def expected_group_sizes(config: KimiK2Config) -> tuple[int, int]:
    """(Muon, AdamW) parameter counts from the config: matrices vs embeddings, head, norms, biases."""
    attention_matrices = (4 if config.q_lora_rank is None else 5)
    attention_norms = (1 if config.q_lora_rank is None else 2)
    attention_biases = (0 if not config.attention_bias else (2 if config.q_lora_rank is None else 3))
    muon, adamw = 0, 2 - int(config.tie_word_embeddings) + 1                   # embed, head, final norm
    for layer in range(config.num_hidden_layers):
        mlp = 3 * (config.n_routed_experts + 1) + 1 if config.is_moe_layer(layer) else 3  # experts, shared, gate
        muon += attention_matrices + mlp
        adamw += attention_norms + attention_biases + 2                        # + the layer's two norms
    return muon, adamw


@pytest.mark.parametrize("overrides", [{}, dict(q_lora_rank=None), dict(attention_bias=True),
                                       dict(tie_word_embeddings=True)])
def test_parameter_groups(overrides):
    config = tiny_config(**overrides)
    model = KimiK2ForCausalLM(config)
    optimizer = MuonClip(model, lr=1e-3)
    names = {group["algorithm"]: group["param_names"] for group in optimizer.param_groups}
    assert (len(names["muon"]), len(names["adamw"])) == expected_group_sizes(config)
    grouped = names["muon"] + names["adamw"]
    trainable = [name for name, p in model.named_parameters() if p.requires_grad]
    assert sorted(grouped) == sorted(trainable), "every trainable parameter must be in exactly one group"
    assert not any("e_score_correction_bias" in name for name in grouped)
    assert "model.layers.1.mlp.gate.weight" in names["muon"], "the router weight is documented as Muon's"
    assert "model.embed_tokens.weight" in names["adamw"]
    assert all(model.get_parameter(name).dim() == 2 for name in names["muon"])
    assert all(attention.track_max_logit for attention in optimizer.attentions.values())


def test_meta_device_construction():
    """Kimi-K2's own shapes (two layers: the dense one and one MoE) on the meta device."""
    config = KimiK2Config(num_hidden_layers=2)
    with torch.device("meta"):
        model = KimiK2ForCausalLM(config)
    optimizer = MuonClip(model, lr=2e-4)
    sizes = [len(group["params"]) for group in optimizer.param_groups]
    assert tuple(sizes) == expected_group_sizes(config) == (5 + 3 + 5 + 3 * 385 + 1, 3 + 2 * 4)
    adamw_elements = sum(p.numel() for p in optimizer.param_groups[1]["params"])
    assert adamw_elements == 2 * 163840 * 7168 + 7168 * 5 + 2 * (1536 + 512)


def capture_attention_calls(model: KimiK2ForCausalLM) -> dict:
    """Per attention: the positional inputs of its last forward and the (query, key) its last
    record_max_logit() saw, in either MLA mode (an instance attribute shadows the method)."""
    calls = {}
    for attention in model.modules():
        if isinstance(attention, DeepseekV3Attention):
            record = calls.setdefault(attention, {})
            attention.register_forward_pre_hook(lambda module, args, record=record: record.update(inputs=args))

            def record_max_logit(query, key, mask, attention=attention, record=record):
                record.update(query=query.detach().clone(), key=key.detach().clone())
                return DeepseekV3Attention.record_max_logit(attention, query, key, mask)
            attention.record_max_logit = record_max_logit
    return calls


@pytest.mark.parametrize("overrides, mla_mode", [({}, "expanded"), (dict(q_lora_rank=None), "expanded"),
                                                 ({}, "absorbed")])
def test_qk_clip_caps_each_hot_head_at_tau(overrides, mla_mode):
    """lr = 0 and weight_decay = 0, so only the clip acts. tau is the median head max logit: half
    the heads are clipped. Fed the same inputs again, every clipped head's max logit is tau, the
    other heads' queries and keys (so their scores) are bitwise unchanged, and only the q_nope,
    q_pe and k_nope rows of clipped heads moved."""
    config = tiny_config(**overrides)
    model = randomize_(KimiK2ForCausalLM(config))
    model.set_mla_mode(mla_mode)
    calls = capture_attention_calls(model)
    input_ids = torch.randint(0, config.vocab_size, (2, 24))
    for attention in calls:
        attention.track_max_logit = True
    with torch.no_grad():
        model(input_ids)
    tau = torch.cat([attention.max_logit for attention in calls]).median().item()
    optimizer = MuonClip(model, lr=0.0, weight_decay=0.0, qk_clip_tau=tau)

    output = model(input_ids, labels=input_ids)
    (output.loss + output.aux_loss).backward()
    before = {name: p.detach().clone() for name, p in model.named_parameters()}
    old = {attention: dict(query=record["query"], key=record["key"]) for attention, record in calls.items()}
    optimizer.step()

    touched = set()
    nope = config.qk_nope_head_dim
    for name, max_logit in optimizer.last_max_logits.items():
        attention = model.get_submodule(name)
        assert attention.max_logit is None, "max_logit must be reset after the step"
        hot = max_logit > tau
        gamma = torch.where(hot, tau / max_logit, torch.ones_like(max_logit))
        query_name = f"{name}.q_proj.weight" if config.q_lora_rank is None else f"{name}.q_b_proj.weight"
        heads = config.num_attention_heads
        query_rows = model.get_parameter(query_name).detach().view(heads, config.qk_head_dim, -1)
        old_query_rows = before[query_name].view(heads, config.qk_head_dim, -1)
        assert_close(query_rows[:, :nope], old_query_rows[:, :nope] * gamma.sqrt()[:, None, None], 1e-7,
                     f"{query_name} q_nope rows", rtol=1e-6)
        assert_close(query_rows[:, nope:], old_query_rows[:, nope:] * gamma[:, None, None], 1e-7,
                     f"{query_name} q_pe rows", rtol=1e-6)
        kv_name = f"{name}.kv_b_proj.weight"
        kv_rows = model.get_parameter(kv_name).detach().view(heads, nope + config.v_head_dim, -1)
        old_kv_rows = before[kv_name].view(heads, nope + config.v_head_dim, -1)
        assert_close(kv_rows[:, :nope], old_kv_rows[:, :nope] * gamma.sqrt()[:, None, None], 1e-7,
                     f"{kv_name} k_nope rows", rtol=1e-6)
        assert torch.equal(kv_rows[:, nope:], old_kv_rows[:, nope:]), f"{kv_name}: value rows changed"
        assert torch.equal(query_rows[~hot], old_query_rows[~hot]), f"{query_name}: a calm head changed"
        assert torch.equal(kv_rows[~hot], old_kv_rows[~hot]), f"{kv_name}: a calm head changed"
        touched |= {query_name, kv_name}

        with torch.no_grad():
            attention(*calls[attention]["inputs"])                            # the same inputs as before
        recomputed = attention.max_logit
        assert_close(recomputed[hot], torch.full_like(recomputed[hot], tau), 0.0,
                     f"{name}: recomputed max logit of clipped heads", rtol=1e-4)
        assert torch.equal(recomputed[~hot], max_logit[~hot]), f"{name}: a calm head's max logit moved"
        new_query, new_key = calls[attention]["query"], calls[attention]["key"]
        assert torch.equal(new_query[:, ~hot], old[attention]["query"][:, ~hot]), f"{name}: calm queries moved"
        if mla_mode == "expanded":
            assert torch.equal(new_key[:, ~hot], old[attention]["key"][:, ~hot]), f"{name}: calm keys moved"
        attention.max_logit = None
    assert len(optimizer.last_max_logits) == config.num_hidden_layers
    assert bool(torch.cat(list(optimizer.last_max_logits.values())).gt(tau).any()), "no head was clipped"
    for name, parameter in model.named_parameters():
        if name not in touched:   # kv_a_proj_with_mqa (k_pe) included: bitwise unchanged
            assert torch.equal(parameter, before[name]), f"{name} changed, but only the clip acted"


def train_steps(model: KimiK2ForCausalLM, optimizers: list, batches: list[torch.Tensor]) -> None:
    for input_ids in batches:
        for optimizer in optimizers:
            optimizer.zero_grad()
        output = model(input_ids, labels=input_ids)
        (output.loss + output.aux_loss).backward()
        for optimizer in optimizers:
            optimizer.step()


def test_muonclip_without_clip_is_muon_plus_torch_adamw():
    """With tau = inf, MuonClip equals kimik2's Muon on its Muon group plus torch.optim.AdamW on the rest."""
    config = tiny_config()
    ours = randomize_(KimiK2ForCausalLM(config))
    theirs = randomize_(KimiK2ForCausalLM(config))
    muon, adamw = muon_and_adamw_parameters(theirs)
    reference = [Muon([p for _, p in muon], lr=3e-3, weight_decay=0.1),
                 torch.optim.AdamW([p for _, p in adamw], lr=3e-3, weight_decay=0.1, betas=(0.9, 0.95), eps=1e-8,
                                   foreach=False)]
    batches = [torch.randint(0, config.vocab_size, (2, 16)) for _ in range(3)]
    train_steps(ours, [MuonClip(ours, lr=3e-3, qk_clip_tau=math.inf)], batches)
    train_steps(theirs, reference, batches)
    for (name, p), q in zip(ours.named_parameters(), theirs.parameters()):
        assert torch.equal(p, q), f"{name}: max abs diff {(p - q).abs().max():.3e}"


def test_state_dict_round_trip_continues_identically():
    """Save model + MuonClip, load both into fresh objects, continue: identical parameters (clip active)."""
    config = tiny_config()
    batches = [torch.randint(0, config.vocab_size, (2, 16)) for _ in range(6)]
    model = randomize_(KimiK2ForCausalLM(config))
    optimizer = MuonClip(model, lr=1e-2, qk_clip_tau=2.0)
    train_steps(model, [optimizer], batches[:3])
    assert any(bool((logits > 2.0).any()) for logits in optimizer.last_max_logits.values()), "clip never acted"
    buffer = io.BytesIO()
    torch.save({"model": model.state_dict(), "optimizer": optimizer.state_dict()}, buffer)
    buffer.seek(0)
    saved = torch.load(buffer)

    resumed = KimiK2ForCausalLM(config)
    resumed.load_state_dict(saved["model"])
    resumed_optimizer = MuonClip(resumed, lr=123.0, qk_clip_tau=2.0)   # lr comes back from the state dict
    resumed_optimizer.load_state_dict(saved["optimizer"])
    train_steps(model, [optimizer], batches[3:])
    train_steps(resumed, [resumed_optimizer], batches[3:])
    for (name, p), q in zip(model.named_parameters(), resumed.parameters()):
        assert torch.equal(p, q), f"{name}: max abs diff {(p - q).abs().max():.3e} after resuming"
