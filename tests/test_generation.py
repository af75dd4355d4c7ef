"""generate(): greedy equals transformers', batching with left padding changes nothing, both MLA
modes agree over a long generation, sampling follows the filtered distribution, stops per row."""

import pytest
import torch
from transformers import DeepseekV3ForCausalLM

from helpers import assert_close, randomize_, tiny_config
from kimi_course.testing import left_padded
from kimik2 import KimiK2ForCausalLM
from kimik2.generation import filter_logits, generate, sample_next_token


@pytest.fixture(scope="module")
def model():
    torch.manual_seed(0)
    return randomize_(KimiK2ForCausalLM(tiny_config(max_position_embeddings=128))).eval()


PROMPTS = [[5, 17, 33, 2, 8, 61, 40], [9, 9, 70], [44, 3, 12, 90, 6]]


@pytest.mark.parametrize("mla_mode", ["expanded", "absorbed"])
def test_greedy_equals_transformers_generate(model, mla_mode, tmp_path):
    model.save_pretrained(tmp_path)
    theirs = DeepseekV3ForCausalLM.from_pretrained(tmp_path).eval()
    ids, mask = left_padded(PROMPTS)
    model.set_mla_mode(mla_mode)
    ours = generate(model, ids, mask, max_new_tokens=12)
    model.set_mla_mode("expanded")
    expected = theirs.generate(ids, attention_mask=mask, max_new_tokens=12, do_sample=False, pad_token_id=0,
                               eos_token_id=None)
    assert torch.equal(ours, expected), (ours, expected)


def test_a_batch_equals_each_prompt_alone(model):
    ids, mask = left_padded(PROMPTS)
    batched = generate(model, ids, mask, max_new_tokens=10)
    for row, prompt in enumerate(PROMPTS):
        alone = generate(model, torch.tensor([prompt]), max_new_tokens=10)
        assert batched[row, -10:].tolist() == alone[0, -10:].tolist(), f"row {row}"


def test_absorbed_and_expanded_agree_over_a_long_generation(model):
    prompt = torch.tensor([PROMPTS[0]])
    tokens = generate(model, prompt, max_new_tokens=100)
    model.set_mla_mode("absorbed")
    absorbed_tokens = generate(model, prompt, max_new_tokens=100)
    with torch.no_grad():
        absorbed_logits = model(tokens).logits
        model.set_mla_mode("expanded")
        expanded_logits = model(tokens).logits
    assert torch.equal(tokens, absorbed_tokens)
    assert_close(absorbed_logits, expanded_logits, atol=1e-5, what="absorbed vs expanded logits, 107 positions")


def test_stop_ids_end_each_row_on_its_own(model):
    ids, mask = left_padded(PROMPTS)
    free = generate(model, ids, mask, max_new_tokens=8)
    stop = int(free[0, -8 + 2])                      # row 0's third new token
    stopped = generate(model, ids, mask, max_new_tokens=8, stop_ids=[stop], pad_id=96)
    for row in range(len(PROMPTS)):
        new, expected = stopped[row, ids.shape[1]:].tolist(), free[row, ids.shape[1]:].tolist()
        if stop in expected:
            end = expected.index(stop) + 1
            assert new[:end] == expected[:end] and set(new[end:]) <= {96}, (row, new, expected)
        else:
            assert new == expected[:len(new)]
    assert stopped[0, ids.shape[1] + 3:].eq(96).all()


