"""Token batches for training: fixed-length windows of one long token stream, drawn in a
seeded order whose position is saved with every checkpoint (course module 15)."""

from __future__ import annotations

import torch


def pack_windows(token_ids: torch.Tensor, seq_len: int) -> torch.Tensor:
    """Cut a 1-D token stream into non-overlapping windows (n, seq_len); the tail that does not
    fill a window is dropped. The model shifts labels itself, so a window is both input and label."""
    if token_ids.dim() != 1:
        raise ValueError(f"token_ids has shape {tuple(token_ids.shape)}: pass one 1-D stream")
    # BEGIN SOLUTION lesson_81
    count = token_ids.numel() // seq_len
    if count == 0:
        raise ValueError(f"{token_ids.numel()} tokens do not fill one window of {seq_len}: use more text "
                         "or a shorter seq_len")
    return token_ids[:count * seq_len].view(count, seq_len)
    # END SOLUTION


class BatchIterator:
    """Endless batches of windows: every epoch visits each window once in an order drawn from
    (seed, epoch), so the position (epoch, index) is all it takes to resume exactly."""

    def __init__(self, windows: torch.Tensor, batch_size: int, seed: int = 0) -> None:
        if batch_size > windows.shape[0]:
            raise ValueError(f"batch_size={batch_size} but only {windows.shape[0]} windows: lower the batch "
                             "size or the sequence length")
        self.windows, self.batch_size, self.seed = windows, batch_size, seed
        self.epoch, self.index = 0, 0

    def order(self) -> torch.Tensor:
        # BEGIN SOLUTION lesson_81
        generator = torch.Generator().manual_seed(self.seed * 1_000_003 + self.epoch)
        return torch.randperm(self.windows.shape[0], generator=generator)
        # END SOLUTION

    def next_batch(self) -> torch.Tensor:
        """(batch_size, seq_len) token ids; a new epoch starts when too few windows are left."""
        # BEGIN SOLUTION lesson_81
        if self.index + self.batch_size > self.windows.shape[0]:
            self.epoch, self.index = self.epoch + 1, 0
        chosen = self.order()[self.index:self.index + self.batch_size]
        self.index += self.batch_size
        return self.windows[chosen]
        # END SOLUTION

    def state_dict(self) -> dict[str, int]:
        return {"epoch": self.epoch, "index": self.index, "seed": self.seed}

    def load_state_dict(self, state: dict[str, int]) -> None:
        if state["seed"] != self.seed:
            raise ValueError(f"the checkpoint's data order used seed {state['seed']}, this run {self.seed}")
        self.epoch, self.index = state["epoch"], state["index"]
