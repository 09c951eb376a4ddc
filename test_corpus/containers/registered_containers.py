"""Containers torch registers, and plain containers that hold nothing torch must track."""
import torch
from torch import nn

from .blocks import ResidualBlock


class DeepMLP(nn.Module):
    """The ModuleList form: every layer is in state_dict() and parameters()."""

    def __init__(self, sizes):
        super().__init__()
        self.layers = nn.ModuleList()
        for d_in, d_out in zip(sizes[:-1], sizes[1:]):
            self.layers.append(nn.Linear(d_in, d_out))

    def forward(self, x):
        for layer in self.layers[:-1]:
            x = torch.relu(layer(x))
        return self.layers[-1](x)


class MultiTaskModel(nn.Module):
    def __init__(self, d_hidden, tasks):
        super().__init__()
        self.heads = nn.ModuleDict({name: nn.Linear(d_hidden, n) for name, n in tasks.items()})
        self.scales = nn.ParameterList([nn.Parameter(torch.ones(d_hidden)) for _ in tasks])
        self.bias = nn.ParameterDict({name: nn.Parameter(torch.zeros(n)) for name, n in tasks.items()})
        self.task_names = sorted(tasks)
        self.output_sizes = {name: int(n) for name, n in tasks.items()}


class UNetLike(nn.Module):
    """A plain list that only refers to submodules registered as attributes."""

    def __init__(self, dim):
        super().__init__()
        self.down1 = ResidualBlock(dim, dim)
        self.down2 = ResidualBlock(dim, dim)
        self.encoder_order = [self.down1, self.down2]
        self.skips = {"d1": self.down1, "d2": self.down2}
        self.activations = [nn.ReLU(), nn.GELU(), nn.Identity()]

    def forward(self, x):
        for block, act in zip(self.encoder_order, self.activations):
            x = act(block(x))
        return x


class SequentialFromList(nn.Module):
    def __init__(self, dim, depth):
        super().__init__()
        layers = [nn.Linear(dim, dim) for _ in range(depth)]
        self.net = nn.Sequential(*layers)
        self.layers = list(self.net)


class LegacyRegistration(nn.Module):
    """Older code registers list members one by one with add_module."""

    def __init__(self, dim, depth):
        super().__init__()
        self.blocks = [ResidualBlock(dim, dim) for _ in range(depth)]
        for i, block in enumerate(self.blocks):
            self.add_module("block_%d" % i, block)


class Ensemble:
    """Not a Module: a plain holder of independently trained models."""

    def __init__(self, members):
        self.models = [nn.Linear(4, 1) for _ in range(members)]
