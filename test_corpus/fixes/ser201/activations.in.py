"""Feed-forward heads whose activations were written inline as lambdas."""
import math
from functools import partial as bind

import torch
import torch.nn as nn

GELU_C = math.sqrt(2.0 / math.pi)


# tanh approximation of GELU, as the original checkpoints used
class TanhGeluFFN(nn.Module):
    def __init__(self, dim: int, hidden: int, dropout: float = 0.0):
        super().__init__()
        self.fc1 = nn.Linear(dim, hidden)
        self.fc2 = nn.Linear(hidden, dim)
        self.drop = nn.Dropout(dropout)
        self.act = lambda x: 0.5 * x * (1.0 + torch.tanh(GELU_C * (x + 0.044715 * x**3)))

    def forward(self, x):
        return self.fc2(self.drop(self.act(self.fc1(x))))


class ScaledHead(nn.Module):
    def __init__(self, dim, classes, temperature=2.0, clamp=None):
        super().__init__()
        self.proj = nn.Linear(dim, classes)
        self.normalize = bind(nn.functional.normalize, dim=-1)
        limit = float(clamp) if clamp is not None else 30.0
        setattr(self, "squash",
                lambda logits: (logits / temperature).clamp(-limit, limit))

    def forward(self, x):
        return self.squash(self.proj(self.normalize(x)))


class ShiftedHead(nn.Module):
    def __init__(self, dim, classes, low=-5.0):
        super().__init__()
        self.proj = nn.Linear(dim, classes)
        # reads self: a copy made by deepcopy would read the original, so left alone
        self.bias_shift = lambda logits: logits + self.proj.bias.mean()
        # default-argument trick: left alone
        self.floor = lambda logits, low=low: logits.clamp(min=low)

    def forward(self, x):
        return self.floor(self.bias_shift(self.proj(x)))
