"""Negatives: buffers registered as None that are never assigned, or always registered."""
import torch
from torch import nn


class OptionalStats(nn.Module):
    # torch's own batch norm: None when not tracking, and never assigned afterwards
    def __init__(self, features: int, track: bool = True) -> None:
        super().__init__()
        if track:
            self.register_buffer("running_mean", torch.zeros(features))
            self.register_buffer("num_batches", torch.tensor(0, dtype=torch.long))
        else:
            self.register_buffer("running_mean", None)
            self.register_buffer("num_batches", None)

    def forward(self, x):
        return x


class MaterialisedStats(nn.Module):
    """The recommended pattern: a pre-hook materialises the buffer from the checkpoint."""

    def __init__(self) -> None:
        super().__init__()
        self.register_buffer("mean", torch.zeros(0))

    def calibrate(self, batch):
        self.mean = batch.mean(0)


class NotAModule:
    def __init__(self):
        self.register_buffer("p", None)
        self.p = 3

    def register_buffer(self, name, value):
        setattr(self, name, value)
