"""Mixture of experts: the sigmoid router (MoEGate) and the routed + shared expert layer
(course modules 08-09)."""

from __future__ import annotations

import math
from contextlib import nullcontext

import torch
import torch.nn.functional as F
from torch import nn

from .config import KimiK2Config
from .mlp import DeepseekV3MLP


class MoEGate(nn.Module):
    """Chooses num_experts_per_tok experts per token and the weights to mix them with.

    Scores are sigmoid(x W^T) in float32. ``e_score_correction_bias`` shifts the scores used
    to *choose* experts but never the weights they are mixed with. With ``noaux_tc`` the
    choice is group-limited: groups are ranked by the sum of their top-2 biased scores and
    only the best ``topk_group`` groups stay eligible. The chosen weights are renormalised
    (plus 1e-20) and then multiplied by routed_scaling_factor.
    """

    def __init__(self, config: KimiK2Config) -> None:
        super().__init__()
        self.top_k = config.num_experts_per_tok
        self.n_routed_experts = config.n_routed_experts
        self.routed_scaling_factor = config.routed_scaling_factor
        self.topk_method = config.topk_method
        self.n_group = config.n_group
        self.topk_group = config.topk_group
        self.norm_topk_prob = config.norm_topk_prob
        self.gating_dim = config.hidden_size
        # BEGIN SOLUTION lesson_37
        self.weight = nn.Parameter(torch.empty(self.n_routed_experts, self.gating_dim))  # (E, H)
        if self.topk_method == "noaux_tc":
            # Moved by the load-balancing rule, never by gradients (module 09).
            self.e_score_correction_bias = nn.Parameter(torch.zeros(self.n_routed_experts), requires_grad=False)
        self.reset_parameters()
        # END SOLUTION

    def reset_parameters(self) -> None:
        # BEGIN SOLUTION lesson_37
        nn.init.kaiming_uniform_(self.weight, a=math.sqrt(5))
        # END SOLUTION

    def compute_scores(self, hidden_states: torch.Tensor) -> torch.Tensor:
        """Sigmoid affinity of every token for every expert: (tokens, E), float32."""
        # BEGIN SOLUTION lesson_38
        device = hidden_states.device.type
        # inside torch.autocast the linear would run in bf16 despite .float(): switch autocast off here
        no_autocast = torch.autocast(device, enabled=False) if torch.amp.is_autocast_available(device) else nullcontext()
        with no_autocast:
            logits = F.linear(hidden_states.float(), self.weight.float())                # (n, E)
        return logits.sigmoid()
        # END SOLUTION

    def scores_for_choice(self, scores: torch.Tensor) -> torch.Tensor:
        """The scores experts are chosen by: plus e_score_correction_bias (noaux_tc) - the
        bias shifts the choice, never the mixing weights."""
        # BEGIN SOLUTION lesson_39
        return scores + self.e_score_correction_bias.float()                    # (n, E)
        # END SOLUTION

    @torch.no_grad()
    def select_experts(self, scores: torch.Tensor) -> torch.Tensor:
        """Indices (tokens, top_k) of the chosen experts; the choice carries no gradient."""
        if self.topk_method == "greedy":
            return torch.topk(scores, k=self.top_k, dim=-1, sorted=False)[1]
        scores_for_choice = self.scores_for_choice(scores)
        if self.topk_group == self.n_group:  # every group is kept (Kimi-K2: one group): nothing to mask
            return torch.topk(scores_for_choice, k=self.top_k, dim=-1, sorted=False)[1]
        return self.group_limited_topk(scores_for_choice)

    def group_limited_topk(self, scores_for_choice: torch.Tensor) -> torch.Tensor:
        """Rank the n_group groups by the sum of their top-2 scores, keep topk_group of them,
        then take the top_k experts among the kept groups: (n, E) -> (n, top_k) indices."""
        # BEGIN SOLUTION lesson_40
        num_tokens = scores_for_choice.shape[0]
        grouped = scores_for_choice.view(num_tokens, self.n_group, -1)           # (n, G, E/G)
        group_scores = grouped.topk(2, dim=-1)[0].sum(dim=-1)                    # (n, G)
        group_idx = torch.topk(group_scores, k=self.topk_group, dim=-1, sorted=False)[1]
        group_mask = torch.zeros_like(group_scores).scatter_(1, group_idx, 1.0)  # (n, G)
        expert_mask = group_mask.unsqueeze(-1).expand_as(grouped).reshape(num_tokens, -1)
        # -inf, as in DeepSeek's inference code and transformers (the remote code writes 0.0,
        # which can pick a masked expert when a biased score is negative).
        eligible = scores_for_choice.masked_fill(expert_mask == 0, float("-inf"))
        return torch.topk(eligible, k=self.top_k, dim=-1, sorted=False)[1]
        # END SOLUTION

    def normalize_weights(self, topk_weight: torch.Tensor) -> torch.Tensor:
        """Renormalise over the chosen experts, then apply routed_scaling_factor."""
        # BEGIN SOLUTION lesson_41
        if self.top_k > 1 and self.norm_topk_prob:
            topk_weight = topk_weight / (topk_weight.sum(dim=-1, keepdim=True) + 1e-20)
        return topk_weight * self.routed_scaling_factor
        # END SOLUTION

    def forward(self, hidden_states: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(b, s, H) -> topk_idx (b*s, top_k) int64 and topk_weight (b*s, top_k) float32."""
        # BEGIN SOLUTION lesson_42
        scores = self.compute_scores(hidden_states.reshape(-1, self.gating_dim))  # (n, E)
        topk_idx = self.select_experts(scores)
        topk_weight = scores.gather(1, topk_idx)  # unbiased scores: gradients reach the gate
        return topk_idx, self.normalize_weights(topk_weight)
        # END SOLUTION

    @torch.no_grad()
    def update_correction_bias(self, tokens_per_expert: torch.Tensor, speed: float) -> None:
        """Auxiliary-loss-free balancing (DeepSeek-V3 §2.1.2): after a step, raise the bias of every
        expert that got fewer tokens than the mean by ``speed`` and lower every one that got more."""
        if self.topk_method != "noaux_tc":
            raise ValueError("only the noaux_tc gate has an e_score_correction_bias to update; "
                             f"this gate uses topk_method={self.topk_method!r}")
        # BEGIN SOLUTION lesson_46
        load = tokens_per_expert.float()
        self.e_score_correction_bias += speed * torch.sign(load.mean() - load)
        # END SOLUTION


class DeepseekV3MoE(nn.Module):
    """Routed experts (top_k of n_routed_experts per token) plus always-on shared experts.

    Every forward adds its tokens-per-expert counts to ``tokens_per_expert`` (a buffer, not saved:
    read by the bias update and load monitoring of lessons 46 and 48). In training mode with
    ``aux_loss_alpha > 0`` and ``seq_aux`` it also leaves the weighted sequence-wise balance loss
    in ``aux_loss`` (lesson 47) for the training loop to add.
    """

    def __init__(self, config: KimiK2Config) -> None:
        super().__init__()
        # BEGIN SOLUTION lesson_43
        self.num_experts_per_tok = config.num_experts_per_tok
        self.experts = nn.ModuleList(
            DeepseekV3MLP(config, intermediate_size=config.moe_intermediate_size)
            for _ in range(config.n_routed_experts))
        self.gate = MoEGate(config)
        if config.n_shared_experts is not None:
            self.shared_experts = DeepseekV3MLP(
                config, intermediate_size=config.moe_intermediate_size * config.n_shared_experts)
        else:
            self.shared_experts = None
        # END SOLUTION
        self.register_buffer("tokens_per_expert", torch.zeros(config.n_routed_experts, dtype=torch.long),
                             persistent=False)
        self.aux_loss_alpha = config.aux_loss_alpha if config.seq_aux else 0.0
        self.aux_loss: torch.Tensor | None = None

    def dispatch(self, x: torch.Tensor, topk_idx: torch.Tensor, topk_weight: torch.Tensor,
                 tokens_per_expert: list[int]) -> torch.Tensor:
        """Run every (token, slot) pair through its expert, grouped by expert, and mix.

        x (n, H), topk_idx / topk_weight (n, k), tokens_per_expert: E counts -> (n, H).
        Differentiable: trains.
        """
        if len(tokens_per_expert) != len(self.experts) or sum(tokens_per_expert) != topk_idx.numel():
            raise ValueError(f"tokens_per_expert has {len(tokens_per_expert)} counts summing to {sum(tokens_per_expert)}; "
                             f"this layer needs {len(self.experts)} counts summing to the {topk_idx.numel()} slots "
                             "of topk_idx: pass torch.bincount(topk_idx.view(-1), minlength=n_routed_experts)")
        # BEGIN SOLUTION lesson_44
        top_k = topk_idx.shape[1]
        order = topk_idx.view(-1).argsort(stable=True)                    # (n*k,) slots sorted by expert
        token_of_slot = order // top_k                                    # (n*k,) the token of each sorted slot
        weight_of_slot = topk_weight.view(-1, 1)[order]                   # (n*k, 1) its weight
        mixed = torch.zeros(x.shape, dtype=torch.float32, device=x.device)  # combined in float32
        end = 0
        for expert, count in zip(self.experts, tokens_per_expert):
            if count:  # the expert's slots are the next `count` sorted ones; idle experts cost nothing
                start, end = end, end + count
                tokens = token_of_slot[start:end]
                mixed.index_add_(0, tokens, expert(x[tokens]).float() * weight_of_slot[start:end])
        return mixed.to(x.dtype)
        # END SOLUTION

    def forward(self, hidden_states: torch.Tensor) -> torch.Tensor:
        """(b, s, H) -> (b, s, H): routed experts mixed by the gate's weights, plus shared experts."""
        # BEGIN SOLUTION lesson_45
        batch, seq_len, hidden = hidden_states.shape
        topk_idx, topk_weight = self.gate(hidden_states)                  # (b*s, k) each
        counts = torch.bincount(topk_idx.view(-1), minlength=len(self.experts))  # (E,)
        self.tokens_per_expert += counts
        output = self.dispatch(hidden_states.reshape(-1, hidden), topk_idx, topk_weight, counts.tolist())
        output = output.view(batch, seq_len, hidden)
        if self.shared_experts is not None:
            output = output + self.shared_experts(hidden_states)
        # END SOLUTION
        if self.training and self.aux_loss_alpha > 0:
            scores = self.gate.compute_scores(hidden_states.reshape(-1, hidden))      # (b*s, E), with grad
            self.aux_loss = self.aux_loss_alpha * sequence_balance_loss(
                scores.view(batch, seq_len, -1), topk_idx.view(batch, seq_len, -1))
        return output


def sequence_balance_loss(scores: torch.Tensor, topk_idx: torch.Tensor) -> torch.Tensor:
    """DeepSeek-V3's complementary sequence-wise balance loss (arXiv:2412.19437 eqs. 17-20), without alpha.

    scores (b, s, E): sigmoid affinities; topk_idx (b, s, k): the chosen experts. Per sequence,
    f_i = E / (k s) x (times expert i was chosen) and P_i = mean over tokens of the affinity
    normalised over experts; the loss is sum_i f_i P_i, averaged over the batch. It is 1 when
    load and affinity are both uniform. Our choice: f counts the experts each token was routed to
    (chosen with the correction bias); eq. 18 writes the top-K of the unbiased affinities (as
    Megatron recomputes it). The two agree while the bias is zero (lesson 47).
    """
    # BEGIN SOLUTION lesson_47
    batch, seq_len, num_experts = scores.shape
    top_k = topk_idx.shape[-1]
    chosen = torch.zeros(batch, num_experts, device=scores.device)
    chosen.scatter_add_(1, topk_idx.reshape(batch, -1), torch.ones(batch, seq_len * top_k, device=scores.device))
    fraction = chosen * num_experts / (seq_len * top_k)                          # f_i: (b, E)
    normalised = scores / scores.sum(dim=-1, keepdim=True)                       # s'_{i,t}: (b, s, E)
    probability = normalised.mean(dim=1)                                         # P_i: (b, E)
    return (fraction * probability).sum(dim=-1).mean()
    # END SOLUTION
