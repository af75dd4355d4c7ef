"""Graded tests for lesson 79: the decoding loop of kimik2.generation.generate (and chat, which calls it)."""

import importlib
import math
import warnings

import pytest
import torch
from kimi_course.testing import left_padded

PROMPTS = [[5, 17, 33, 2, 8, 61, 40], [9, 9, 70], [44, 3, 12, 90, 6]]


def generation(package):
    """The package's generation module (kimik2/__init__.py does not import it)."""
    return importlib.import_module(f"{package.__name__}.generation")


@pytest.fixture(scope="module")
def model(reference):
    """The answer key's tiny model with O(1) logits (greedy choices far from ties); the loop under test is impl's."""
    torch.manual_seed(0)
    tiny = reference.KimiK2ForCausalLM(reference.KimiK2Config.tiny(max_position_embeddings=128)).eval()
    g = torch.Generator().manual_seed(0)
    with torch.no_grad():
        for name, parameter in tiny.named_parameters():
            if parameter.dim() == 2 and "embed_tokens" not in name:
                parameter.copy_(torch.randn(parameter.shape, generator=g) / math.sqrt(parameter.shape[1]))
    return tiny


def _new(output, prompt_width):
    return output[:, prompt_width:].tolist()


@pytest.fixture(scope="module")
def transformers_greedy(model, tmp_path_factory):
    """transformers' DeepseekV3ForCausalLM.generate on the same weights: the left-padded prompts, 8 greedy tokens."""
    transformers = pytest.importorskip("transformers")
    transformers.logging.set_verbosity_error()
    folder = tmp_path_factory.mktemp("checkpoint")
    model.save_pretrained(folder)
    ids, mask = left_padded(PROMPTS)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        theirs = transformers.DeepseekV3ForCausalLM.from_pretrained(folder).eval()
        return theirs.generate(ids, attention_mask=mask, max_new_tokens=8, do_sample=False, pad_token_id=0,
                               eos_token_id=None)


@pytest.mark.parametrize("mla_mode", ["expanded", "absorbed"])
def test_greedy_equals_transformers_generate(impl, reference, model, transformers_greedy, mla_mode):
    ids, mask = left_padded(PROMPTS)
    expected = transformers_greedy
    model.set_mla_mode(mla_mode)
    try:
        got = generation(impl).generate(model, ids, mask, max_new_tokens=8)
    finally:
        model.set_mla_mode("expanded")
    assert got.shape == expected.shape, (
        f"generate returned {tuple(got.shape)}; transformers returned {tuple(expected.shape)}: the prompt (b, s) "
        "followed by max_new_tokens new columns (teaching.md §The loop)")
    assert torch.equal(got, expected), (
        f"greedy tokens ({mla_mode}) differ from transformers' generate on the same weights:\n"
        f"yours        {_new(got, ids.shape[1])}\ntransformers {_new(expected, ids.shape[1])}\n"
        "hint: prefill with positions from the mask, then feed each new token with the grown mask and position "
        "(teaching.md §The loop)")


def test_greedy_equals_a_loop_without_cache(impl, reference, model):
    """One prompt, greedy: rerunning the whole sequence every step must give the same tokens."""
    prompt = torch.tensor([PROMPTS[0]])
    tokens = prompt
    with torch.no_grad():
        for _ in range(8):
            next_token = model(tokens).logits[:, -1].argmax(-1, keepdim=True)
            tokens = torch.cat([tokens, next_token], dim=1)
    got = generation(impl).generate(model, prompt, max_new_tokens=8)
    assert got.tolist() == tokens.tolist(), (
        f"generate gave {_new(got, 7)}, recomputing without a cache gives {_new(tokens, 7)} (teaching.md §The loop)")


def test_stop_ids_end_each_row_on_its_own(impl, reference, model):
    ids, mask = left_padded(PROMPTS)
    free = generation(reference).generate(model, ids, mask, max_new_tokens=8)
    stop = int(free[0, ids.shape[1] + 2])                          # row 0's third new token
    got = generation(impl).generate(model, ids, mask, max_new_tokens=8, stop_ids=[stop], pad_id=96)
    want = generation(reference).generate(model, ids, mask, max_new_tokens=8, stop_ids=[stop], pad_id=96)
    for row in range(len(PROMPTS)):
        new, unstopped = got[row, ids.shape[1]:].tolist(), free[row, ids.shape[1]:].tolist()
        if stop in unstopped[:len(new)]:
            end = unstopped.index(stop) + 1
            assert new[:end] == unstopped[:end] and set(new[end:]) <= {96}, (
                f"row {row} with stop id {stop}: got {new}; expected {unstopped[:end]} then only pad 96 "
                "(teaching.md §Stopping, row by row)")
        else:
            assert new == unstopped[:len(new)], f"row {row} never emits {stop}: got {new}, expected {unstopped}"
    assert torch.equal(got, want), (
        f"with stop_ids=[{stop}] your output {tuple(got.shape)} differs from the answer key's {tuple(want.shape)}: "
        "stop the loop as soon as every row has stopped (teaching.md §Stopping, row by row)")


