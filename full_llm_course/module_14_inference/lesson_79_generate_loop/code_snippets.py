"""Lesson 79: the generate loop - prefill, one token per step against the cache, stop ids, streaming,
seeds - checked against transformers' generate; and chat() on top of it.

Run: python code_snippets.py   (about 15 seconds; writes generate_grid.png)
"""
from pathlib import Path
import math
import tempfile
import warnings

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import torch  # noqa: E402

from kimik2 import KimiK2Config, KimiK2ForCausalLM  # noqa: E402
from kimik2.generation import chat, generate  # noqa: E402
from kimik2.tokenizer import encode_chat, render_chat_text  # noqa: E402
from kimik2.training.tokens import corpus_tokenizer  # noqa: E402

HERE = Path(__file__).parent
REPO = HERE.parents[2]
PROMPTS = [[5, 17, 33, 2, 8, 61, 40], [9, 9, 70], [44, 3, 12, 90, 6]]
width = max(map(len, PROMPTS))
ids = torch.tensor([[0] * (width - len(p)) + p for p in PROMPTS])
mask = torch.tensor([[0] * (width - len(p)) + [1] * len(p) for p in PROMPTS])

torch.manual_seed(0)
model = KimiK2ForCausalLM(KimiK2Config.tiny(max_position_embeddings=128)).eval()
g = torch.Generator().manual_seed(0)
with torch.no_grad():                       # O(1) logits, so greedy choices are clear-cut
    for name, parameter in model.named_parameters():
        if parameter.dim() == 2 and "embed_tokens" not in name:
            parameter.copy_(torch.randn(parameter.shape, generator=g) / math.sqrt(parameter.shape[1]))

# 1. Greedy, left-padded batch: ours (both MLA modes) vs transformers' generate on the same weights.
print("1. greedy, 8 new tokens, left-padded batch of 3: ours vs transformers' generate")
import transformers  # noqa: E402
from transformers import DeepseekV3ForCausalLM  # noqa: E402

transformers.logging.set_verbosity_error()
transformers.logging.disable_progress_bar()
warnings.filterwarnings("ignore")
with tempfile.TemporaryDirectory() as folder:
    model.save_pretrained(folder)
    theirs = DeepseekV3ForCausalLM.from_pretrained(folder).eval()
expected = theirs.generate(ids, attention_mask=mask, max_new_tokens=8, do_sample=False, pad_token_id=0,
                           eos_token_id=None)
for mode in ("expanded", "absorbed"):
    model.set_mla_mode(mode)
    ours = generate(model, ids, mask, max_new_tokens=8)
    print(f"  {mode:8s}: equal to transformers: {torch.equal(ours, expected)}  new tokens {ours[:, width:].tolist()}")
model.set_mla_mode("expanded")

# 2. Streaming: the callback sees each step's tokens (b,) as soon as they exist.
print("\n2. stream=print_step, 4 new tokens")
generate(model, ids, mask, max_new_tokens=4, stream=lambda tokens: print(f"  step token per row: {tokens.tolist()}"))

# 3. Stop ids: each row stops after its own stop token and is padded while the others go on.
free = generate(model, ids, mask, max_new_tokens=8)
stop = int(free[0, width + 2])
stopped = generate(model, ids, mask, max_new_tokens=8, stop_ids=[stop], pad_id=96)
print(f"\n3. stop_ids=[{stop}] (row 0's third new token), pad_id=96")
for row in range(3):
    print(f"  row {row}: free {free[row, width:].tolist()}\n         stop {stopped[row, width:].tolist()}")
one = generate(model, torch.tensor([PROMPTS[0]]), max_new_tokens=8, stop_ids=[stop])
print(f"  a batch of one stops early: output {tuple(one.shape)} instead of (1, {width + 8})")

# 4. Seeds.
print("\n4. sampling: temperature 1.0, top-k 50, top-p 0.95")
for seed in (7, 7, 8):
    out = generate(model, ids[:1], max_new_tokens=8, temperature=1.0, top_k=50, top_p=0.95, seed=seed)
    print(f"  seed {seed}: {out[0, width:].tolist()}")

# 5. The model calls of one generate call: the prefill once, then one cached call per new token.
print("\n5. model calls of one generate call (prompt of 64 tokens, 32 new)")
calls = []


def record(module, args, kwargs):
    cache = kwargs.get("past_key_values")
    calls.append((args[0].shape[1], cache.get_seq_length() if cache is not None else 0))


