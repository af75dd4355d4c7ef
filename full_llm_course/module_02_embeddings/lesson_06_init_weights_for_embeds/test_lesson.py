"""Graded tests for lesson 06: the nn.Embedding branch of KimiK2PreTrainedModel._init_weights."""
import torch
from torch import nn

from kimi_course.testing import assert_close


def _init(module_pkg, config, embedding, seed):
    torch.manual_seed(seed)
    module_pkg.KimiK2PreTrainedModel(config)._init_weights(embedding)
    return embedding.weight.detach().clone()


def test_std_and_mean_on_a_large_table(impl, reference):
    cfg = impl.KimiK2Config.tiny()
    emb = nn.Embedding(16384, 64)                       # 1,048,576 values; default init is normal(0, 1)
    w = _init(impl, cfg, emb, seed=0)
    std, mean = w.std().item(), w.mean().item()
    assert abs(std - 0.02) < 5e-4, (
        f"embedding std after _init_weights = {std:.5f}, expected initializer_range 0.02: draw "
        "normal(0, config.initializer_range) into the weight (teaching.md §The code)")
    assert abs(mean) < 2e-4, f"embedding mean = {mean:.2e}, expected ~0: the distribution is centred on 0"


def test_uses_config_initializer_range(impl, reference):
    cfg = impl.KimiK2Config.tiny(initializer_range=0.05)
    w = _init(impl, cfg, nn.Embedding(8192, 64), seed=1)
    assert abs(w.std().item() - 0.05) < 1e-3, (
        f"with initializer_range=0.05 the std is {w.std().item():.4f}: read config.initializer_range, "
        "do not hard-code 0.02 (teaching.md §The code)")


def test_padding_row_is_exactly_zero(impl, reference):
    cfg = impl.KimiK2Config.tiny(pad_token_id=5)
    model = impl.DeepseekV3Model(cfg)
    w = model.embed_tokens.weight.detach()
    assert_close(w[5], torch.zeros(cfg.hidden_size), atol=0.0, what="padding row 5 of embed_tokens after init",
                 hint="normal_ overwrites the whole table, the pad row included; zero that row afterwards "
                      "(teaching.md §The padding row)")
    others = torch.cat([w[:5], w[6:]])
    assert abs(others.std().item() - 0.02) < 1e-3, f"the other rows have std {others.std().item():.4f}, expected 0.02"


def test_same_seed_same_table_as_reference(impl, reference):
    cfg_i, cfg_r = impl.KimiK2Config.tiny(pad_token_id=2), reference.KimiK2Config.tiny(pad_token_id=2)
    # one Kimi-K2 dimension: rows as wide as the real hidden size 7168
    got = _init(impl, cfg_i, nn.Embedding(64, 7168, padding_idx=2), seed=7)
    want = _init(reference, cfg_r, nn.Embedding(64, 7168, padding_idx=2), seed=7)
    assert_close(got, want, atol=0.0, what="embedding after _init_weights, seed 7, (64, 7168), pad 2",
                 hint="one nn.init.normal_(weight, mean=0.0, std=std) call, then zero the padding row: any extra "
                      "random draw shifts the stream (teaching.md §The code)")


def test_model_init_matches_reference(impl, reference):
    torch.manual_seed(11)
    mine = impl.KimiK2ForCausalLM(impl.KimiK2Config.tiny(pad_token_id=0))
    torch.manual_seed(11)
    ref = reference.KimiK2ForCausalLM(reference.KimiK2Config.tiny(pad_token_id=0))
    assert_close(mine.model.embed_tokens.weight.detach(), ref.model.embed_tokens.weight.detach(), atol=0.0,
                 what="embed_tokens of a freshly built KimiK2ForCausalLM (seed 11, pad 0)",
                 hint="init_weights() applies _init_weights to every module: teaching.md §When does init run")
