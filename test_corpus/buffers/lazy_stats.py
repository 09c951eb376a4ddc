"""Feature normalisation whose statistics are computed on the first batch."""
import torch
import torch.nn as nn


class RunningStats(nn.Module):
    def __init__(self, dim: int) -> None:
        super().__init__()
        self.dim = dim
        self.register_buffer("mean", None)
        self.register_buffer(
            "std",
            None,
        )

    def calibrate(self, batch: torch.Tensor) -> None:
        self.mean = batch.mean(0)
        self.std = batch.std(0) + 1e-6

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.mean is None:
            self.calibrate(x)
        return (x - self.mean) / self.std


class ScratchSpace(nn.Module):
    """Non-persistent scratch: the value is lost on the round trip."""

    def __init__(self) -> None:
        super().__init__()
        self.register_buffer("scratch", None, persistent=False)

    def forward(self, x):
        if self.scratch is None or self.scratch.shape != x.shape:
            self.scratch = torch.empty_like(x)
        return x
