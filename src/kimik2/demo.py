"""`make demo`: Kimi-K2 inspected on the meta device, then the capstone: a tiny Kimi-K2 trained on
Shakespeare with MuonClip, sampled, and loaded by transformers with the same logits.
Run with ``python -m kimik2.demo`` (after `make data`)."""

from __future__ import annotations

import math
import os
import re
import time
from collections import Counter
from pathlib import Path

import torch
from rich.console import Console
from rich.table import Table

from .config import KimiK2Config
from .model import KimiK2ForCausalLM
from .size import count_parameters, kv_cache_bytes, kv_cache_values_per_token

console = Console()

# parameter name pattern -> component, first match wins
COMPONENTS = [
    (r"^model\.embed_tokens\.", "token embeddings"),
    (r"^lm_head\.", "lm_head"),
    (r"\.mlp\.experts\.", "routed experts"),
    (r"\.mlp\.shared_experts\.", "shared experts"),
    (r"\.mlp\.gate\.", "router gates"),
    (r"\.mlp\.", "dense MLP"),
    (r"\.self_attn\.", "attention (MLA)"),
    (r"norm", "RMSNorms"),
]


def component_table(model: KimiK2ForCausalLM) -> Counter:
    sizes: Counter = Counter()
    for name, parameter in model.named_parameters():
        component = next(label for pattern, label in COMPONENTS if re.search(pattern, name))
        sizes[component] += parameter.numel()
    return sizes


def show_architecture() -> None:
    config = KimiK2Config.kimi_k2()
    start = time.perf_counter()
    with torch.device("meta"):
        model = KimiK2ForCausalLM(config)
    elapsed = time.perf_counter() - start
    moe_layers = sum(config.is_moe_layer(i) for i in range(config.num_hidden_layers))
    console.rule("[bold]Kimi-K2-Instruct, built on the meta device")
    console.print(f"built in {elapsed:.1f} s without allocating a byte of weights")
    console.print(f"{config.num_hidden_layers} decoder layers: {config.num_hidden_layers - moe_layers} dense "
                  f"(MLP width {config.intermediate_size}) + {moe_layers} MoE ({config.n_routed_experts} experts of "
                  f"width {config.moe_intermediate_size}, {config.num_experts_per_tok} active, "
                  f"{config.n_shared_experts} shared)")
    console.print(f"MLA: {config.num_attention_heads} heads, q_lora_rank {config.q_lora_rank}, kv_lora_rank "
                  f"{config.kv_lora_rank}, q/k head dim {config.qk_head_dim} "
                  f"({config.qk_nope_head_dim} + rope {config.qk_rope_head_dim}), v head dim {config.v_head_dim}")

    sizes = component_table(model)
    counts = count_parameters(config)
    table = Table(title="Parameters by component")
    table.add_column("component")
    table.add_column("parameters", justify="right")
    table.add_column("share", justify="right")
    for component, size in sizes.most_common():
        table.add_row(component, f"{size:,}", f"{size / counts['total']:.1%}")
    table.add_row("[bold]total", f"[bold]{counts['total']:,}", "")
    table.add_row("[bold]active per token", f"[bold]{counts['active']:,}", f"{counts['active'] / counts['total']:.1%}")
    console.print(table)
    assert sum(sizes.values()) == counts["total"]

    values = kv_cache_values_per_token(config)
    cache = Table(title="KV cache per token (bf16, all 61 layers)")
    cache.add_column("what is cached")
    cache.add_column("values / layer", justify="right")
    cache.add_column("bytes / token", justify="right")
    cache.add_column("at 128K context", justify="right")
    for label, key in (("MLA latent (c_KV + k_pe)", "latent"), ("expanded K and V", "expanded")):
        latent = key == "latent"
        cache.add_row(label, f"{values[key]:,}", f"{kv_cache_bytes(config, 1, latent=latent):,}",
                      f"{kv_cache_bytes(config, 131072, latent=latent) / 2**30:,.1f} GiB")
    console.print(cache)
    console.print(f"the latent cache is {values['expanded'] / values['latent']:.1f}x smaller")


def train_sample_export(run_dir: Path) -> None:
    """The capstone: MuonClip on Shakespeare with a progress bar, validation loss before and after,
    a sample, and transformers loading the checkpoint with the same logits."""
    from transformers import DeepseekV3ForCausalLM  # interop only: never imported by the model

    from .training import latest_checkpoint, read_log
    from .training.run import load_run, reference_settings, sample, train_with_progress

    settings = reference_settings()
    console.rule(f"[bold]Training a tiny Kimi-K2 on Shakespeare: {settings.steps} steps of {settings.optimizer}, "
                 f"{settings.batch_size} x {settings.seq_len} tokens")
    train_with_progress(settings, run_dir, console)
    log = read_log(run_dir)
    console.print(f"validation loss: {log[0]['initial_val_loss']:.3f} before training -> {log[-1]['val_loss']:.3f} "
                  f"after (perplexity {math.exp(log[0]['initial_val_loss']):,.0f} -> {math.exp(log[-1]['val_loss']):,.1f}); "
                  f"largest attention logit in the last step {log[-1]['max_logit']:.1f}")

    model, tokenizer = load_run(run_dir)
    model.set_mla_mode("absorbed")
    console.rule("[bold]Sampling (absorbed MLA over the latent cache, temperature 0.8, top-k 50)")
    prompt = "ROMEO:\n"
    console.print(prompt, end="", style="bold")
    sample(model, tokenizer, prompt, max_new_tokens=80, stream=lambda text: console.print(text, end=""))
    console.print()

    console.rule("[bold]The checkpoint in transformers")
    checkpoint = latest_checkpoint(run_dir)
    theirs = DeepseekV3ForCausalLM.from_pretrained(checkpoint).eval()
    model.set_mla_mode("expanded")
    ids = torch.tensor([tokenizer.encode("But, soft! what light through yonder window breaks?")])
    with torch.no_grad():
        difference = (model(ids).logits - theirs(ids).logits.float()).abs().max().item()
    verdict = "[green]equal (<= 1e-5)" if difference <= 1e-5 else "[red]DIFFERENT"
    console.print(f"{checkpoint} loaded by transformers {__import__('transformers').__version__} "
                  f"DeepseekV3ForCausalLM: max |logit difference| {difference:.2e}: {verdict}")
    console.print(f"is this run on track? `kimi-course check-run {run_dir}`")


def main() -> None:
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")
    os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")
    show_architecture()
    run_dir = Path("runs") / f"demo-{time.strftime('%Y%m%d-%H%M%S')}"
    train_sample_export(run_dir)


if __name__ == "__main__":
    main()
