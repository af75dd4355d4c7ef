"""Graded tests for lesson 98: kimik2.training.run.sample (BOS + prompt, cached generation, streaming decode)."""

import importlib

import pytest
import torch

LINES = ["ROMEO: But soft, what light through yonder window breaks?", "JULIET: O Romeo, Romeo, wherefore art thou?",
         "HAMLET: To be, or not to be, that is the question.", "MACBETH: Tomorrow, and tomorrow, and tomorrow."]


def _sub(package, name):
    return importlib.import_module(package.__name__ + name)


@pytest.fixture(scope="module")
def tokenizer(reference, tmp_path_factory):
    """A 300-merge tokenizer learned from a small stand-in corpus (no data/ needed)."""
    corpus = _sub(reference, ".tokenizer.corpus")
    root = tmp_path_factory.mktemp("data")
    folder = corpus.corpus_dir(root)
    folder.mkdir(parents=True)
    names = [f"work_{i:02d}_gut.txt" for i in range(corpus.NUM_WORKS)]
    for i, name in enumerate(names):
        (folder / name).write_text("\n".join(LINES[(i + k) % 4] for k in range(40)) + "\n")
    (folder / "SOURCE.txt").write_text("stand-in\nfiles:\n" + "\n".join(names) + "\n")
    return _sub(reference, ".training.tokens").corpus_tokenizer(root, 300)


def _models(impl, reference, vocab):
    torch.manual_seed(0)
    ref = reference.KimiK2ForCausalLM(reference.KimiK2Config.tiny(vocab_size=vocab)).eval()
    mine = impl.KimiK2ForCausalLM(impl.KimiK2Config.tiny(vocab_size=vocab)).eval()
    mine.load_state_dict(ref.state_dict())
    for model in (mine, ref):
        model.set_mla_mode("absorbed")
    return mine, ref


@pytest.mark.parametrize("temperature,top_k", [(0.0, None), (0.8, 50), (1.5, 5)])
def test_sample_matches_reference(impl, reference, tokenizer, temperature, top_k, one_thread):
    mine, ref = _models(impl, reference, tokenizer.vocab_size)
    kwargs = dict(max_new_tokens=12, temperature=temperature, top_k=top_k, seed=3)
    got = _sub(impl, ".training.run").sample(mine, tokenizer, "ROMEO:", **kwargs)
    want = _sub(reference, ".training.run").sample(ref, tokenizer, "ROMEO:", **kwargs)
    assert got == want, (f"sample(temperature={temperature}, top_k={top_k}) returned {got!r}, reference {want!r}: "
                         "prompt ids = [bos] + encode(prompt); pass temperature/top_k/seed and stop at eos to "
                         "generate (teaching.md §The code)")


def test_sample_recomputed_and_streamed(impl, reference, tokenizer, one_thread):
    mine, ref = _models(impl, reference, tokenizer.vocab_size)
    pieces = []
    text = _sub(impl, ".training.run").sample(mine, tokenizer, "JULIET:", max_new_tokens=10, temperature=0.0,
                                               top_k=None, stream=pieces.append)
    assert "".join(pieces) == text, "stream must receive exactly the returned text, piece by piece (teaching.md §Streaming)"
    assert all(pieces), "stream is never called with an empty string"
    prompt = torch.tensor([[tokenizer.bos_id] + tokenizer.encode("JULIET:")])
    with torch.no_grad():                                  # greedy without a cache: the full forward each step
        ids = prompt
        for _ in range(10):
            next_id = ref(ids).logits[0, -1].argmax()
            ids = torch.cat([ids, next_id.view(1, 1)], dim=1)
            if int(next_id) == tokenizer.eos_id:
                break
    new = ids[0, prompt.shape[1]:].tolist()
    assert text == tokenizer.decode(new), (f"greedy sample {text!r} != decode of a cache-free greedy loop "
                                           f"{tokenizer.decode(new)!r}: is BOS first? (teaching.md §BOS)")
