"""Lesson 77: left padding, positions from the attention mask, and the inputs of the next step.

Run: python code_snippets.py   (about 10 seconds; writes left_padding_mask.png)
"""
from pathlib import Path
import math

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import torch  # noqa: E402

from kimik2 import KimiK2Config, KimiK2ForCausalLM  # noqa: E402
from kimik2.attention import causal_mask  # noqa: E402
from kimik2.generation import generate, next_step_inputs, positions_from_mask  # noqa: E402

HERE = Path(__file__).parent
PROMPTS = [[5, 17, 33, 2, 8, 61, 40], [9, 9, 70], [44, 3, 12, 90, 6]]
PAD = 0

# 1. A left-padded batch and its positions.
width = max(map(len, PROMPTS))
ids = torch.tensor([[PAD] * (width - len(p)) + p for p in PROMPTS])
mask = torch.tensor([[0] * (width - len(p)) + [1] * len(p) for p in PROMPTS])
positions = positions_from_mask(mask)
print("1. three prompts of 7, 3 and 5 tokens, left-padded to 7")
for name, tensor in (("input_ids", ids), ("attention_mask", mask), ("cumsum(mask) - 1", mask.cumsum(-1) - 1),
                     ("positions_from_mask", positions)):
    print(f"  {name:20s} {tensor.tolist()}")

from transformers.generation.utils import GenerationMixin  # noqa: E402

theirs = GenerationMixin._prepare_position_ids_for_generation(None, ids, {"attention_mask": mask})
print(f"  transformers 5.24 _prepare_position_ids_for_generation equal: {torch.equal(theirs, positions)}")

# 2. Two steps later.
print("\n2. next_step_inputs, twice (the new tokens are real in every row)")
step_mask, step_positions = mask, positions
for step in (1, 2):
    step_mask, step_positions = next_step_inputs(step_mask, step_positions)
    print(f"  after step {step}: mask {tuple(step_mask.shape)}, last columns {step_mask[:, -3:].tolist()}, "
          f"new positions {step_positions.tolist()}")

# 3. The batch generates what each prompt generates alone.
torch.manual_seed(0)
model = KimiK2ForCausalLM(KimiK2Config.tiny()).eval()
g = torch.Generator().manual_seed(0)
with torch.no_grad():                       # O(1) logits, so greedy choices are clear-cut
    for name, parameter in model.named_parameters():
        if parameter.dim() == 2 and "embed_tokens" not in name:
            parameter.copy_(torch.randn(parameter.shape, generator=g) / math.sqrt(parameter.shape[1]))
print("\n3. greedy, 5 new tokens: the left-padded batch vs each prompt alone")
batched = generate(model, ids, mask, max_new_tokens=5)
for row, prompt in enumerate(PROMPTS):
    alone = generate(model, torch.tensor([prompt]), max_new_tokens=5)
    print(f"  row {row}: batch {batched[row, width:].tolist()}  alone {alone[0, len(prompt):].tolist()}  "
          f"equal: {batched[row, width:].tolist() == alone[0, len(prompt):].tolist()}")


# 4. What breaks: four ways to choose positions and mask, the same greedy loop written out.
def greedy(prefill_positions, decode_positions: str, use_mask: bool = True, steps: int = 5):
    """Prefill with the given positions, then `steps` cached steps; decode positions from next_step_inputs
    ("last + 1") or left to the model ("default": it counts the cache, pads included)."""
    with torch.no_grad():
        out = model(ids, attention_mask=mask if use_mask else None, position_ids=prefill_positions, use_cache=True)
        step_mask, step_positions, tokens, logits = mask, prefill_positions, [], [out.logits[:, -1]]
        for _ in range(steps):
            token = out.logits[:, -1].argmax(-1)
            tokens.append(token)
            step_mask, step_positions = next_step_inputs(step_mask, step_positions)
            out = model(token[:, None], attention_mask=step_mask if use_mask else None,
                        position_ids=step_positions if decode_positions == "last + 1" else None,
                        past_key_values=out.past_key_values)
            logits.append(out.logits[:, -1])
    return torch.stack(tokens, 1), torch.stack(logits, 1)


print("\n4. the same batch, four ways (tokens of row 1, the 3-token prompt; logits vs the correct way)")
arange = torch.arange(width).expand(len(PROMPTS), -1)
variants = {"cumsum - 1, then last + 1 (correct)": (positions, "last + 1", True),
            "arange for every row, then last + 1": (arange, "last + 1", True),
            "cumsum - 1, then the model's default": (positions, "default", True),
            "cumsum - 1, then last + 1, no mask": (positions, "last + 1", False)}
correct_tokens, correct_logits = greedy(*variants["cumsum - 1, then last + 1 (correct)"])
for name, arguments in variants.items():
    tokens, logits = greedy(*arguments)
    difference = (logits - correct_logits).abs().max()
    print(f"  {name:37s}: row 1 {tokens[1].tolist()}, max |logit difference| {difference:.1e}")

# Figure: who may attend to whom at prefill, per row, with the positions on the axes.
additive = causal_mask(mask, width, 0, torch.float32, torch.device("cpu"))      # (3, 1, 7, 7)
fig, axes = plt.subplots(1, 3, figsize=(11, 4.4))
for row, ax in enumerate(axes):
    allowed = (additive[row, 0] == 0).float()
    ax.imshow(allowed, cmap="Greens", vmin=0, vmax=1.4)
    labels = ["pad" if m == 0 else f"{t}\np{p}" for t, m, p in zip(ids[row].tolist(), mask[row].tolist(),
                                                                      positions[row].tolist())]
    ax.set_xticks(range(width), labels, fontsize=7)
    ax.set_yticks(range(width), [label.replace("\n", " ") for label in labels], fontsize=7)
    ax.set_xlabel("key (token, position)")
    ax.set_title(f"row {row}: {len(PROMPTS[row])} tokens, {width - len(PROMPTS[row])} pads", fontsize=10)
axes[0].set_ylabel("query")
fig.suptitle("Prefill attention of a left-padded batch (green: may attend); real tokens count from p0")
fig.tight_layout(rect=(0, 0.02, 1, 0.96))
fig.savefig(HERE / "left_padding_mask.png", dpi=110)
print("wrote left_padding_mask.png")
