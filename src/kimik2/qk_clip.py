"""MuonClip: Muon + AdamW for a whole model, then QK-Clip on every attention head (course module 16).

Muon's updates are full rank, so they tend to grow the spectral norms of W_q and W_k until some
heads' attention logits explode (Kimi-K2 tech report; Su Jianlin, kexue.fm 11126).
QK-Clip caps them after every optimizer step: each attention records S_max, its largest scaled
pre-softmax logit per head during the step's forwards; for every head with S_max > tau it sets
gamma = tau / S_max and rescales that head's MLA weights so that its logits shrink by gamma:

    q_nope rows of q_b_proj (or q_proj)   x sqrt(gamma)   } q_nope . k_nope  x gamma
    k_nope rows of kv_b_proj              x sqrt(gamma)   }
    q_pe rows of q_b_proj (or q_proj)     x gamma           q_pe . k_pe      x gamma
    k_pe rows of kv_a_proj_with_mqa       untouched (one rope key shared by all heads)
    v rows of kv_b_proj                   untouched (values carry no logit)

Heads at or below tau are left alone, so a calm head is never clipped for a noisy neighbour.
"""

from __future__ import annotations

import math

import torch
from torch import nn

from .attention import DeepseekV3Attention
from .muon import check_muon_hyperparameters, muon_group_update_

NamedParameters = list[tuple[str, nn.Parameter]]


def muon_and_adamw_parameters(model: nn.Module) -> tuple[NamedParameters, NamedParameters]:
    """Split the trainable parameters into (Muon, AdamW) lists of (name, parameter).

    Muon: every 2-D hidden matrix - the attention projections, the dense, shared and per-expert
    MLP matrices, and the router weight ``mlp.gate.weight``. AdamW: the token embedding, the
    output head (lm_head: a lookup table and its transpose, not hidden linear maps), RMSNorm
    weights and any biases. Parameters with requires_grad=False (the router's
    e_score_correction_bias, moved by the balancing rule of module 09) are in neither.

    The router weight (E, H) maps hidden states to expert logits like any other hidden linear
    map, so it follows the rule of Keller Jordan's Muon and of Moonlight's reference code (the
    recipe behind Kimi-K2): every matrix except the embedding and the head goes to Muon.
    """
    # BEGIN SOLUTION lesson_94
    tables = {id(module.weight) for module in model.modules() if isinstance(module, nn.Embedding)}
    if hasattr(model, "get_output_embeddings"):
        tables.add(id(model.get_output_embeddings().weight))
    muon, adamw = [], []
    for name, parameter in model.named_parameters():
        if not parameter.requires_grad:
            continue
        if parameter.dim() > 2:
            raise ValueError(f"{name} has shape {tuple(parameter.shape)}: MuonClip expects matrices and vectors; "
                             "store stacked weights as one 2-D matrix per expert (the checkpoint layout)")
        is_hidden_matrix = parameter.dim() == 2 and id(parameter) not in tables
        (muon if is_hidden_matrix else adamw).append((name, parameter))
    return muon, adamw
    # END SOLUTION


@torch.no_grad()
def adamw_step_(param: torch.Tensor, grad: torch.Tensor, state: dict, *, lr: float, betas: tuple[float, float],
                eps: float, weight_decay: float) -> None:
    """One AdamW update in place, number for number torch.optim.AdamW(foreach=False)'s."""
    if "step" not in state:
        state.update(step=0, exp_avg=torch.zeros_like(param), exp_avg_sq=torch.zeros_like(param))
    beta1, beta2 = betas
    state["step"] += 1
    param.mul_(1 - lr * weight_decay)
    state["exp_avg"].lerp_(grad, 1 - beta1)                                   # m = b1 m + (1 - b1) g
    state["exp_avg_sq"].mul_(beta2).addcmul_(grad, grad, value=1 - beta2)      # v = b2 v + (1 - b2) g^2
    bias_correction1 = 1 - beta1 ** state["step"]
    bias_correction2 = 1 - beta2 ** state["step"]
    denominator = (state["exp_avg_sq"].sqrt() / math.sqrt(bias_correction2)).add_(eps)
    param.addcdiv_(state["exp_avg"], denominator, value=-lr / bias_correction1)


def clip_factors(max_logit: torch.Tensor, tau: float) -> torch.Tensor:
    """Per head, gamma = tau / S_max where the max logit S_max passed tau, else exactly 1: (h,) -> (h,)."""
    # BEGIN SOLUTION lesson_92
    return torch.where(max_logit > tau, tau / max_logit, torch.ones_like(max_logit))
    # END SOLUTION


