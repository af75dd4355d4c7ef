"""Lesson 45: DeepseekV3MoE.forward - gate, count, dispatch, shared expert - and the same numbers from transformers.

Run: python code_snippets.py   (about 5 s; writes tokens_per_expert.png)
"""
import logging
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import torch  # noqa: E402
from transformers import DeepseekV3Config  # noqa: E402
from transformers.models.deepseek_v3 import modeling_deepseek_v3 as hf  # noqa: E402

from kimik2 import DeepseekV3MoE, KimiK2Config  # noqa: E402

HERE = Path(__file__).parent
torch.set_printoptions(precision=4, sci_mode=False, linewidth=110)
torch.set_num_threads(1)   # many tiny matmuls: one thread is as fast and steadier
logging.getLogger("transformers").setLevel(logging.ERROR)

# 1. One forward on the tiny layer, step by step.
config = KimiK2Config.tiny()                      # 16 experts, top-4, hidden 64, one shared expert
torch.manual_seed(0)
moe = DeepseekV3MoE(config)
x = torch.randn(2, 5, 64, generator=torch.Generator().manual_seed(1))
with torch.no_grad():
    topk_idx, topk_weight = moe.gate(x)
    counts = torch.bincount(topk_idx.view(-1), minlength=16)
    routed = moe.dispatch(x.reshape(-1, 64), topk_idx, topk_weight, counts.tolist()).view(2, 5, 64)
    shared = moe.shared_experts(x)
    out = moe(x)
print(f"x {tuple(x.shape)} -> topk_idx {tuple(topk_idx.shape)}, topk_weight {tuple(topk_weight.shape)}")
print("counts (bincount):", counts.tolist(), "sum", int(counts.sum()), "= 10 tokens x 4")
print(f"out {tuple(out.shape)}; max |out - (routed + shared)| = {(out - routed - shared).abs().max().item():.1e}")
print(f"mean |routed part| {routed.abs().mean().item():.4f}, mean |shared part| {shared.abs().mean().item():.4f}")

# 2. The buffer accumulates over forwards until someone resets it.
print("tokens_per_expert after 1 forward :", moe.tokens_per_expert.tolist())
history = [moe.tokens_per_expert.clone()]
for seed in (2, 3):
    with torch.no_grad():
        moe(torch.randn(2, 5, 64, generator=torch.Generator().manual_seed(seed)))
    history.append(moe.tokens_per_expert.clone())
print("tokens_per_expert after 3 forwards:", moe.tokens_per_expert.tolist(), "sum", int(moe.tokens_per_expert.sum()))
print("in state_dict:", "tokens_per_expert" in moe.state_dict(), "| dtype:", moe.tokens_per_expert.dtype)

# 3. The same weights in transformers' DeepseekV3MoE: experts are stored fused there.
def to_transformers(ours: DeepseekV3MoE, config: KimiK2Config) -> hf.DeepseekV3MoE:
    hf_config = DeepseekV3Config(hidden_size=config.hidden_size, moe_intermediate_size=config.moe_intermediate_size,
                                 n_routed_experts=config.n_routed_experts, num_experts_per_tok=config.num_experts_per_tok,
                                 n_shared_experts=config.n_shared_experts, n_group=config.n_group,
                                 topk_group=config.topk_group, routed_scaling_factor=config.routed_scaling_factor,
                                 norm_topk_prob=config.norm_topk_prob)
    hf_config._experts_implementation = "eager"     # the plain loop (set by from_pretrained inside a full model)
    theirs = hf.DeepseekV3MoE(hf_config)
    state = ours.state_dict()
    experts = range(config.n_routed_experts)
    fused = {
        # gate_up_proj[e] = [gate_proj; up_proj] stacked on the output dimension: (E, 2m, H)
        "experts.gate_up_proj": torch.stack([torch.cat([state[f"experts.{e}.gate_proj.weight"],
                                                        state[f"experts.{e}.up_proj.weight"]]) for e in experts]),
        "experts.down_proj": torch.stack([state[f"experts.{e}.down_proj.weight"] for e in experts]),  # (E, H, m)
    }
    rest = {k: v for k, v in state.items() if not k.startswith("experts.")}   # gate.*, shared_experts.*: same names
    theirs.load_state_dict({**fused, **rest})
    return theirs


for label, overrides in (("tiny, Kimi-style routing (1 group)", {}),
                         ("tiny, 4 groups keep 2", dict(n_group=4, topk_group=2))):
    cfg = KimiK2Config.tiny(**overrides)
    torch.manual_seed(0)
    ours = DeepseekV3MoE(cfg)
    with torch.no_grad():
        ours.gate.e_score_correction_bias.normal_(0, 0.05, generator=torch.Generator().manual_seed(4))
    theirs = to_transformers(ours, cfg)
    h = torch.randn(4, 16, 64, generator=torch.Generator().manual_seed(5))
    with torch.no_grad():
        diff = (ours(h) - theirs(h)).abs().max().item()
    print(f"{label}: max |ours - transformers| = {diff:.1e} over {h.shape[0] * h.shape[1]} tokens")
print("transformers keys:", {k: tuple(v.shape) for k, v in theirs.state_dict().items() if k.startswith("experts")})

# 4. Shapes at Kimi-K2's width: hidden 7168, 384 experts, top-8 (experts narrowed to 4 units to fit in memory).
wide = KimiK2Config.tiny(hidden_size=7168, n_routed_experts=384, num_experts_per_tok=8, moe_intermediate_size=4,
                         routed_scaling_factor=2.827)
torch.manual_seed(0)
big = DeepseekV3MoE(wide)
hb = torch.randn(2, 3, 7168, generator=torch.Generator().manual_seed(6)).bfloat16()
big.bfloat16()
big.gate.float()
with torch.no_grad():
    yb = big(hb)
print(f"Kimi-K2 width: in {tuple(hb.shape)} {hb.dtype} -> out {tuple(yb.shape)} {yb.dtype}; "
      f"tokens_per_expert {tuple(big.tokens_per_expert.shape)}, sum {int(big.tokens_per_expert.sum())} = 6 x 8, "
      f"experts used {int((big.tokens_per_expert > 0).sum())} of 384")

# Figure: the counter after each of three forwards.
fig, ax = plt.subplots(figsize=(8.5, 3.6))
bottom = torch.zeros(16)
for i, snapshot in enumerate(history):
    step = snapshot - (history[i - 1] if i else 0)
    ax.bar(range(16), step.numpy(), bottom=bottom.numpy(), label=f"forward {i + 1} (+40 slots)")
    bottom += step
ax.axhline(3 * 40 / 16, color="black", ls="--", lw=1, label="fair share after 3 forwards (7.5)")
ax.set_xlabel("expert")
ax.set_ylabel("tokens_per_expert")
ax.set_xticks(range(16))
ax.set_title("The counter keeps adding until reset: 3 forwards of 10 tokens, top-4")
ax.set_ylim(0, 15)
ax.legend(fontsize=8, ncol=2, loc="upper center")
fig.tight_layout()
fig.savefig(HERE / "tokens_per_expert.png", dpi=110)
print("wrote tokens_per_expert.png")
