"""kimik2 vs transformers' DeepseekV3ForCausalLM on the same weights, side by side.

Measures prefill throughput (tokens/s, no grad) and one training step (forward + backward)
as medians over several runs, timed in one process with the two implementations interleaved,
and the peak resident memory each task adds over the loaded model, measured in a process of
its own. Prints the speed ratio theirs / ours (above 1: ours is faster). Usage: ``python benchmarks/bench_model.py [--runs 5] [--threads 2]``.
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
TASKS = ("prefill", "train_step")
IMPLEMENTATIONS = ("kimik2", "transformers")
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


def run_task(model: torch.nn.Module, task: str, input_ids: torch.Tensor) -> float:
    """Seconds for one prefill (no grad) or one training step (forward + backward)."""
    start = time.perf_counter()
    if task == "prefill":
        model.eval()
        with torch.no_grad():
            model(input_ids).logits.sum()
    else:
        model.train()
        model.zero_grad(set_to_none=True)
        model(input_ids, labels=input_ids).loss.backward()
    return time.perf_counter() - start


def worker(mode: str, task: str, checkpoint: str, runs: int) -> dict:
    """mode 'time': both implementations in this process, runs interleaved so that drift in
    the machine's speed hits both alike; mode kimik2/transformers: that one's peak memory."""
    generator = torch.Generator().manual_seed(0)
    input_ids = torch.randint(0, CONFIG["vocab_size"], (BATCH, SEQ_LEN), generator=generator)
    if mode != "time":
        model = load(mode, checkpoint)
        run_task(model, task, input_ids)  # warm-up
        reset_peak_memory()
        baseline = memory_mib("VmRSS")
        run_task(model, task, input_ids)
        return {"peak_extra_mib": memory_mib("VmHWM") - baseline}
    models = {implementation: load(implementation, checkpoint) for implementation in IMPLEMENTATIONS}
    times: dict[str, list[float]] = {implementation: [] for implementation in IMPLEMENTATIONS}
    for run in range(runs + 1):  # the first round warms up and is not counted
        for implementation, model in models.items():
            elapsed = run_task(model, task, input_ids)
            if run:
                times[implementation].append(elapsed)
    return {implementation: statistics.median(values) for implementation, values in times.items()}


def run_worker(mode: str, task: str, checkpoint: str, runs: int, threads: int) -> dict:
    environment = dict(os.environ, OMP_NUM_THREADS=str(threads), HF_HUB_OFFLINE="1",
                       TRANSFORMERS_VERBOSITY="error", HF_HUB_DISABLE_PROGRESS_BARS="1")
    output = subprocess.run([sys.executable, __file__, "--worker", mode, task, checkpoint, str(runs)],
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
        seconds = {task: run_worker("time", task, checkpoint, args.runs, args.threads) for task in TASKS}
        memory = {(implementation, task): run_worker(implementation, task, checkpoint, 1, args.threads)
                  for task in TASKS for implementation in IMPLEMENTATIONS}

    import transformers
    print(f"config: hidden {CONFIG['hidden_size']}, {CONFIG['num_hidden_layers']} layers, "
          f"{CONFIG['n_routed_experts']} experts ({CONFIG['num_experts_per_tok']} active), batch {BATCH} x {SEQ_LEN}; "
          f"torch {torch.__version__}, transformers {transformers.__version__}, {args.threads} threads, "
          f"median of {args.runs} runs")
    print("| task | kimik2 | transformers | speed ratio (above 1: ours faster) | peak memory added, kimik2 / transformers |")
    print("|---|---|---|---|---|")
    tokens = BATCH * SEQ_LEN
    for task in TASKS:
        ours, theirs = seconds[task]["kimik2"], seconds[task]["transformers"]
        if task == "prefill":
            cells = (f"{tokens / ours:,.0f} tok/s", f"{tokens / theirs:,.0f} tok/s")
        else:
            cells = (f"{ours * 1000:,.0f} ms", f"{theirs * 1000:,.0f} ms")
        peaks = f"{memory['kimik2', task]['peak_extra_mib']:,.0f} / {memory['transformers', task]['peak_extra_mib']:,.0f} MiB"
        print(f"| {task} | {cells[0]} | {cells[1]} | {theirs / ours:.2f}x | {peaks} |")


if __name__ == "__main__":
    main()