@torch.no_grad()
def qk_clip_(attention: DeepseekV3Attention, max_logit: torch.Tensor, tau: float) -> torch.Tensor:
    """Rescale the MLA weights of every head of ``attention`` whose ``max_logit`` (heads,) exceeds
    ``tau`` so that its logits shrink by gamma = tau / max_logit. Returns gamma (heads,), 1 where
    a head was left alone."""
    gamma = clip_factors(max_logit, tau)                                                     # (h,)
    if not bool((gamma < 1).any()):
        return gamma
    # BEGIN SOLUTION lesson_93
    heads, nope = attention.num_heads, attention.qk_nope_head_dim
    root = gamma.sqrt()[:, None, None]                                                       # (h, 1, 1)
    query = attention.q_proj if attention.q_lora_rank is None else attention.q_b_proj
    query_rows = query.weight.view(heads, attention.q_head_dim, -1)       # (h, nope + rope, in)
    query_rows[:, :nope] *= root.to(query_rows.dtype)
    query_rows[:, nope:] *= gamma[:, None, None].to(query_rows.dtype)
    key_value_rows = attention.kv_b_proj.weight.view(heads, nope + attention.v_head_dim, -1)  # (h, nope + v, r)
    key_value_rows[:, :nope] *= root.to(key_value_rows.dtype)
    # END SOLUTION
    return gamma


class MuonClip(torch.optim.Optimizer):
    """Kimi-K2's optimizer for a whole model: Muon for hidden matrices, AdamW for the rest, then
    QK-Clip on every attention head whose max logit passed ``qk_clip_tau`` (tau = 100 in Kimi-K2).

    Two param groups, each with the parameter names: ``algorithm`` "muon" (lr, weight_decay,
    momentum, nesterov, ns_steps) and "adamw" (lr = adamw_lr, betas, eps, weight_decay); which
    parameter goes where is :func:`muon_and_adamw_parameters`. Thanks to Muon's RMS matching both
    groups share one learning rate and weight decay unless ``adamw_lr`` is given. Construction
    turns on ``track_max_logit`` in every attention; after each step ``last_max_logits`` maps
    each attention's module name to the (heads,) max logits that step saw, before clipping.
    Every training-mode forward between two steps counts; forwards in eval mode record nothing.
    """

    def __init__(self, model: nn.Module, lr: float, weight_decay: float = 0.1, momentum: float = 0.95,
                 qk_clip_tau: float = 100.0, adamw_lr: float | None = None, betas: tuple[float, float] = (0.9, 0.95),
                 eps: float = 1e-8, nesterov: bool = True, ns_steps: int = 5) -> None:
        check_muon_hyperparameters(lr, weight_decay, momentum, ns_steps)
        adamw_lr = lr if adamw_lr is None else adamw_lr
        if adamw_lr < 0:
            raise ValueError(f"adamw_lr = {adamw_lr}: a learning rate must be >= 0 (None: the same as lr)")
        if not all(0 <= beta < 1 for beta in betas):
            raise ValueError(f"betas = {betas}: both must lie in [0, 1) ((0.9, 0.95) is the usual pair)")
        if not qk_clip_tau > 0:
            raise ValueError(f"qk_clip_tau = {qk_clip_tau}: the logit cap must be > 0 (Kimi-K2 uses 100; "
                             "float('inf') turns QK-Clip off)")
        muon, adamw = muon_and_adamw_parameters(model)
        groups = [dict(params=muon, algorithm="muon", lr=lr, weight_decay=weight_decay, momentum=momentum,
                       nesterov=nesterov, ns_steps=ns_steps),
                  dict(params=adamw, algorithm="adamw", lr=adamw_lr, weight_decay=weight_decay, betas=betas, eps=eps)]
        super().__init__(groups, defaults={})
        self.qk_clip_tau = qk_clip_tau
        self.attentions = {name: module for name, module in model.named_modules()
                           if isinstance(module, DeepseekV3Attention)}
        for attention in self.attentions.values():
            attention.track_max_logit = True
            attention.max_logit = None
        self.last_max_logits: dict[str, torch.Tensor] = {}

    @torch.no_grad()
    def step(self, closure=None):
        """Muon and AdamW updates, then QK-Clip from the max logits recorded since the last step,
        which are then reset. Returns closure()'s loss if a closure is given."""
        loss = None
        if closure is not None:
            with torch.enable_grad():
                loss = closure()
        # BEGIN SOLUTION lesson_94
        for group in self.param_groups:
            if group["algorithm"] == "muon":
                muon_group_update_(group, self.state)
                continue
            for param in (param for param in group["params"] if param.grad is not None):
                adamw_step_(param, param.grad, self.state[param], lr=group["lr"], betas=group["betas"],
                            eps=group["eps"], weight_decay=group["weight_decay"])
        self.last_max_logits = {}
        for name, attention in self.attentions.items():
            if attention.max_logit is not None:
                self.last_max_logits[name] = attention.max_logit
                qk_clip_(attention, attention.max_logit, self.qk_clip_tau)
                attention.max_logit = None
        # END SOLUTION
        return loss
