"""Decoding speed and cache size: kimik2 (absorbed MLA over the latent cache, and expanded) vs
transformers' DeepseekV3ForCausalLM on the same weights, for one sequence at 1k and 4k tokens of
context and for a batch of four at 1k.

One process, implementations interleaved run by run so that drift in the machine's speed hits all
alike; each run prefills the context once (not timed) and times DECODE_STEPS single-token steps
against the cache. Reports decode tokens/s over the batch (medians), the ratio to transformers, and
the cache bytes per token measured on the cache objects themselves, plus Kimi-K2's sizes computed
from the config, and the weight-read floor: the matrix-vector products of one batch-1 step timed alone.
Usage: ``python benchmarks/bench_decode.py [--runs 3] [--cases 1x1024 1x4096 4x1024]``
(a case is batch x context; ``4x4096`` adds about 13 minutes on 2 cores).
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time

import torch
import torch.nn.functional as F
from torch import nn

from bench_model import CONFIG
from kimik2 import KimiK2Config, KimiK2ForCausalLM
from kimik2.size import kv_cache_values_per_token

DECODE_STEPS = 32
VARIANTS = ("kimik2 absorbed", "kimik2 expanded", "transformers")


def cache_bytes_per_token(cache, context: int) -> int:
    """Bytes held per cached position, from whatever tensors the cache object holds."""
    tensors = [value for value in vars(cache).values() if isinstance(value, torch.Tensor)]
    for value in vars(cache).values():
        if isinstance(value, dict):
            tensors += [t for t in value.values() if isinstance(t, torch.Tensor)]
        if isinstance(value, list):  # transformers: a list of layers, each holding keys and values
            for layer in value:
                tensors += [t for t in vars(layer).values() if isinstance(t, torch.Tensor) and t.dim() == 4]
    return sum(t.numel() * t.element_size() for t in tensors) // context


def decode_step_matrices(model: KimiK2ForCausalLM) -> list[torch.Tensor]:
    """Every weight matrix one batch-1 decode step multiplies by: all attention projections, per MoE
    layer the router, num_experts_per_tok routed experts (all experts have the same shapes) and the
    shared experts, the dense MLPs, and lm_head."""
    top_k = model.config.num_experts_per_tok
    matrices = []
    for layer in model.model.layers:
        blocks = [layer.self_attn]
        if hasattr(layer.mlp, "experts"):
            matrices.append(layer.mlp.gate.weight)
            blocks += list(layer.mlp.experts[:top_k])
            if layer.mlp.shared_experts is not None:
                blocks.append(layer.mlp.shared_experts)
        else:
            blocks.append(layer.mlp)
        matrices += [module.weight for block in blocks for module in block.modules() if isinstance(module, nn.Linear)]
    return matrices + [model.lm_head.weight]


@torch.no_grad()
def weight_read_floor(model: KimiK2ForCausalLM, repeats: int = 7) -> tuple[float, int, float]:
    """Best-of-``repeats`` seconds for the step's matrix-vector products alone, back to back (reading
    the weights, nothing else), with how many products and megabytes that is."""
    matrices = decode_step_matrices(model)
    vectors = {width: torch.randn(1, width) for width in {matrix.shape[1] for matrix in matrices}}
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        for matrix in matrices:
            F.linear(vectors[matrix.shape[1]], matrix)
        times.append(time.perf_counter() - start)
    return min(times), len(matrices), sum(matrix.numel() * matrix.element_size() for matrix in matrices) / 1e6


def batch_by_context(case: str) -> tuple[int, int]:
    """'4x1024' -> (4, 1024)."""
    try:
        batch, context = (int(part) for part in case.split("x"))
    except ValueError:
        raise argparse.ArgumentTypeError(f"{case!r}: write a case as BATCHxCONTEXT, e.g. 4x1024") from None
    if batch < 1 or context < 1:
        raise argparse.ArgumentTypeError(f"{case!r}: batch and context must be at least 1")
    return batch, context


@torch.no_grad()
def decode(model: torch.nn.Module, context_ids: torch.Tensor) -> tuple[float, int]:
    """Seconds for DECODE_STEPS greedy steps after a prefill of ``context_ids`` (batch, context), and
    the cache's bytes per token (per position of one sequence) after the prefill."""
    output = model(context_ids, use_cache=True)
    cache = output.past_key_values
    per_token = cache_bytes_per_token(cache, context_ids.numel())
    next_token = output.logits[:, -1].argmax(-1, keepdim=True)
    start = time.perf_counter()
    for _ in range(DECODE_STEPS):
        output = model(next_token, past_key_values=cache, use_cache=True)
        cache = output.past_key_values
        next_token = output.logits[:, -1].argmax(-1, keepdim=True)
    return time.perf_counter() - start, per_token


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--cases", type=batch_by_context, nargs="+", default=[(1, 1024), (1, 4096), (4, 1024)],
                        help="BATCHxCONTEXT, e.g. 4x1024")
    args = parser.parse_args()
    from transformers import DeepseekV3ForCausalLM
    torch.manual_seed(0)
    with tempfile.TemporaryDirectory() as checkpoint:
        KimiK2ForCausalLM(KimiK2Config.tiny(**CONFIG)).save_pretrained(checkpoint)
        absorbed = KimiK2ForCausalLM.from_pretrained(checkpoint).eval()
        absorbed.set_mla_mode("absorbed")
        expanded = KimiK2ForCausalLM.from_pretrained(checkpoint).eval()
        theirs = DeepseekV3ForCausalLM.from_pretrained(checkpoint, attn_implementation="sdpa").eval()
    models = dict(zip(VARIANTS, (absorbed, expanded, theirs)))

    import transformers
    print(f"config: hidden {CONFIG['hidden_size']}, {CONFIG['num_hidden_layers']} layers, "
          f"{CONFIG['num_attention_heads']} heads, kv_lora_rank {CONFIG['kv_lora_rank']}, "
          f"{DECODE_STEPS} decode steps, median of {args.runs} runs; torch {torch.__version__}, "
          f"transformers {transformers.__version__}, {torch.get_num_threads()} threads")
    print("| batch | context | " + " | ".join(f"{v} tok/s" for v in VARIANTS) + " | absorbed / transformers |"
          " cache bytes per token (absorbed / expanded / transformers) |")
    print("|---" * (len(VARIANTS) + 4) + "|")
    for batch, context in args.cases:
        ids = torch.randint(0, CONFIG["vocab_size"], (batch, context), generator=torch.Generator().manual_seed(context))
        seconds = {variant: [] for variant in VARIANTS}
        per_token = {}
        for run in range(args.runs + 1):  # round 0 warms up
            for variant, model in models.items():
                elapsed, per_token[variant] = decode(model, ids)
                if run:
                    seconds[variant].append(elapsed)
        speed = {variant: batch * DECODE_STEPS / statistics.median(values) for variant, values in seconds.items()}
        print(f"| {batch} | {context} | " + " | ".join(f"{speed[v]:,.1f}" for v in VARIANTS)
              + f" | {speed['kimik2 absorbed'] / speed['transformers']:.2f}x | "
              + " / ".join(f"{per_token[v]:,}" for v in VARIANTS) + " |")
    floor, products, megabytes = weight_read_floor(absorbed)
    print(f"weight-read floor of one batch-1 step: {floor * 1000:.1f} ms for its {products} matrix-vector products "
          f"alone ({megabytes:.0f} MB of weights; a whole step at batch 1 takes 1000 / tok/s ms)")
    kimi = kv_cache_values_per_token(KimiK2Config.kimi_k2())
    print(f"Kimi-K2 (61 layers): values per token per layer {kimi}")


if __name__ == "__main__":
    main()
