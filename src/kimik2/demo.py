"""`make demo`: Kimi-K2 inspected on the meta device, then a tiny Kimi-K2 run and checked
against transformers. Run with ``python -m kimik2.demo``."""

from __future__ import annotations

import os
import re
import tempfile
import time
from collections import Counter

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


def show_tiny_model_and_parity() -> None:
    from transformers import DeepseekV3ForCausalLM  # interop only: never imported by the model

    console.rule("[bold]A tiny Kimi-K2, run and checked against transformers")
    torch.manual_seed(0)
    config = KimiK2Config.tiny()
    model = KimiK2ForCausalLM(config).eval()
    counts = count_parameters(config)
    console.print(f"tiny config: {config.num_hidden_layers} layers, hidden {config.hidden_size}, "
                  f"{config.n_routed_experts} experts ({config.num_experts_per_tok} active), "
                  f"{counts['total']:,} parameters ({counts['active']:,} active)")
    input_ids = torch.randint(0, config.vocab_size, (2, 64))
    with torch.no_grad():
        output = model(input_ids, labels=input_ids)
    console.print(f"logits {tuple(output.logits.shape)} {output.logits.dtype}; loss at init "
                  f"{output.loss.item():.4f} (ln vocab = {torch.log(torch.tensor(float(config.vocab_size))):.4f})")
    with tempfile.TemporaryDirectory() as directory:
        model.save_pretrained(directory)
        theirs = DeepseekV3ForCausalLM.from_pretrained(directory).eval()
    with torch.no_grad():
        their_output = theirs(input_ids, labels=input_ids)
    difference = (output.logits - their_output.logits.float()).abs().max().item()
    console.print(f"transformers {__import__('transformers').__version__} DeepseekV3ForCausalLM on the same "
                  f"weights: max |logit difference| = {difference:.2e}, loss {their_output.loss.item():.4f}")
    verdict = "[green]equal (<= 1e-5)" if difference <= 1e-5 else "[red]DIFFERENT"
    console.print(f"parity: {verdict}")


def main() -> None:
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")
    os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")
    show_architecture()
    show_tiny_model_and_parity()


if __name__ == "__main__":
    main()
