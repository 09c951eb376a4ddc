"""Activations and losses built by factory closures, and helpers nested in __init__ (SER202)."""
import functools

import torch
from torch import nn


def make_scaled_tanh(scale):
    def scaled_tanh(x):
        return torch.tanh(scale * x)

    return scaled_tanh


def make_threshold(cutoff, soft=False):
    if soft:
        return lambda x: torch.sigmoid(x - cutoff)
    else:
        return lambda x: (x > cutoff).float()


class SirenLayer(nn.Module):
    def __init__(self, in_features: int, out_features: int, w0: float = 30.0) -> None:
        super().__init__()
        self.linear = nn.Linear(in_features, out_features)
        self.act = make_scaled_tanh(w0)

    def forward(self, x):
        return self.act(self.linear(x))


class Detector(nn.Module):
    def __init__(self, dim, margin=1.0):
        super().__init__()
        self.score = nn.Linear(dim, 1)

        def hinge(x, m):
            return (m - x).clamp(min=0)

        def clip(x):
            return x.clamp(-10.0, 10.0)

        self.loss_fn = functools.partial(hinge, m=margin)
        self.post = clip
        self.decide = make_threshold(0.5, soft=True)

    def forward(self, x):
        return self.decide(self.post(self.score(x)))


class Ranker(nn.Module):
    def __init__(self, dim, temperature):
        super().__init__()
        self.proj = nn.Linear(dim, dim)
        self.sim = self._make_similarity(temperature)

    def _make_similarity(self, temperature):
        def similarity(a, b):
            return (a @ b.t()) / temperature

        return similarity

    def forward(self, a, b):
        return self.sim(self.proj(a), self.proj(b))
