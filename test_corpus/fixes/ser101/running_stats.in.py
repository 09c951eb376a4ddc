"""Input standardisation whose statistics come from the first training batch."""
from typing import Optional

import torch
from torch import nn


class RunningStats(nn.Module):
    """Standardises features with statistics fixed at the first batch."""

    def __init__(self, dim: int, eps: float = 1e-6) -> None:
        super().__init__()
        self.dim = dim
        self.eps = eps
        self.register_buffer("mean", None)  # filled by calibrate()
        self.register_buffer(
            "std",
            None,
        )

    def calibrate(self, batch: torch.Tensor) -> None:
        self.mean = batch.mean(0)
        self.std = batch.std(0) + self.eps

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.mean is None:
            self.calibrate(x)
        return (x - self.mean) / self.std


class Workspace(nn.Module):
    """Scratch memory that is never meant to be saved."""

    def __init__(self) -> None:
        super().__init__()
        self.register_buffer("scratch", None, persistent=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.scratch is None or self.scratch.shape != x.shape:
            self.scratch = torch.empty_like(x)
        self.scratch.copy_(x)
        return self.scratch


def make_scratch(shape) -> Optional[torch.Tensor]:
    return torch.zeros(shape) if shape else None
