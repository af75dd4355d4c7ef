"""Lesson 60: the pre-norm decoder layer forward, and what moving the norms would do to gradients.

Run: python code_snippets.py   (about 5 s; writes prenorm_gradients.png)
"""
import math
import types
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import torch  # noqa: E402

from kimik2 import KimiK2Config, KimiK2ForCausalLM  # noqa: E402

HERE = Path(__file__).parent
torch.set_printoptions(precision=4)
torch.set_num_threads(1)  # tiny tensors: one thread is fastest and keeps the numbers reproducible


def rms(t):
    return t.pow(2).mean().sqrt().item()


# 1. One MoE layer of a freshly initialised tiny model, step by step.
torch.manual_seed(0)
model = KimiK2ForCausalLM(KimiK2Config.tiny()).eval()
layer = model.model.layers[1]
ids = torch.randint(0, 512, (2, 6), generator=torch.Generator().manual_seed(1))
with torch.no_grad():
    x = torch.randn(2, 6, 64, generator=torch.Generator().manual_seed(2))   # a residual stream of RMS 1
    a_in = layer.input_layernorm(x)
    a_out = layer.self_attn(a_in)
    h = x + a_out
    m_in = layer.post_attention_layernorm(h)
    m_out = layer.mlp(m_in)
    out = h + m_out
    print("== tiny layer 1 (MoE), fresh init, x of RMS 1 ==")
    for name, t in (("x", x), ("input_layernorm(x)", a_in), ("self_attn(...)", a_out), ("h = x + attn", h),
                    ("post_attention_layernorm(h)", m_in), ("mlp(...)", m_out), ("out = h + mlp", out)):
        print(f"  {name:<30} {str(tuple(t.shape)):<12} RMS {rms(t):.4f}")
    print("  layer(x) == the composition above:", torch.equal(layer(x), out))

# 2. The identity path: with the two branch outputs zeroed, the layer is exactly the identity.
with torch.no_grad():
    saved = [p.clone() for p in layer.parameters()]
    layer.self_attn.o_proj.weight.zero_()
    for expert in [*layer.mlp.experts, layer.mlp.shared_experts]:
        expert.down_proj.weight.zero_()
    print("\nbranches zeroed (o_proj and every down_proj = 0): layer(x) == x:", torch.equal(layer(x), x))
    for p, s in zip(layer.parameters(), saved):
        p.copy_(s)


# 3. Pre-norm vs post-norm: gradient norms per layer at initialisation.
def post_norm_forward(self, hidden_states, attention_mask=None, position_ids=None, past_key_value=None):
    """The original Transformer order: normalise AFTER each residual sum (for comparison only)."""
    h = self.input_layernorm(hidden_states + self.self_attn(hidden_states, attention_mask, position_ids,
                                                             past_key_value))
    return self.post_attention_layernorm(h + self.mlp(h))


def unit_gain_(model, seed=0):
    """Linear weights N(0, 1/fan_in) (gain 1, as 0.02 is near 1/sqrt(7168) at Kimi-K2's width), embeddings N(0, 1)."""
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, p in model.named_parameters():
            if "embed_tokens" in name:
                p.copy_(torch.randn(p.shape, generator=g))
            elif p.dim() == 2:
                p.copy_(torch.randn(p.shape, generator=g) / math.sqrt(p.shape[1]))


def layer_gradients(num_layers, order):
    torch.manual_seed(0)
    net = KimiK2ForCausalLM(KimiK2Config.tiny(num_hidden_layers=num_layers, first_k_dense_replace=num_layers))
    unit_gain_(net)
    if order == "post":
        for blk in net.model.layers:
            blk.forward = types.MethodType(post_norm_forward, blk)
    tokens = torch.randint(0, 512, (4, 64), generator=torch.Generator().manual_seed(1))
    net(tokens, labels=tokens).loss.backward()
    return [torch.cat([p.grad.flatten() for p in blk.parameters()]).norm().item() for blk in net.model.layers]


print("\n== gradient norm of each layer's parameters, 48 dense layers, unit-gain weights ==")
curves = {order: layer_gradients(48, order) for order in ("pre", "post")}
for order, g in curves.items():
    print(f"  {order}-norm: layer 0 {g[0]:.3g}, layer 24 {g[24]:.3g}, layer 47 {g[47]:.3g}; "
          f"max/min over layers {max(g) / min(g):.1f}")

depths = [6, 12, 24, 48]
last = {order: [layer_gradients(n, order)[-1] for n in depths] for order in ("pre", "post")}
print("\n== gradient norm of the LAST layer vs depth ==")
for order in ("pre", "post"):
    print(f"  {order}-norm: " + ", ".join(f"L={n}: {v:.3f}" for n, v in zip(depths, last[order])))

# Figure.
fig, (ax0, ax1) = plt.subplots(1, 2, figsize=(11, 4))
for order, color in (("pre", "tab:blue"), ("post", "tab:red")):
    ax0.semilogy(range(48), curves[order], color=color, label=f"{order}-norm")
    ax1.loglog(depths, last[order], "o-", color=color, label=f"{order}-norm")
ref = [last["pre"][0] * math.sqrt(depths[0] / n) for n in depths]
ax1.loglog(depths, ref, "k:", label=r"$\propto 1/\sqrt{L}$")
ax0.set_xlabel("layer index (0 = next to the embedding)")
ax0.set_ylabel("||grad of the layer's parameters||")
ax0.set_title("48 layers at init: per-layer gradient norm")
ax0.legend()
ax1.set_xlabel("number of layers L")
ax1.set_ylabel("||grad of the last layer||")
ax1.set_title("last layer's gradient vs depth")
ax1.minorticks_off()
ax1.set_xticks(depths, [str(n) for n in depths])
ax1.set_yticks([0.15, 0.3, 0.5, 1.0], ["0.15", "0.3", "0.5", "1.0"])
ax1.legend()
fig.tight_layout()
fig.savefig(HERE / "prenorm_gradients.png", dpi=110)
print("wrote prenorm_gradients.png")
