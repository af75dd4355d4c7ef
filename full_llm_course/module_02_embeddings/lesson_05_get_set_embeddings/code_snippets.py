"""Lesson 05: get/set input and output embeddings - resizing the vocabulary, tying, swapping a table."""
import torch
from torch import nn

import kimik2

torch.manual_seed(0)
cfg = kimik2.KimiK2Config.tiny()
lm = kimik2.KimiK2ForCausalLM(cfg).eval()
ids = torch.tensor([[1, 5, 9, 2]])

print("== who owns what ==")
print("lm.get_input_embeddings() is lm.model.embed_tokens:", lm.get_input_embeddings() is lm.model.embed_tokens)
print("lm.get_output_embeddings() is lm.lm_head:        ", lm.get_output_embeddings() is lm.lm_head)
print("input table ", tuple(lm.get_input_embeddings().weight.shape), "(vocab, hidden)")
print("output head ", tuple(lm.get_output_embeddings().weight.shape), "(vocab, hidden): nn.Linear stores (out, in)")

# 1. Set a new input table: the logits change, and the inner model sees the same object
with torch.no_grad():
    before = lm(ids).logits
new_in = nn.Embedding(cfg.vocab_size, cfg.hidden_size)
nn.init.normal_(new_in.weight, std=cfg.initializer_range)
lm.set_input_embeddings(new_in)
with torch.no_grad():
    after = lm(ids).logits
print("\n== set_input_embeddings ==")
print("lm.model.embed_tokens is new_in:", lm.model.embed_tokens is new_in)
print("max |logits change|:", f"{(after - before).abs().max().item():.4f}")

# 2. Resize the vocabulary 512 -> 520 (8 new tokens), keeping the trained rows
def resize(lm, new_vocab):
    old_in, old_out = lm.get_input_embeddings(), lm.get_output_embeddings()
    n = min(old_in.num_embeddings, new_vocab)
    hidden = old_in.embedding_dim
    mean, std = old_in.weight[:n].mean(0), old_in.weight[:n].std()
    grown_in = nn.Embedding(new_vocab, hidden, padding_idx=old_in.padding_idx)
    grown_out = nn.Linear(hidden, new_vocab, bias=False)
    with torch.no_grad():
        grown_in.weight[:n] = old_in.weight[:n]
        grown_in.weight[n:] = mean + std * torch.randn(new_vocab - n, hidden)   # new rows near the old ones
        grown_out.weight[:n] = old_out.weight[:n]
        grown_out.weight[n:] = old_out.weight[:n].mean(0)
    lm.set_input_embeddings(grown_in)
    lm.set_output_embeddings(grown_out)
    lm.config.vocab_size = lm.model.vocab_size = lm.vocab_size = new_vocab

with torch.no_grad():
    old_logits = lm(ids).logits
resize(lm, 520)
with torch.no_grad():
    new_logits = lm(ids).logits
print("\n== resize 512 -> 520 ==")
print("embed", tuple(lm.get_input_embeddings().weight.shape), "| lm_head", tuple(lm.get_output_embeddings().weight.shape),
      "| logits", tuple(new_logits.shape))
print("old tokens' logits unchanged:", torch.allclose(new_logits[..., :512], old_logits, atol=0, rtol=0))

# 3. Tying: one matrix for both ends
tied = kimik2.KimiK2ForCausalLM(kimik2.KimiK2Config.tiny())
n_untied = sum(p.numel() for p in tied.parameters())
tied.get_output_embeddings().weight = tied.get_input_embeddings().weight
n_tied = sum(p.numel() for p in tied.parameters())          # .parameters() counts a shared tensor once
print("\n== tying ==")
print("same storage:", tied.lm_head.weight.data_ptr() == tied.model.embed_tokens.weight.data_ptr())
print(f"parameters untied {n_untied:,} -> tied {n_tied:,} (saved {n_untied - n_tied:,} = 512 x 64)")
print("config.tie_word_embeddings (Kimi-K2):", kimik2.KimiK2Config.kimi_k2().tie_word_embeddings)
