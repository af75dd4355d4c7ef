"""Lesson 94: MuonClip - one optimizer for the whole model (Muon + AdamW, then QK-Clip).

Run: python code_snippets.py   (about 5 seconds; writes muonclip_max_logit.png)
"""
import io
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import torch  # noqa: E402

from kimik2 import KimiK2Config, KimiK2ForCausalLM  # noqa: E402
from kimik2.qk_clip import MuonClip, muon_and_adamw_parameters  # noqa: E402

torch.set_num_threads(1)
HERE = Path(__file__).parent

# 1. Who goes where, at the tiny size.
config = KimiK2Config.tiny()
torch.manual_seed(0)
model = KimiK2ForCausalLM(config)
muon, adamw = muon_and_adamw_parameters(model)
print(f"1. tiny model ({config.num_hidden_layers} layers, {config.n_routed_experts} experts): "
      f"{len(muon)} Muon matrices, {len(adamw)} AdamW tensors")
print("  Muon, layer 1:", [n.removeprefix("model.layers.1.") for n, _ in muon if n.startswith("model.layers.1.")
                           and "experts." not in n], "+ 3 per expert")
print("  AdamW:", [n for n, _ in adamw if "layers.1." in n or "layers" not in n])
frozen = [n for n, p in model.named_parameters() if not p.requires_grad]
print("  in neither (requires_grad False):", frozen)

# 2. Kimi-K2's real shapes, two layers (the dense one and one MoE), on the meta device: no memory used.
with torch.device("meta"):
    big = KimiK2ForCausalLM(KimiK2Config(num_hidden_layers=2))
big_muon, big_adamw = muon_and_adamw_parameters(big)
print(f"\n2. Kimi-K2 shapes, 2 layers: {len(big_muon)} Muon matrices, {len(big_adamw)} AdamW tensors")
shapes = {n: tuple(p.shape) for n, p in big_adamw}
print("  embed", shapes["model.embed_tokens.weight"], " lm_head", shapes["lm_head.weight"],
      " router (Muon)", tuple(big.get_parameter("model.layers.1.mlp.gate.weight").shape))


# 3. A few steps with a low tau so that QK-Clip acts.
def train(tau, steps=12, lr=5e-2, seed=0):
    torch.manual_seed(seed)
    net = KimiK2ForCausalLM(config)
    with torch.no_grad():                                # larger init: logits of order 1 from the start
        for name, p in net.named_parameters():
            if p.dim() == 2 and p.requires_grad:
                p.normal_(0, 0.1)
    opt = MuonClip(net, lr=lr, qk_clip_tau=tau)
    g = torch.Generator().manual_seed(seed)
    batch = torch.randint(0, config.vocab_size, (4, 32), generator=g)
    history = []
    for _ in range(steps):
        opt.zero_grad()
        out = net(batch, labels=batch)
        (out.loss + out.aux_loss).backward()
        opt.step()
        history.append(max(m.max().item() for m in opt.last_max_logits.values()))
    return net, opt, history, batch


net, opt, clipped, batch = train(tau=3.5)
_, _, free, _ = train(tau=float("inf"))
print("\n3. max logit over all heads seen in each step's forward (before that step's clip)")
print("  tau = 3.5  :", [round(v, 2) for v in clipped])
print("  tau = inf  :", [round(v, 2) for v in free])
print("  last_max_logits keys:", list(opt.last_max_logits)[:2], "...  shape", tuple(opt.last_max_logits[
    "model.layers.0.self_attn"].shape))

# 4. state_dict round trip: a resumed optimizer continues bit for bit.
buffer = io.BytesIO()
torch.save({"model": net.state_dict(), "optimizer": opt.state_dict()}, buffer)
buffer.seek(0)
saved = torch.load(buffer)
resumed = KimiK2ForCausalLM(config)
resumed.load_state_dict(saved["model"])
resumed_opt = MuonClip(resumed, lr=999.0, qk_clip_tau=3.5)      # lr comes back from the state dict
resumed_opt.load_state_dict(saved["optimizer"])
for model_, opt_ in ((net, opt), (resumed, resumed_opt)):
    opt_.zero_grad()
    out = model_(batch, labels=batch)
    (out.loss + out.aux_loss).backward()
    opt_.step()
same = all(torch.equal(p, q) for p, q in zip(net.parameters(), resumed.parameters()))
print(f"\n4. after one more step each: resumed == original: {same}; resumed lr = "
      f"{resumed_opt.param_groups[0]['lr']}")

fig, ax = plt.subplots(figsize=(6, 3.4))
ax.plot(range(1, len(free) + 1), free, "o-", label="MuonClip, tau = inf (plain Muon + AdamW)")
ax.plot(range(1, len(clipped) + 1), clipped, "s-", label="MuonClip, tau = 3.5")
ax.axhline(3.5, color="tab:red", ls="--", lw=1, label="tau = 3.5")
ax.set_xlabel("step")
ax.set_ylabel("max logit seen in the step's forward")
ax.set_title("Tiny Kimi-K2, lr 5e-2: QK-Clip after every step", fontsize=10)
ax.legend(fontsize=8)
fig.tight_layout()
fig.savefig(HERE / "muonclip_max_logit.png", dpi=110)
print("\nwrote muonclip_max_logit.png")
