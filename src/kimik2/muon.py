"""Muon: momentum, then Newton-Schulz orthogonalisation, for 2-D weight matrices (course module 16).

For a weight W (A x B) with gradient G, one step is

    M <- mu M + (1 - mu) G                        momentum, an exponential moving average
    U <- G + mu (M - G) if nesterov, else M       the direction to orthogonalise
    O <- NewtonSchulz(U) ~ U V^T of U's SVD       every singular value pushed towards 1
    W <- W (1 - lr wd) - lr 0.2 sqrt(max(A, B)) O  decoupled weight decay, AdamW-sized update

The factor 0.2 sqrt(max(A, B)) gives the update the RMS of a typical AdamW update (0.2), so Muon
reuses AdamW's learning rate and weight decay ("Muon is Scalable for LLM Training", Moonlight).
This is torch.optim.Muon(..., adjust_lr_fn="match_rms_adamw") written out, number for number.
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Iterable

import torch

NS_COEFFICIENTS = (3.4445, -4.7750, 2.0315)  # quintic (a, b, c) of Keller Jordan's Muon, 5 steps
NS_EPS = 1e-7                                # keeps the Frobenius normalisation finite for a zero matrix
ADAMW_UPDATE_RMS = 0.2                       # the update RMS Muon is scaled to
MAX_BATCH_ELEMENTS = 2 ** 26                 # same-shape matrices orthogonalised together, at most this many values


def newton_schulz(matrix: torch.Tensor, steps: int = 5) -> torch.Tensor:
    """Approximately orthogonalise ``matrix`` (..., A, B): U S V^T -> U S' V^T with S' near 1.

    Runs in bfloat16 (the iteration is stable there) and returns the input's dtype. Leading
    dimensions are a batch. Steps, each on the wide orientation (A <= B, so X X^T is the smaller
    Gram matrix):

        X <- X / ||X||_F                   every singular value now <= 1
        X <- a X + (b X X^T + c (X X^T)^2) X, ``steps`` times

    The quintic's coefficients favour speed over exactness: a singular value s of the normalised
    matrix with s >= 0.002 lands in [0.68, 1.21], not at 1; smaller ones are raised less (a
    direction the gradient barely has stays small).
    """
    if matrix.dim() < 2:
        raise ValueError(f"newton_schulz needs a matrix (..., A, B), got shape {tuple(matrix.shape)}: "
                         "vectors such as norms and biases are not orthogonalised (update them with AdamW)")
    # BEGIN SOLUTION lesson_88
    a, b, c = NS_COEFFICIENTS
    tall = matrix.shape[-2] > matrix.shape[-1]
    x = matrix.bfloat16()
    if tall:
        x = x.mT                                                               # (..., B, A): wide
    x = x / x.norm(dim=(-2, -1), keepdim=True).clamp(min=NS_EPS)
    batch_shape = x.shape[:-2]
    x = x.reshape(-1, *x.shape[-2:])                                           # (batch, rows, cols)
    for _ in range(steps):
        gram = x @ x.mT                                                        # (batch, rows, rows)
        polynomial = torch.baddbmm(gram, gram, gram, beta=b, alpha=c)          # b A + c A A
        x = torch.baddbmm(x, polynomial, x, beta=a)                            # a X + (b A + c A A) X
    x = x.reshape(*batch_shape, *x.shape[-2:])
    if tall:
        x = x.mT
    return x.to(matrix.dtype)
    # END SOLUTION


def rms_matching_scale(shape: torch.Size) -> float:
    """0.2 sqrt(max(A, B)): a semi-orthogonal A x B matrix has RMS 1/sqrt(max(A, B)), so this
    factor gives Muon's update the RMS 0.2 of a typical AdamW update."""
    # BEGIN SOLUTION lesson_90
    rows, cols = shape[:2]
    return ADAMW_UPDATE_RMS * math.sqrt(max(rows, cols))
    # END SOLUTION