def test_the_loop_ends_when_every_row_has_stopped(impl, reference, model):
    prompt = torch.tensor([PROMPTS[1]])
    free = generation(reference).generate(model, prompt, max_new_tokens=6)
    stop = int(free[0, 3 + 1])                                     # the second new token
    got = generation(impl).generate(model, prompt, max_new_tokens=6, stop_ids=[stop])
    assert got.tolist() == free[:, :3 + 2].tolist(), (
        f"a single row that emits stop id {stop} as its 2nd new token: got {got.tolist()}, expected "
        f"{free[:, :5].tolist()} (the stop token is kept, then the loop ends; teaching.md §Stopping, row by row)")


def test_stream_receives_each_step(impl, reference, model):
    ids, mask = left_padded(PROMPTS)
    seen = []
    got = generation(impl).generate(model, ids, mask, max_new_tokens=5,
                                    stream=lambda tokens: seen.append(tokens.clone()))
    assert len(seen) == 5 and all(tuple(t.shape) == (3,) for t in seen), (
        f"stream was called {len(seen)} times with shapes {[tuple(t.shape) for t in seen]}; expected 5 calls with "
        "(3,): once per step with that step's token of every row (teaching.md §The loop)")
    assert torch.stack(seen, dim=1).tolist() == got[:, ids.shape[1]:].tolist(), (
        "the streamed tokens differ from the returned ones (teaching.md §The loop)")


def test_sampling_with_a_seed_is_repeatable_and_matches_the_answer_key(impl, reference, model):
    ids, mask = left_padded(PROMPTS)
    settings = dict(max_new_tokens=8, temperature=1.0, top_k=50, top_p=0.95)
    first = generation(impl).generate(model, ids, mask, seed=7, **settings)
    again = generation(impl).generate(model, ids, mask, seed=7, **settings)
    want = generation(reference).generate(model, ids, mask, seed=7, **settings)
    assert torch.equal(first, again), "two runs with seed=7 differ: draw every token with the seeded generator"
    assert torch.equal(first, want), (
        f"seed=7, temperature 1, top-k 50, top-p 0.95: yours {_new(first, 7)}, answer key {_new(want, 7)}\n"
        "hint: one sample_next_token call per step on the last position's logits, with the generator built from "
        "seed (teaching.md §Seeds)")


def test_chat_generates_until_im_end_and_parses_the_reply(impl, reference):
    """A stand-in model whose logits always prefer the next token of a scripted reply."""
    tokenizer_module = importlib.import_module(f"{reference.__name__}.tokenizer")
    tokenizer = tokenizer_module.KimiTokenizer(tokenizer_module.train_bpe("the weather in Paris is sunny " * 20, 270))
    special = tokenizer.token_id
    script = (tokenizer.encode("Let me check.")
              + [special("<|tool_calls_section_begin|>"), special("<|tool_call_begin|>")]
              + tokenizer.encode("functions.weather:0") + [special("<|tool_call_argument_begin|>")]
              + tokenizer.encode('{"city": "Paris"}') + [special("<|tool_call_end|>"),
                                                         special("<|tool_calls_section_end|>"), special("<|im_end|>")])
    config = reference.KimiK2Config.tiny(vocab_size=tokenizer.vocab_size, max_position_embeddings=512)
    fed = []

    class Scripted:
        training = False

        def __init__(self):
            self.config = config

        def eval(self):
            return self

        def train(self, mode=True):
            return self

        def __call__(self, input_ids, past_key_values=None, **kwargs):
            seen = input_ids.shape[1] + (past_key_values or 0)          # its "cache" is a count of tokens
            fed.append(input_ids.shape[1])
            logits = torch.zeros(1, input_ids.shape[1], config.vocab_size)
            logits[0, -1, script[len(fed) - 1]] = 1.0
            return type("Out", (), dict(logits=logits, past_key_values=seen))()

    reply = generation(impl).chat(Scripted(), tokenizer, [{"role": "user", "content": "Weather in Paris?"}])
    assert len(fed) == len(script) and fed[1:] == [1] * (len(script) - 1), (
        f"the model was called with {fed[:3]}... tokens: one prefill of the prompt, then one token per step until "
        f"<|im_end|> ({len(script)} calls in all) (teaching.md §chat)")
    assert reply.content == "Let me check." and [(c.id, c.name, c.arguments) for c in reply.tool_calls] == [
        ("functions.weather:0", "weather", '{"city": "Paris"}')], f"chat parsed {reply}"
