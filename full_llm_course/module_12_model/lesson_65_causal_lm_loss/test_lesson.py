"""Graded tests for lesson 65: KimiK2ForCausalLM.loss_function (shift by one, ignore -100, mean over counted tokens)."""


import torch
from kimi_course.testing import assert_close, randomize_


def _by_hand(logits, labels):
    """An independent computation: log-softmax in float64, gather, mask, sum / count."""
    target = labels[:, 1:]
    keep = target != -100
    logp = logits[:, :-1].double().log_softmax(-1)
    nll = -logp.gather(-1, target.clamp(min=0).unsqueeze(-1)).squeeze(-1)
    return (nll[keep].sum() / keep.sum()).float()


def _data(seed, shape=(3, 9), vocab=50):
    g = torch.Generator().manual_seed(seed)
    return torch.randn(*shape, vocab, generator=g) * 2, torch.randint(0, vocab, shape, generator=g)


def test_matches_independent_computation(impl, reference):
    logits, labels = _data(0)
    got = impl.KimiK2ForCausalLM.loss_function(logits, labels)
    assert got.dim() == 0, f"the loss must be a scalar, got shape {tuple(got.shape)} (teaching.md §The code)"
    assert_close(got, _by_hand(logits, labels), atol=1e-5, what="loss on random logits (3, 9, 50), no -100",
                 hint="position t's logits against label t + 1: logits[:, :-1] with labels[:, 1:] (teaching.md §The maths)")
    assert_close(got, reference.KimiK2ForCausalLM.loss_function(logits, labels), atol=1e-6,
                 what="loss vs the answer key", hint="F.cross_entropy(..., ignore_index=-100) (teaching.md §The code)")


def test_ignore_index_and_mean_over_counted_tokens(impl, reference):
    logits, labels = _data(1)
    labels[0, :5] = -100                  # a prompt
    labels[1, 7:] = -100                  # padding at the end
    labels[2, 4] = -100
    got = impl.KimiK2ForCausalLM.loss_function(logits, labels)
    assert_close(got, _by_hand(logits, labels), atol=1e-5, what="loss with -100 labels in every row",
                 hint="ignored targets count neither in the sum nor in N; the mean is over the whole batch's counted "
                      "tokens, not per row (teaching.md §The maths)")


def test_a_fully_ignored_row(impl, reference):
    logits, labels = _data(2)
    labels[1] = -100
    got = impl.KimiK2ForCausalLM.loss_function(logits, labels)
    assert_close(got, _by_hand(logits, labels), atol=1e-5, what="loss with row 1 entirely -100",
                 hint="one mean over the batch's counted tokens: an empty row simply contributes nothing "
                      "(teaching.md §Worked example)")


def test_bf16_logits_give_a_float32_loss(impl, reference):
    logits, labels = _data(3)
    got = impl.KimiK2ForCausalLM.loss_function(logits.bfloat16(), labels)
    assert got.dtype == torch.float32, (f"loss dtype {got.dtype} for bf16 logits: upcast with .float() before the "
                                        "cross-entropy (teaching.md §The code)")
    assert_close(got, _by_hand(logits.bfloat16().float(), labels), atol=1e-5, what="loss from bf16 logits",
                 hint="the cross-entropy itself must run in float32 (teaching.md §Pitfalls)")


def test_kimi_k2_vocabulary(impl, reference):
    """One real Kimi-K2 dimension: 163840 classes."""
    logits, labels = _data(4, shape=(1, 5), vocab=163840)
    labels[0, 2] = -100
    got = impl.KimiK2ForCausalLM.loss_function(logits, labels)
    assert_close(got, _by_hand(logits, labels), atol=1e-4, what="loss over 163840 classes",
                 hint="teaching.md §The code")


def test_model_loss_matches_transformers(impl, reference, tmp_path):
    from transformers import DeepseekV3ForCausalLM
    from transformers.utils import logging

    logging.set_verbosity_error()
    ours = randomize_(impl.KimiK2ForCausalLM(impl.KimiK2Config.tiny()), seed=5).eval()
    ours.save_pretrained(tmp_path)
    theirs = DeepseekV3ForCausalLM.from_pretrained(tmp_path).eval()
    ids = torch.randint(0, 512, (2, 10), generator=torch.Generator().manual_seed(6))
    labels = ids.clone()
    labels[0, :4] = -100
    with torch.no_grad():
        loss = ours(ids, labels=labels).loss
        expected = theirs(ids, labels=labels).loss
    assert_close(loss, expected.float(), atol=1e-5, what="model loss vs transformers' DeepseekV3ForCausalLM",
                 hint="shift by one, ignore -100, mean over counted tokens (teaching.md §The maths)")


def test_aux_loss_is_not_in_loss(impl, reference):
    torch.manual_seed(7)
    model = impl.KimiK2ForCausalLM(impl.KimiK2Config.tiny()).train()
    ids = torch.randint(0, 512, (2, 12), generator=torch.Generator().manual_seed(8))
    out = model(ids, labels=ids)
    assert out.aux_loss is not None and float(out.aux_loss.detach()) > 0, "training mode should report a balance loss"
    assert_close(out.loss, _by_hand(out.logits.detach(), ids), atol=1e-5,
                 what="out.loss in training mode (the balance loss must stay in out.aux_loss)",
                 hint="loss_function returns the language-model loss only (teaching.md §aux_loss is reported, not added)")