def test_sampling_follows_the_filtered_distribution():
    logits = torch.tensor([[2.0, 1.5, 1.0, 0.5, 0.0, -1.0]])
    generator = torch.Generator().manual_seed(0)
    draws = 40000
    for temperature, top_k, top_p in [(1.0, None, None), (0.7, 3, None), (1.0, None, 0.8), (1.3, 4, 0.9)]:
        # expected distribution computed directly: scale, keep the top-k, keep the nucleus, renormalise
        probs = (logits[0] / temperature).softmax(-1)
        keep = torch.zeros(6, dtype=torch.bool)
        keep[:top_k or 6] = True                            # logits are sorted already
        kept = torch.where(keep, probs, 0.0)
        kept = kept / kept.sum()
        if top_p is not None:
            before = kept.cumsum(-1) - kept
            kept = torch.where(before < top_p, kept, 0.0)
            kept = kept / kept.sum()
        samples = torch.stack([sample_next_token(logits.expand(100, -1), temperature, top_k, top_p, generator)
                               for _ in range(draws // 100)]).view(-1)
        observed = torch.bincount(samples, minlength=6).double() / draws
        sigma = (kept.double() * (1 - kept.double()) / draws).sqrt()
        assert ((observed - kept.double()).abs() <= 5 * sigma + 1e-12).all(), (temperature, top_k, top_p,
                                                                             observed, kept)


def test_top_p_keeps_the_smallest_set_reaching_p_and_always_the_best():
    logits = torch.log(torch.tensor([[0.5, 0.3, 0.15, 0.05]]))
    assert torch.isfinite(filter_logits(logits, top_p=0.8)).tolist() == [[True, True, False, False]]
    assert torch.isfinite(filter_logits(logits, top_p=0.81)).tolist() == [[True, True, True, False]]
    assert torch.isfinite(filter_logits(logits, top_p=0.01)).tolist() == [[True, False, False, False]]


def test_sampling_with_a_seed_repeats(model):
    ids = torch.tensor([PROMPTS[0]])
    first = generate(model, ids, max_new_tokens=10, temperature=1.0, top_k=20, seed=7)
    assert torch.equal(first, generate(model, ids, max_new_tokens=10, temperature=1.0, top_k=20, seed=7))


@pytest.mark.parametrize("kwargs, message", [
    (dict(input_ids=torch.zeros(1, 0, dtype=torch.long)), "at least one token"),
    (dict(max_new_tokens=200), "max_position_embeddings=128"),
    (dict(top_p=0.0), r"top_p=0.0: must be in \(0, 1\]"),
    (dict(top_p=1.5), r"top_p=1.5"),
    (dict(temperature=-0.5), "temperature=-0.5"),
    (dict(top_k=0), "top_k=0"),
    (dict(stop_ids=[3], pad_id=500), "pad_id=500 is not a token id"),
])
def test_bad_arguments_get_clear_errors(model, kwargs, message):
    arguments = dict(input_ids=torch.tensor([[1, 2, 3]]), max_new_tokens=4) | kwargs
    with pytest.raises(ValueError, match=message):
        generate(model, **arguments)


def test_chat_renders_generates_until_im_end_and_parses_the_reply(monkeypatch):
    """A model whose logits always prefer a scripted reply: chat() must stop at <|im_end|> and
    return its content and tool call."""
    from kimik2 import generation
    from kimik2.tokenizer import KimiTokenizer, train_bpe
    tokenizer = KimiTokenizer(train_bpe("the weather in Paris is sunny today " * 20, 270))
    im_end = tokenizer.token_id("<|im_end|>")
    script = (tokenizer.encode("Let me check.") + [tokenizer.token_id("<|tool_calls_section_begin|>"),
              tokenizer.token_id("<|tool_call_begin|>")] + tokenizer.encode("functions.weather:0")
              + [tokenizer.token_id("<|tool_call_argument_begin|>")] + tokenizer.encode('{"city": "Paris"}')
              + [tokenizer.token_id("<|tool_call_end|>"), tokenizer.token_id("<|tool_calls_section_end|>"), im_end])
    config = tiny_config(vocab_size=tokenizer.vocab_size, max_position_embeddings=512)
    prompt_length = {}

    class Scripted:
        """Stands in for the model: its 'cache' is the number of tokens seen so far."""
        training = False

        def __init__(self):
            self.config = config

        def eval(self):
            return self

        def train(self, mode=True):
            return self

        def __call__(self, input_ids, past_key_values=None, **kwargs):
            length = input_ids.shape[1] + (past_key_values or 0)
            prompt_length.setdefault("n", length)
            logits = torch.zeros(1, input_ids.shape[1], config.vocab_size)
            logits[0, -1, script[length - prompt_length["n"]]] = 1.0
            return type("Out", (), dict(logits=logits, past_key_values=length))()
    reply = generation.chat(Scripted(), tokenizer, [{"role": "user", "content": "Weather in Paris?"}])
    assert reply.content == "Let me check."
    assert [(call.id, call.name, call.arguments) for call in reply.tool_calls] == [
        ("functions.weather:0", "weather", '{"city": "Paris"}')]