@torch.no_grad()
def muon_update_(params: list[torch.Tensor], grads: list[torch.Tensor], momentum_buffers: list[torch.Tensor], *,
                 lr: float, weight_decay: float, momentum: float, nesterov: bool, ns_steps: int) -> None:
    """One Muon step of 2-D ``params`` in place (their momentum buffers too).

    Matrices of one shape (the experts of a MoE layer, say) are orthogonalised as one batch:
    the same numbers as one at a time, in far fewer calls.
    """
    # BEGIN SOLUTION lesson_89
    directions = []
    for grad, buffer in zip(grads, momentum_buffers):
        buffer.lerp_(grad, 1 - momentum)                                       # M = mu M + (1 - mu) G
        directions.append(grad.lerp(buffer, momentum) if nesterov else buffer)
    same_shape = defaultdict(list)
    for index, direction in enumerate(directions):
        same_shape[direction.shape, direction.dtype, direction.device].append(index)
    for (shape, _, _), indices in same_shape.items():
        batch_size = max(1, MAX_BATCH_ELEMENTS // shape.numel())
        for start in range(0, len(indices), batch_size):
            chunk = indices[start:start + batch_size]
            orthogonal = newton_schulz(torch.stack([directions[i] for i in chunk]), ns_steps)  # (n, A, B)
            for i, update in zip(chunk, orthogonal):
                params[i].mul_(1 - lr * weight_decay)
                params[i].add_(update, alpha=-lr * rms_matching_scale(shape))
    # END SOLUTION


def momentum_buffers(state: dict, params: list[torch.Tensor]) -> list[torch.Tensor]:
    """Each parameter's momentum buffer in an optimizer's ``state``, zeros on first use."""
    for param in params:
        if "momentum_buffer" not in state[param]:
            state[param]["momentum_buffer"] = torch.zeros_like(param)
    return [state[param]["momentum_buffer"] for param in params]


def muon_group_update_(group: dict, state: dict) -> None:
    """One Muon update of every parameter of an optimizer's param ``group`` that has a gradient,
    with the group's hyper-parameters and the momentum buffers kept in ``state`` (Muon, MuonClip)."""
    params = [param for param in group["params"] if param.grad is not None]
    muon_update_(params, [param.grad for param in params], momentum_buffers(state, params), lr=group["lr"],
                 weight_decay=group["weight_decay"], momentum=group["momentum"], nesterov=group["nesterov"],
                 ns_steps=group["ns_steps"])


def check_muon_hyperparameters(lr: float, weight_decay: float, momentum: float, ns_steps: int) -> None:
    """Raise ValueError naming the first hyper-parameter out of range."""
    if lr < 0:
        raise ValueError(f"lr = {lr}: a learning rate must be >= 0")
    if weight_decay < 0:
        raise ValueError(f"weight_decay = {weight_decay}: must be >= 0")
    if not 0 <= momentum < 1:
        raise ValueError(f"momentum = {momentum}: must lie in [0, 1) (0.95 is the usual value)")
    if ns_steps < 1:
        raise ValueError(f"ns_steps = {ns_steps}: Newton-Schulz needs at least one step (5 is the usual value)")


class Muon(torch.optim.Optimizer):
    """Muon for 2-D weight matrices, its update RMS matched to AdamW (see the module docstring).

    Only matrices: put embeddings, the output head, norms and biases in an AdamW (MuonClip
    does this split for a whole model). ``lr`` and ``weight_decay`` are AdamW-scale values.
    """

    def __init__(self, params: Iterable[torch.Tensor] | Iterable[dict], lr: float, weight_decay: float,
                 momentum: float = 0.95, nesterov: bool = True, ns_steps: int = 5) -> None:
        check_muon_hyperparameters(lr, weight_decay, momentum, ns_steps)
        defaults = dict(lr=lr, weight_decay=weight_decay, momentum=momentum, nesterov=nesterov, ns_steps=ns_steps)
        super().__init__(params, defaults)
        for group in self.param_groups:
            for param in group["params"]:
                if param.dim() != 2:
                    raise ValueError(f"Muon updates 2-D matrices only, got a parameter of shape {tuple(param.shape)}: "
                                     "give vectors (norms, biases) and embeddings to AdamW, or use MuonClip, "
                                     "which splits a model's parameters for you")

    @torch.no_grad()
    def step(self, closure=None):
        """One Muon update of every parameter that has a gradient; returns closure()'s loss if given."""
        loss = None
        if closure is not None:
            with torch.enable_grad():
                loss = closure()
        for group in self.param_groups:
            muon_group_update_(group, self.state)
        return loss
