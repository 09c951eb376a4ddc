"""The picklable way to keep functions on a model: module-level defs, and functools.partial to
bind the values a lambda or closure used to capture."""
import functools
import operator

import torch
import torch.nn as nn
import torch.nn.functional as F


def leaky(x, slope):
    return F.leaky_relu(x, slope)


def scaled_tanh(x, scale):
    return torch.tanh(scale * x)


def hinge(x, m):
    return (m - x).clamp(min=0)


def mse(p, t):
    return F.mse_loss(p, t)


def smooth_l1(p, t, beta):
    return F.smooth_l1_loss(p, t, beta=beta)


class GatedMLP(nn.Module):
    def __init__(self, dim: int, hidden: int, slope: float = 0.01) -> None:
        super().__init__()
        self.up = nn.Linear(dim, hidden)
        self.gate = nn.Linear(dim, hidden)
        self.down = nn.Linear(hidden, dim)
        self.act = functools.partial(leaky, slope=slope)
        self.init_fn = functools.partial(nn.init.normal_, std=0.02)
        for layer in (self.up, self.gate, self.down):
            self.init_fn(layer.weight)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.down(self.act(self.up(x)) * torch.sigmoid(self.gate(x)))


class SirenLayer(nn.Module):
    def __init__(self, in_features: int, out_features: int, w0: float = 30.0) -> None:
        super().__init__()
        self.linear = nn.Linear(in_features, out_features)
        self.act = functools.partial(scaled_tanh, scale=w0)
        self.loss_fn = functools.partial(hinge, m=1.0)

    def forward(self, x):
        return self.act(self.linear(x))


class MultiTaskCriterion(nn.Module):
    def __init__(self, smooth: float = 0.1):
        super().__init__()
        self.losses = {
            "mse": mse,
            "l1": F.l1_loss,
            "smooth_l1": functools.partial(smooth_l1, beta=smooth),
        }
        self.reducers = [torch.mean, operator.itemgetter(0)]

    def forward(self, pred, target):
        return sum(fn(pred, target) for fn in self.losses.values())


class Router(nn.Module):
    """Bound methods, torch functions, builtins and operator functions all pickle by name."""

    def __init__(self, dim, mode="sum"):
        super().__init__()
        self.heads = nn.ModuleDict({"a": nn.Linear(dim, dim), "b": nn.Linear(dim, dim)})
        self.combine = operator.add if mode == "sum" else operator.mul
        self.squash = torch.sigmoid
        self.pick = max
        self.route = self.route_all
        self.table = {}
        self.table["a"] = self.heads["a"].forward

    def route_all(self, x):
        return self.combine(self.heads["a"](x), self.heads["b"](x))

    def forward(self, x):
        scale = lambda t: t * 0.5  # noqa: E731 - used here, never stored on self
        return self.squash(scale(self.route(x)))
