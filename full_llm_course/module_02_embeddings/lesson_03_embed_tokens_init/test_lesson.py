"""Graded tests for lesson 03: DeepseekV3Model.__init__ builds the token-embedding table."""
import torch
from torch import nn

from kimi_course.testing import assert_close


def _copy(impl_model, ref_model):
    impl_model.load_state_dict(ref_model.state_dict())
    return impl_model


def test_embed_tokens_shape_and_attributes(impl, reference):
    cfg = impl.KimiK2Config.tiny()
    model = impl.DeepseekV3Model(cfg)
    emb = getattr(model, "embed_tokens", None)
    assert isinstance(emb, nn.Embedding), (
        f"model.embed_tokens is {type(emb).__name__}, expected nn.Embedding: teaching.md §The code")
    assert tuple(emb.weight.shape) == (cfg.vocab_size, cfg.hidden_size), (
        f"embed_tokens.weight shape {tuple(emb.weight.shape)} != (vocab_size, hidden_size) = "
        f"{(cfg.vocab_size, cfg.hidden_size)}: rows are tokens, columns are hidden dims (teaching.md §A table)")
    assert model.vocab_size == cfg.vocab_size, f"model.vocab_size = {getattr(model, 'vocab_size', None)}, expected {cfg.vocab_size}"
    assert model.padding_idx is None and emb.padding_idx is None, (
        f"tiny config sets no pad_token_id, yet padding_idx = {model.padding_idx} / {emb.padding_idx}: "
        "take it from config.pad_token_id (teaching.md §padding_idx)")
    ref = reference.DeepseekV3Model(reference.KimiK2Config.tiny())
    assert list(model.state_dict()) == list(ref.state_dict()), (
        "state_dict keys differ from the reference: the table must be registered as `embed_tokens` "
        "before the layers (checkpoint key model.embed_tokens.weight; teaching.md §The code)")


def test_padding_idx_from_config(impl, reference):
    cfg = impl.KimiK2Config.tiny(pad_token_id=7)
    model = impl.DeepseekV3Model(cfg)
    assert model.padding_idx == 7, f"model.padding_idx = {model.padding_idx}, expected config.pad_token_id = 7"
    assert model.embed_tokens.padding_idx == 7, (
        f"embed_tokens.padding_idx = {model.embed_tokens.padding_idx}, expected 7: pass padding_idx to "
        "nn.Embedding (its third positional argument), teaching.md §padding_idx")


def test_padding_row_gets_no_gradient(impl, reference):
    cfg = impl.KimiK2Config.tiny(pad_token_id=0)
    model = impl.DeepseekV3Model(cfg)
    ids = torch.tensor([[5, 0, 0, 9], [0, 3, 0, 0]])
    probe = torch.randn(2, 4, cfg.hidden_size, generator=torch.Generator().manual_seed(3))
    (model.embed_tokens(ids) * probe).sum().backward()
    grad = model.embed_tokens.weight.grad
    assert grad is not None, "embed_tokens.weight got no gradient at all: is it an nn.Parameter of nn.Embedding?"
    assert_close(grad[0], torch.zeros(cfg.hidden_size), atol=0.0, what="gradient of the padding row 0",
                 hint="nn.Embedding(..., padding_idx) stops the gradient of that row: teaching.md §padding_idx")
    assert_close(grad[5], probe[0, 0], atol=1e-6, what="gradient of row 5 (used once)",
                 hint="an ordinary row receives the upstream gradient of every position that uses it")


def test_forward_matches_reference_with_copied_weights(impl, reference):
    torch.manual_seed(0)
    ref = reference.KimiK2ForCausalLM(reference.KimiK2Config.tiny(pad_token_id=1)).eval()
    mine = _copy(impl.KimiK2ForCausalLM(impl.KimiK2Config.tiny(pad_token_id=1)), ref).eval()
    ids = torch.randint(0, 512, (2, 6), generator=torch.Generator().manual_seed(1))
    ids[0, :2] = 1
    with torch.no_grad():
        assert_close(mine(ids).logits, ref(ids).logits, atol=1e-5, what="KimiK2ForCausalLM logits (tiny, pad 1)",
                     hint="same weights must give the same logits: check embed_tokens' sizes (teaching.md §The code)")


def test_kimi_k2_table_on_meta_device(impl, reference):
    cfg = impl.KimiK2Config(num_hidden_layers=1)          # Kimi-K2 sizes, one layer, no memory used
    with torch.device("meta"):
        model = impl.DeepseekV3Model(cfg)
    weight = model.embed_tokens.weight
    assert tuple(weight.shape) == (163840, 7168), (
        f"Kimi-K2 embed_tokens shape {tuple(weight.shape)} != (163840, 7168): teaching.md §A table")
    assert weight.numel() == 1_174_405_120, f"{weight.numel():,} parameters, expected 1,174,405,120"
    assert model.padding_idx is None, (
        f"Kimi-K2's config.json has no pad_token_id, so padding_idx must be None (got {model.padding_idx})")
