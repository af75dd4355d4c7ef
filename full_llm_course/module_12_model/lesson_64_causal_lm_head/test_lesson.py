"""Graded tests for lesson 64: KimiK2ForCausalLM.__init__ and the logits in forward."""


import torch
from kimi_course.testing import assert_close, randomize_


def _pair(impl, reference, seed=0, **overrides):
    want = randomize_(reference.KimiK2ForCausalLM(reference.KimiK2Config.tiny(**overrides)), seed).eval()
    got = impl.KimiK2ForCausalLM(impl.KimiK2Config.tiny(**overrides)).eval()
    got.load_state_dict(want.state_dict())
    return got, want


def _ids(seed, shape=(2, 8)):
    return torch.randint(0, 512, shape, generator=torch.Generator().manual_seed(seed))


def test_init_matches_reference(impl, reference):
    torch.manual_seed(0)
    got = impl.KimiK2ForCausalLM(impl.KimiK2Config.tiny())
    torch.manual_seed(0)
    want = reference.KimiK2ForCausalLM(reference.KimiK2Config.tiny())
    head = got.lm_head
    assert type(head).__name__ == "Linear" and head.bias is None, (
        f"lm_head is {head}: expected nn.Linear(hidden_size, vocab_size, bias=False) (teaching.md §The code)")
    assert tuple(head.weight.shape) == (512, 64), f"lm_head.weight shape {tuple(head.weight.shape)} != (512, 64)"
    assert type(got.model).__name__ == "DeepseekV3Model", "self.model must be the DeepseekV3Model (teaching.md §The code)"
    assert got.vocab_size == 512, f"vocab_size attribute {getattr(got, 'vocab_size', None)} != 512"
    got_sd, want_sd = got.state_dict(), want.state_dict()
    assert set(got_sd) == set(want_sd), (f"state_dict names differ: {sorted(set(got_sd) ^ set(want_sd))[:4]} "
                                         "(teaching.md §The code)")
    for name, tensor in want_sd.items():
        assert_close(got_sd[name], tensor, atol=0.0, what=f"{name} of a fresh tiny KimiK2ForCausalLM (seed 0)",
                     hint="build self.model, then lm_head, then self._init_weights(self.lm_head) (teaching.md §The code)")


def test_untied_by_default_tied_on_request(impl, reference):
    untied = impl.KimiK2ForCausalLM(impl.KimiK2Config.tiny())
    assert untied.lm_head.weight is not untied.model.embed_tokens.weight, (
        "tie_word_embeddings is False (Kimi-K2): the head needs its own weight (teaching.md §The maths)")
    tied = impl.KimiK2ForCausalLM(impl.KimiK2Config.tiny(tie_word_embeddings=True))
    assert tied.lm_head.weight is tied.model.embed_tokens.weight, (
        "tie_word_embeddings=True: lm_head.weight must be the same Parameter object as embed_tokens.weight "
        "(teaching.md §The code)")


def test_logits_match_reference(impl, reference):
    got, want = _pair(impl, reference, seed=1)
    ids = _ids(2)
    with torch.no_grad():
        logits = got(ids).logits
        expected = want(ids).logits
    assert_close(logits, expected, atol=1e-4, what="logits (2, 8, 512)",
                 hint="logits = self.lm_head(hidden_states).float() (teaching.md §The code)")


def test_bf16_model_gives_float32_logits(impl, reference):
    got, want = _pair(impl, reference, seed=3)
    got, want = got.to(torch.bfloat16), want.to(torch.bfloat16)
    ids = _ids(4)
    with torch.no_grad():
        logits = got(ids).logits
        expected = want(ids).logits
    assert logits.dtype == torch.float32, (f"logits dtype {logits.dtype} for a bf16 model: end with .float() "
                                           "(teaching.md §Why float32)")
    assert_close(logits, expected, atol=0.0, what="logits of the bf16 model",
                 hint="the head runs in the model dtype; cast its output (teaching.md §The code)")


def test_mask_positions_and_cache_reach_the_model(impl, reference):
    got, want = _pair(impl, reference, seed=5)
    ids = _ids(6)
    mask = torch.ones(2, 8, dtype=torch.long)
    mask[1, :3] = 0
    positions = (mask.cumsum(-1) - 1).clamp(min=0)
    positions[0, 4:] += 6                                   # row 0: a jump, so positions are not a constant shift
    real = mask.bool()
    with torch.no_grad():
        expected = want(ids, attention_mask=mask, position_ids=positions).logits
        out = got(ids, attention_mask=mask, position_ids=positions)
        assert_close(out.logits[real], expected[real], atol=1e-4, what="logits with left padding and explicit positions",
                     hint="pass attention_mask and position_ids to self.model (teaching.md §The code)")
        prefill = got(ids[:, :6], attention_mask=mask[:, :6], position_ids=positions[:, :6], use_cache=True)
        assert prefill.past_key_values is not None, (
            "use_cache=True: return the cache self.model hands back (teaching.md §The code)")
        step = got(ids[:, 6:], attention_mask=mask, position_ids=positions[:, 6:],
                   past_key_values=prefill.past_key_values, use_cache=True)
    assert_close(step.logits[real[:, 6:]], expected[:, 6:][real[:, 6:]], atol=1e-4,
                 what="logits of 2 decode steps after a cached prefill",
                 hint="past_key_values and use_cache go to self.model in its argument order (teaching.md §Pitfalls)")


def test_logits_match_transformers(impl, reference, tmp_path):
    from transformers import DeepseekV3ForCausalLM
    from transformers.utils import logging

    logging.set_verbosity_error()
    ours = randomize_(impl.KimiK2ForCausalLM(impl.KimiK2Config.tiny()), seed=7).eval()
    ours.save_pretrained(tmp_path)
    theirs = DeepseekV3ForCausalLM.from_pretrained(tmp_path).eval()
    ids = _ids(8)
    with torch.no_grad():
        logits = ours(ids).logits
        expected = theirs(ids).logits.float()
    assert_close(logits, expected, atol=1e-4, what="logits vs transformers' DeepseekV3ForCausalLM",
                 hint="the head is a plain bias-free Linear on the final hidden states (teaching.md §The maths)")


def test_kimi_k2_head_on_meta(impl, reference):
    with torch.device("meta"):
        model = impl.KimiK2ForCausalLM(impl.KimiK2Config(num_hidden_layers=1))
    assert tuple(model.lm_head.weight.shape) == (163840, 7168), (
        f"Kimi-K2 lm_head.weight shape {tuple(model.lm_head.weight.shape)}, expected (163840, 7168) "
        "(teaching.md §The code)")
    assert model.lm_head.weight is not model.model.embed_tokens.weight, "Kimi-K2 does not tie its head"
