"""Post-training quantisation, second release: calibration progress moves into extra state.

The observer now remembers how many batches it has seen and whether calibration is frozen, so a
resumed calibration run continues where it stopped.
"""
from __future__ import annotations

from typing import Any, Dict

import torch
from torch import nn
from torch.nn import functional as F


class MinMaxObserver(nn.Module):
    def __init__(self, bits: int = 8) -> None:
        super().__init__()
        self.bits = bits
        self.num_batches = 0
        self.frozen = False
        self.register_buffer("min_val", torch.tensor(float("inf")))
        self.register_buffer("max_val", torch.tensor(float("-inf")))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not self.frozen:
            self.min_val = torch.minimum(self.min_val, x.detach().min())
            self.max_val = torch.maximum(self.max_val, x.detach().max())
            self.num_batches += 1
        return x

    def get_extra_state(self) -> Dict[str, Any]:
        return {"bits": self.bits, "num_batches": self.num_batches, "frozen": self.frozen}

    def set_extra_state(self, state: Dict[str, Any]) -> None:
        self.bits = state["bits"]
        self.num_batches = state["num_batches"]
        self.frozen = state["frozen"]


class QuantLinear(nn.Module):
    def __init__(self, in_features: int, out_features: int) -> None:
        super().__init__()
        self.linear = nn.Linear(in_features, out_features)
        self.observer = MinMaxObserver()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.relu(self.linear(self.observer(x)))


class ScaleTracker(nn.Module):
    """Keeps an exponential moving average of the activation scale.

    The average is saved, but nothing reads it back.
    """

    def __init__(self, momentum: float = 0.9) -> None:
        super().__init__()
        self.momentum = momentum
        self.scale = 1.0

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        self.scale = self.momentum * self.scale + (1 - self.momentum) * float(x.abs().max())
        return x

    def get_extra_state(self) -> float:
        return self.scale