hook = model.register_forward_pre_hook(record, with_kwargs=True)
long_prompt = torch.randint(0, 512, (1, 64), generator=torch.Generator().manual_seed(5))
generate(model, long_prompt, max_new_tokens=32)
hook.remove()
print(f"  {len(calls)} calls: (new positions, cached before) = {calls[:3]} ... {calls[-2:]}")

# 6. chat(): render the conversation, generate until <|im_end|>, parse content and tool calls.
print("\n6. chat() with the course's 4,096-token Shakespeare tokenizer")
tokenizer = corpus_tokenizer(REPO / "data")       # trained on first use, then read from data/
messages = [{"role": "user", "content": "What is the weather in Paris?"}]
tools = [{"type": "function", "function": {"name": "weather", "parameters": {"type": "object"}}}]
prompt = encode_chat(tokenizer, messages, tools)
print(f"  rendered prompt ({len(prompt)} ids): {render_chat_text(messages, tools)!r}")
script = (tokenizer.encode("Let me check.") + [tokenizer.token_id("<|tool_calls_section_begin|>"),
          tokenizer.token_id("<|tool_call_begin|>")] + tokenizer.encode("functions.weather:0")
          + [tokenizer.token_id("<|tool_call_argument_begin|>")] + tokenizer.encode('{"city": "Paris"}')
          + [tokenizer.token_id("<|tool_call_end|>"), tokenizer.token_id("<|tool_calls_section_end|>"),
             tokenizer.token_id("<|im_end|>")])


class ScriptedModel:
    """Stands in for a trained model: its logits always favour the next token of `script`.
    Its 'cache' is just the number of tokens it has seen."""

    training = False
    config = KimiK2Config.tiny(vocab_size=tokenizer.vocab_size, max_position_embeddings=4096)

    def __init__(self):
        self.step = 0

    def eval(self):
        return self

    def train(self, mode=True):
        return self

    def __call__(self, input_ids, past_key_values=None, **kwargs):
        logits = torch.zeros(1, input_ids.shape[1], self.config.vocab_size)
        logits[0, -1, script[self.step]] = 1.0
        self.step += 1
        return type("Output", (), dict(logits=logits, past_key_values=(past_key_values or 0) + input_ids.shape[1]))()


reply = chat(ScriptedModel(), tokenizer, messages, tools)
print(f"  scripted reply of {len(script)} tokens ending in <|im_end|> -> content {reply.content!r}, "
      f"tool calls {[(c.id, c.name, c.arguments) for c in reply.tool_calls]}")
print(f"  as a message: {reply.as_message()}")

# Figure: the output grid of section 3, cell by cell.
colors = {"pad": "#dddddd", "prompt": "#9ecae1", "new": "#3182bd", "stop": "#de2d26", "after": "#fcbba1"}
fig, ax = plt.subplots(figsize=(11, 2.8))
for row in range(3):
    stopped_yet = False
    for column in range(stopped.shape[1]):
        token = int(stopped[row, column])
        if column < width:
            kind = "prompt" if mask[row, column] else "pad"
        elif stopped_yet:
            kind = "after"
        else:
            kind = "stop" if token == stop else "new"
            stopped_yet = token == stop
        ax.add_patch(plt.Rectangle((column, 2 - row), 1, 1, facecolor=colors[kind], edgecolor="white"))
        ax.text(column + 0.5, 2.5 - row, str(token), ha="center", va="center", fontsize=8,
                color="white" if kind in ("new", "stop") else "black")
ax.axvline(width, color="black", lw=1)
ax.set_xlim(0, stopped.shape[1])
ax.set_ylim(0, 3)
ax.set_yticks([2.5, 1.5, 0.5], ["row 0", "row 1", "row 2"])
ax.set_xticks([width / 2, width + 4], ["prompt (left-padded)", "generated, one column per step"])
handles = [plt.Rectangle((0, 0), 1, 1, facecolor=c) for c in colors.values()]
ax.legend(handles, ["pad (mask 0)", "prompt", "generated", f"stop id {stop}", "pad_id after the stop"],
          fontsize=8, ncol=5, loc="upper center", bbox_to_anchor=(0.5, -0.18))
ax.set_title(f"generate(..., stop_ids=[{stop}], pad_id=96): each row stops on its own")
fig.tight_layout()
fig.savefig(HERE / "generate_grid.png", dpi=110)
print("wrote generate_grid.png")
