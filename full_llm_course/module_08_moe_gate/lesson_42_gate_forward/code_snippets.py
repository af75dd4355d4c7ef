"""Lesson 42: the whole MoEGate forward, its gradients, and a check against transformers' router.

Run: python code_snippets.py   (about 3 s; writes routing_map.png)
"""
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import torch  # noqa: E402
from transformers.models.deepseek_v3 import modeling_deepseek_v3 as hf  # noqa: E402
from transformers.models.deepseek_v3.configuration_deepseek_v3 import DeepseekV3Config  # noqa: E402

from kimik2 import KimiK2Config, MoEGate  # noqa: E402

HERE = Path(__file__).parent
torch.set_printoptions(precision=4, sci_mode=False)
torch.manual_seed(0)

# 1. Shapes at Kimi-K2's real size: (b, s, 7168) bf16 -> (b*s, 8) int64 and (b*s, 8) float32.
k2 = KimiK2Config.kimi_k2()
gate = MoEGate(k2)
x = torch.randn(2, 5, k2.hidden_size, generator=torch.Generator().manual_seed(1)).bfloat16()
idx, w = gate(x)
print(f"input {tuple(x.shape)} {x.dtype} -> topk_idx {tuple(idx.shape)} {idx.dtype}, "
      f"topk_weight {tuple(w.shape)} {w.dtype}; weight sums {[round(v, 4) for v in w.sum(-1)[:3].tolist()]}")

# 2. Gradients: the choice has none, the weights do; the bias never gets one.
config = KimiK2Config.tiny(n_group=4, topk_group=2)
gate = MoEGate(config)
with torch.no_grad():
    gate.e_score_correction_bias.copy_(torch.randn(16, generator=torch.Generator().manual_seed(2)) * 0.1)
h = torch.randn(1, 3, config.hidden_size, generator=torch.Generator().manual_seed(3))
idx, w = gate(h)
print("topk_idx requires_grad:", idx.requires_grad, "| topk_weight grad_fn:", type(w.grad_fn).__name__)
probe = torch.randn(w.shape, generator=torch.Generator().manual_seed(4))
(w * probe).sum().backward()
rows_with_grad = (gate.weight.grad.abs().sum(-1) > 0).nonzero().flatten().tolist()
print("chosen experts (union over 3 tokens):", sorted(set(idx.flatten().tolist())))
print("gate.weight rows with a gradient:     ", rows_with_grad)
print("e_score_correction_bias.grad:", gate.e_score_correction_bias.grad,
      "| requires_grad:", gate.e_score_correction_bias.requires_grad)

# 3. The same weights in transformers' DeepseekV3TopkRouter.
hf_config = DeepseekV3Config(hidden_size=config.hidden_size, n_routed_experts=16, num_experts_per_tok=4,
                             n_group=4, topk_group=2, routed_scaling_factor=2.827, norm_topk_prob=True)
router = hf.DeepseekV3TopkRouter(hf_config)
print("transformers router state_dict:", {k: tuple(v.shape) for k, v in router.state_dict().items()})
router.load_state_dict(gate.state_dict())
tokens = torch.randn(4, 32, config.hidden_size, generator=torch.Generator().manual_seed(5))
with torch.no_grad():
    ours_idx, ours_w = gate(tokens)
    _, hf_w, hf_idx = router(tokens)
o_idx, o_order = ours_idx.sort(-1)
h_idx, h_order = hf_idx.sort(-1)
same_idx = torch.equal(o_idx, h_idx)
max_diff = (ours_w.gather(1, o_order) - hf_w.gather(1, h_order)).abs().max().item()
print(f"128 tokens: same experts {same_idx}, max |weight difference| {max_diff:.2e}")

# 4. A routing map: which experts each of 24 tokens uses, and with what weight.
with torch.no_grad():
    idx, w = gate(tokens[:1, :24])
dense = torch.zeros(24, 16).scatter_(1, idx, w)
fig, ax = plt.subplots(figsize=(7, 4.2))
im = ax.imshow(dense.T.numpy(), aspect="auto", cmap="viridis", interpolation="nearest")
for b in range(1, 4):
    ax.axhline(b * 4 - 0.5, color="w", lw=0.8, ls=":")
ax.set_xlabel("token")
ax.set_ylabel("expert (dotted lines: group borders)")
ax.set_title("tiny gate (16 experts, 4 groups, keep 2, top-4): mixing weights")
fig.colorbar(im, ax=ax, label="topk_weight (each column sums to 2.827)")
fig.tight_layout()
fig.savefig(HERE / "routing_map.png", dpi=110)
print("wrote routing_map.png")
