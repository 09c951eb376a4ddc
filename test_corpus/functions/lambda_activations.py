"""Activation choices and init hooks kept as lambdas on the model (SER201)."""
import torch
import torch.nn as nn
from torch.nn import functional as F

# a lambda bound to a module-level name still has the __qualname__ '<lambda>'
SWISH = lambda x: x * torch.sigmoid(x)  # noqa: E731


class GatedMLP(nn.Module):
    """The textbook case: the activation is a lambda closing over a constructor argument."""

    def __init__(self, dim: int, hidden: int, slope: float = 0.01) -> None:
        super().__init__()
        self.up = nn.Linear(dim, hidden)
        self.gate = nn.Linear(dim, hidden)
        self.down = nn.Linear(hidden, dim)
        self.act = lambda x: F.leaky_relu(x, slope)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        # an init hook kept for later re-initialisation
        init_fn = lambda w: nn.init.normal_(w, std=0.02)  # noqa: E731
        self.init_fn = init_fn
        for layer in (self.up, self.gate, self.down):
            self.init_fn(layer.weight)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.down(self.act(self.up(x)) * torch.sigmoid(self.gate(x)))


class Encoder(nn.Module):
    def __init__(self, dim, activation=None, use_swish=False):
        super().__init__()
        self.proj = nn.Linear(dim, dim)
        if use_swish:
            self.act = SWISH
        else:
            # the fallback lambda is stored whenever no activation is given
            self.act = activation or (lambda t: t)

    def forward(self, x):
        return self.act(self.proj(x))


class Tokenizer(nn.Module):
    def __init__(self, lower=True):
        super().__init__()
        setattr(self, "normalize",
                lambda s: s.lower() if lower else s)

    def forward(self, text):
        return self.normalize(text)
