"""Blocks that keep their weight initialisers and gates as nested functions."""
import torch
from torch import nn
import functools


def make_gate(threshold):
    def gate(x):
        return (x > threshold).to(x.dtype)

    return gate


def _residual_mlp_init_weights(module, *, std):
    # plain normal init, scaled by the width
    if isinstance(module, nn.Linear):
        nn.init.normal_(module.weight, std=std)
        nn.init.zeros_(module.bias)


def _residual_mlp_residual(x, f):
    return x + torch.relu(f(x))


class ResidualMLP(nn.Module):
    def __init__(self, width, depth=2, gain=1.0):
        super().__init__()
        self.layers = nn.ModuleList(nn.Linear(width, width) for _ in range(depth))
        std = gain / math_sqrt(width)

        init_weights = functools.partial(_residual_mlp_init_weights, std=std)

        residual = _residual_mlp_residual

        self.apply(init_weights)
        self.reinit = init_weights
        self.combine = residual

    def forward(self, x):
        for layer in self.layers:
            x = self.combine(x, layer)
        return x


class GatedLinear(nn.Linear):
    def __init__(self, width):
        super().__init__(width, width)
        self.gate = make_gate(0.0)  # a factory's closure: left alone

    def forward(self, x):
        y = super().forward(x)
        return y * self.gate(y)


class Tree(nn.Module):
    def __init__(self, width):
        super().__init__()
        self.leaf = nn.Linear(width, width)

        def depth_sum(values, level):
            # calls itself through its own local name: left alone
            if level == 0:
                return values
            return depth_sum(values, level - 1) + values

        self.reduce = depth_sum

    def forward(self, x):
        return self.reduce(self.leaf(x), 2)


def math_sqrt(value):
    return value ** 0.5
