"""Graded tests for lesson 05: get/set input and output embeddings on DeepseekV3Model and KimiK2ForCausalLM."""
import torch
from torch import nn

from kimi_course.testing import assert_close


def _pair(impl, reference, seed=0):
    torch.manual_seed(seed)
    ref = reference.KimiK2ForCausalLM(reference.KimiK2Config.tiny()).eval()
    mine = impl.KimiK2ForCausalLM(impl.KimiK2Config.tiny()).eval()
    mine.load_state_dict(ref.state_dict())
    return mine, ref


IDS = torch.tensor([[3, 77, 400, 9, 511], [0, 1, 2, 3, 4]])


def test_model_get_returns_the_table_itself(impl, reference):
    model = impl.DeepseekV3Model(impl.KimiK2Config.tiny())
    got = model.get_input_embeddings()
    assert got is model.embed_tokens, (
        f"DeepseekV3Model.get_input_embeddings() returned {type(got).__name__}, not the module model.embed_tokens "
        "itself (a copy would break resizing and tying): teaching.md §The code")


def test_model_set_then_forward_uses_new_table(impl, reference):
    mine, ref = _pair(impl, reference)
    table = nn.Embedding(512, 64)
    nn.init.normal_(table.weight, std=0.3, generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        before = mine.model(input_ids=IDS)[0]
    mine.model.set_input_embeddings(table)
    assert mine.model.embed_tokens is table, "DeepseekV3Model.set_input_embeddings must store the module as embed_tokens"
    assert mine.model.get_input_embeddings() is table, "get_input_embeddings() after set_input_embeddings(t) is not t"
    ref.model.set_input_embeddings(table)
    with torch.no_grad():
        after = mine.model(input_ids=IDS)[0]
        assert_close(after, ref.model(input_ids=IDS)[0], atol=1e-5, what="hidden states after set_input_embeddings",
                     hint="the forward must read the new table: teaching.md §The code")
    assert (after - before).abs().max() > 1e-3, "setting a new input table did not change the hidden states"


def test_causal_lm_input_embeddings_delegate(impl, reference):
    mine, ref = _pair(impl, reference, seed=2)
    assert mine.get_input_embeddings() is mine.model.embed_tokens, (
        "KimiK2ForCausalLM.get_input_embeddings() must return the inner model's embed_tokens: teaching.md §Delegation")
    table = nn.Embedding(512, 64)
    nn.init.normal_(table.weight, std=0.3, generator=torch.Generator().manual_seed(3))
    with torch.no_grad():
        before = mine(IDS).logits
    mine.set_input_embeddings(table)
    assert mine.model.embed_tokens is table, (
        "KimiK2ForCausalLM.set_input_embeddings(t) must put t into the inner model (self.model), where the forward "
        "reads it - setting an attribute on the outer model changes nothing: teaching.md §Delegation")
    ref.set_input_embeddings(table)
    with torch.no_grad():
        after = mine(IDS).logits
        assert_close(after, ref(IDS).logits, atol=1e-5, what="logits after KimiK2ForCausalLM.set_input_embeddings")
    assert (after - before).abs().max() > 1e-3, "setting a new input table did not change the logits"


def test_causal_lm_output_embeddings_round_trip(impl, reference):
    mine, ref = _pair(impl, reference, seed=4)
    assert mine.get_output_embeddings() is mine.lm_head, (
        "KimiK2ForCausalLM.get_output_embeddings() must return self.lm_head itself: teaching.md §The code")
    head = nn.Linear(64, 512, bias=False)
    nn.init.normal_(head.weight, std=0.05, generator=torch.Generator().manual_seed(5))
    with torch.no_grad():
        before = mine(IDS).logits
    mine.set_output_embeddings(head)
    ref.set_output_embeddings(head)
    assert mine.lm_head is head and mine.get_output_embeddings() is head, (
        "set_output_embeddings(h) must store h as self.lm_head (the forward computes self.lm_head(hidden))")
    with torch.no_grad():
        after = mine(IDS).logits
        assert_close(after, ref(IDS).logits, atol=1e-5, what="logits after set_output_embeddings")
    assert (after - before).abs().max() > 1e-3, "setting a new output head did not change the logits"


def test_tying_through_the_accessors(impl, reference):
    mine, _ = _pair(impl, reference, seed=6)
    mine.get_output_embeddings().weight = mine.get_input_embeddings().weight
    assert mine.lm_head.weight is mine.model.embed_tokens.weight, (
        "after tying through the accessors, lm_head.weight and embed_tokens.weight must be one Parameter")
    n = sum(p.numel() for p in mine.parameters())
    ref = reference.KimiK2ForCausalLM(reference.KimiK2Config.tiny(tie_word_embeddings=True))
    assert n == sum(p.numel() for p in ref.parameters()), (
        f"{n:,} parameters after tying; a tied reference has {sum(p.numel() for p in ref.parameters()):,}: "
        "teaching.md §Tying")
