"""Graded tests for lesson 04: DeepseekV3Model.forward looks the ids up in embed_tokens."""
import torch
from torch import nn

from kimi_course.testing import assert_close


def _pair(impl, reference, seed=0, **overrides):
    torch.manual_seed(seed)
    ref = reference.KimiK2ForCausalLM(reference.KimiK2Config.tiny(**overrides)).eval()
    mine = impl.KimiK2ForCausalLM(impl.KimiK2Config.tiny(**overrides)).eval()
    mine.load_state_dict(ref.state_dict())
    return mine, ref


def _ids(vocab, shape=(2, 9), seed=1):
    return torch.randint(0, vocab, shape, generator=torch.Generator().manual_seed(seed))


def test_model_hidden_states_match_reference(impl, reference):
    mine, ref = _pair(impl, reference)
    ids = _ids(512)
    with torch.no_grad():
        got, _ = mine.model(input_ids=ids)
        want, _ = ref.model(input_ids=ids)
    assert_close(got, want, atol=1e-5, what="DeepseekV3Model(input_ids) final hidden states (tiny)",
                 hint="inputs_embeds = self.embed_tokens(input_ids), shape (b, s) -> (b, s, H): teaching.md §The code")


def test_causal_lm_logits_match_reference(impl, reference):
    mine, ref = _pair(impl, reference, seed=2)
    ids = _ids(512, (3, 5), seed=4)
    with torch.no_grad():
        assert_close(mine(ids).logits, ref(ids).logits, atol=1e-5, what="KimiK2ForCausalLM logits (tiny)",
                     hint="the only difference between the two models is your lookup: teaching.md §The code")


def test_input_ids_path_equals_inputs_embeds_path(impl, reference):
    mine, _ = _pair(impl, reference, seed=3)
    ids = _ids(512, (2, 6), seed=5)
    with torch.no_grad():
        from_ids, _ = mine.model(input_ids=ids)
        embeds = mine.model.embed_tokens.weight[ids]                      # rows by plain indexing
        from_embeds, _ = mine.model(inputs_embeds=embeds)
    assert_close(from_ids, from_embeds, atol=1e-6, what="forward(input_ids) vs forward(inputs_embeds=weight[ids])",
                 hint="the lookup must read row ids[b, s] of self.embed_tokens, nothing more (no scaling by sqrt(H)): "
                      "teaching.md §Pitfalls")


def test_forward_uses_the_current_table(impl, reference):
    mine, ref = _pair(impl, reference, seed=6)
    table = nn.Embedding(512, 64)
    nn.init.normal_(table.weight, std=0.5, generator=torch.Generator().manual_seed(7))
    mine.model.embed_tokens = table
    ref.model.embed_tokens = table
    ids = _ids(512, (1, 7), seed=8)
    with torch.no_grad():
        assert_close(mine(ids).logits, ref(ids).logits, atol=1e-5, what="logits after replacing model.embed_tokens",
                     hint="look the ids up in self.embed_tokens at call time, not in a copy made earlier")


def test_kimi_k2_vocabulary_ids(impl, reference):
    # the real Kimi-K2 vocabulary size (163840), tiny everything else; ids from the special-token range
    mine, ref = _pair(impl, reference, seed=9, vocab_size=163840)
    ids = torch.tensor([[163584, 17, 163586, 163839, 0, 163585]])
    with torch.no_grad():
        got, _ = mine.model(input_ids=ids)
        want, _ = ref.model(input_ids=ids)
    assert_close(got, want, atol=1e-5, what="hidden states for ids up to 163839 (vocab 163840)",
                 hint="every id in [0, vocab_size) is a valid row: teaching.md §The code")
