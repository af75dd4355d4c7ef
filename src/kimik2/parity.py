"""Where do two models first disagree? A layer-by-layer parity debugger (course lesson 66).

Both models must name their submodules alike (ours mirror transformers' DeepseekV3: model.embed_tokens,
model.layers.N.{input_layernorm, self_attn, post_attention_layernorm, mlp}, model.norm, lm_head).
Each checkpoint's output is captured with a forward hook on one shared input, in execution order.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

LAYER_PARTS = ("input_layernorm", "self_attn", "post_attention_layernorm", "mlp")


@dataclass
class Checkpoint:
    name: str               # submodule name, e.g. "model.layers.3.self_attn"
    max_abs_diff: float     # largest |ours - theirs| of the submodule's output
    ok: bool                # max_abs_diff <= atol


def checkpoint_names(num_layers: int) -> list[str]:
    """The submodules compared, in the order a forward runs them."""
    names = ["model.embed_tokens"]
    for index in range(num_layers):
        names += [f"model.layers.{index}.{part}" for part in LAYER_PARTS]
    return names + ["model.norm", "lm_head"]


@torch.no_grad()
def capture_outputs(model: nn.Module, names: list[str], *args, **kwargs) -> dict[str, torch.Tensor]:
    """Run ``model(*args, **kwargs)`` once and return each named submodule's output (the first
    element when a module returns a tuple, as transformers' attention does)."""
    modules = dict(model.named_modules())
    missing = [name for name in names if name not in modules]
    if missing:
        raise KeyError(f"{type(model).__name__} has no submodule {missing[0]!r}: both models must use "
                       "transformers' DeepseekV3 names")
    outputs: dict[str, torch.Tensor] = {}

    def hook_for(name: str):
        def hook(module, inputs, output):
            outputs[name] = (output[0] if isinstance(output, tuple) else output).detach().float()
        return hook

    handles = [modules[name].register_forward_hook(hook_for(name)) for name in names]
    try:
        model(*args, **kwargs)
    finally:
        for handle in handles:
            handle.remove()
    return outputs


def compare_layer_outputs(ours: nn.Module, theirs: nn.Module, input_ids: torch.Tensor,
                          atol: float = 1e-5) -> list[Checkpoint]:
    """Feed ``input_ids`` to both models; one Checkpoint per submodule, in execution order."""
    # BEGIN SOLUTION lesson_66
    names = checkpoint_names(ours.config.num_hidden_layers)
    ours_out = capture_outputs(ours, names, input_ids)
    theirs_out = capture_outputs(theirs, names, input_ids)
    checkpoints = []
    for name in names:
        if ours_out[name].shape != theirs_out[name].shape:
            raise ValueError(f"{name}: output shapes differ, {tuple(ours_out[name].shape)} vs "
                             f"{tuple(theirs_out[name].shape)}")
        diff = (ours_out[name] - theirs_out[name]).abs().max().item()
        checkpoints.append(Checkpoint(name, diff, diff <= atol))
    return checkpoints
    # END SOLUTION


def first_divergence(checkpoints: list[Checkpoint]) -> Checkpoint | None:
    """The earliest checkpoint over tolerance: the bug is in that submodule (its inputs agreed)."""
    return next((checkpoint for checkpoint in checkpoints if not checkpoint.ok), None)


def format_report(checkpoints: list[Checkpoint]) -> str:
    """A table of every checkpoint with a marker at the first divergence."""
    first = first_divergence(checkpoints)
    lines = [f"{'submodule':<40} {'max |diff|':>12}"]
    for checkpoint in checkpoints:
        flag = "  <- first divergence" if checkpoint is first else ""
        lines.append(f"{checkpoint.name:<40} {checkpoint.max_abs_diff:>12.3e}{flag}")
    lines.append("all submodules agree" if first is None else f"first divergence: {first.name}")
    return "\n".join(lines)
