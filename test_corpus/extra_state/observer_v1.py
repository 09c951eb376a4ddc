"""Post-training quantisation, first release: the observer keeps only its min/max buffers.

Checkpoints written with this version have no "_extra_state" keys.
"""
import torch
import torch.nn as nn
import torch.nn.functional as F


class MinMaxObserver(nn.Module):
    def __init__(self, bits: int = 8) -> None:
        super().__init__()
        self.bits = bits
        self.register_buffer("min_val", torch.tensor(float("inf")))
        self.register_buffer("max_val", torch.tensor(float("-inf")))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        self.min_val = torch.minimum(self.min_val, x.detach().min())
        self.max_val = torch.maximum(self.max_val, x.detach().max())
        return x


class QuantLinear(nn.Module):
    def __init__(self, in_features: int, out_features: int) -> None:
        super().__init__()
        self.linear = nn.Linear(in_features, out_features)
        self.observer = MinMaxObserver()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.relu(self.linear(self.observer(x)))
