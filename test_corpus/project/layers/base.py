"""The base class every layer of the project derives from."""
import torch
from torch import nn

__all__ = ["TrackedModule"]


class TrackedModule(nn.Module):
    """A module that counts the batches it has seen (saved with the weights)."""

    def __init__(self) -> None:
        super().__init__()
        self.register_buffer("batches_seen", torch.zeros((), dtype=torch.long))

    def track(self, x: torch.Tensor) -> torch.Tensor:
        self.batches_seen += 1
        return x
