"""kimik2 vs transformers' DeepseekV3ForCausalLM on the same weights, side by side.

Measures prefill throughput (tokens/s, no grad), one training step (forward + backward)
and the peak resident memory each adds over the loaded model, as medians over several runs, and prints the
ratios ours / theirs. Each (implementation, task) runs in its own process so that peak
memory is its own. Usage: ``python benchmarks/bench_model.py [--runs 5] [--threads 2]``.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import torch

from kimik2 import KimiK2Config, KimiK2ForCausalLM

BATCH, SEQ_LEN = 4, 512
CONFIG = dict(vocab_size=8192, hidden_size=512, intermediate_size=1536, moe_intermediate_size=256,
              num_hidden_layers=8, num_attention_heads=8, num_key_value_heads=8, n_routed_experts=64,
              num_experts_per_tok=6, n_group=1, topk_group=1, q_lora_rank=384, kv_lora_rank=128,
              qk_rope_head_dim=32, qk_nope_head_dim=64, v_head_dim=64, max_position_embeddings=4096,
              first_k_dense_replace=1)


def memory_mib(field: str) -> float:
    """VmRSS (now) or VmHWM (peak since the last reset) of this process, from /proc."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1]) / 1024
    raise RuntimeError(f"{field} not in /proc/self/status")


def reset_peak_memory() -> None:
    """Writing 5 to clear_refs resets the peak-RSS mark (Linux)."""
    Path("/proc/self/clear_refs").write_text("5")


def load(implementation: str, checkpoint: str) -> torch.nn.Module:
    if implementation == "kimik2":
        return KimiK2ForCausalLM.from_pretrained(checkpoint)
    from transformers import DeepseekV3ForCausalLM
    return DeepseekV3ForCausalLM.from_pretrained(checkpoint, attn_implementation="sdpa")


def worker(implementation: str, task: str, checkpoint: str, runs: int) -> dict:
    """Time one task in this process; print a JSON line with the timings and peak memory."""
    model = load(implementation, checkpoint)
    generator = torch.Generator().manual_seed(0)
    input_ids = torch.randint(0, CONFIG["vocab_size"], (BATCH, SEQ_LEN), generator=generator)
    reset_peak_memory()
    baseline = memory_mib("VmRSS")
    times = []
    for run in range(runs + 1):  # the first run warms up and is not counted
        start = time.perf_counter()
        if task == "prefill":
            model.eval()
            with torch.no_grad():
                model(input_ids).logits.sum()
        else:
            model.train()
            model.zero_grad(set_to_none=True)
            model(input_ids, labels=input_ids).loss.backward()
        if run:
            times.append(time.perf_counter() - start)
    return {"median_s": statistics.median(times), "peak_extra_mib": memory_mib("VmHWM") - baseline}


def run_worker(implementation: str, task: str, checkpoint: str, runs: int, threads: int) -> dict:
    environment = dict(os.environ, OMP_NUM_THREADS=str(threads), HF_HUB_OFFLINE="1",
                       TRANSFORMERS_VERBOSITY="error", HF_HUB_DISABLE_PROGRESS_BARS="1")
    output = subprocess.run([sys.executable, __file__, "--worker", implementation, task, checkpoint, str(runs)],
                            check=True, capture_output=True, text=True, env=environment).stdout
    return json.loads(output.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--threads", type=int, default=torch.get_num_threads())
    parser.add_argument("--worker", nargs=4, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        torch.set_num_threads(int(os.environ.get("OMP_NUM_THREADS", "1")))
        implementation, task, checkpoint, runs = args.worker
        print(json.dumps(worker(implementation, task, checkpoint, int(runs))))
        return

    torch.manual_seed(0)
    with tempfile.TemporaryDirectory() as checkpoint:
        KimiK2ForCausalLM(KimiK2Config.tiny(**CONFIG)).save_pretrained(checkpoint)
        results = {(impl, task): run_worker(impl, task, checkpoint, args.runs, args.threads)
                   for task in ("prefill", "train_step") for impl in ("kimik2", "transformers")}

    import transformers
    print(f"config: hidden {CONFIG['hidden_size']}, {CONFIG['num_hidden_layers']} layers, "
          f"{CONFIG['n_routed_experts']} experts ({CONFIG['num_experts_per_tok']} active), batch {BATCH} x {SEQ_LEN}; "
          f"torch {torch.__version__}, transformers {transformers.__version__}, {args.threads} threads, "
          f"median of {args.runs} runs")
    print("| task | kimik2 | transformers | ratio (ours vs theirs) | peak memory kimik2 / transformers |")
    print("|---|---|---|---|---|")
    tokens = BATCH * SEQ_LEN
    for task in ("prefill", "train_step"):
        ours, theirs = results["kimik2", task], results["transformers", task]
        if task == "prefill":
            cells = (f"{tokens / ours['median_s']:,.0f} tok/s", f"{tokens / theirs['median_s']:,.0f} tok/s")
        else:
            cells = (f"{ours['median_s'] * 1000:,.0f} ms", f"{theirs['median_s'] * 1000:,.0f} ms")
        speedup = theirs["median_s"] / ours["median_s"]
        memory = f"{ours['peak_extra_mib']:,.0f} / {theirs['peak_extra_mib']:,.0f} MiB"
        print(f"| {task} | {cells[0]} | {cells[1]} | {speedup:.2f}x | {memory} |")


if __name__ == "__main__":
    main()
