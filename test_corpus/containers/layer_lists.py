"""Layers kept in plain Python containers: torch never sees them."""
import torch
import torch.nn as nn

from .blocks import ResidualBlock


class DeepMLP(nn.Module):
    def __init__(self, sizes):
        super().__init__()
        self.layers = []
        for d_in, d_out in zip(sizes[:-1], sizes[1:]):
            self.layers.append(nn.Linear(d_in, d_out))

    def forward(self, x):
        for layer in self.layers[:-1]:
            x = torch.relu(layer(x))
        return self.layers[-1](x)


class ResidualTower(nn.Module):
    def __init__(self, dim: int, depth: int) -> None:
        super().__init__()
        self.blocks = [ResidualBlock(dim, 4 * dim) for _ in range(depth)]
        self.head = nn.Linear(dim, 1)

    def forward(self, x):
        for block in self.blocks:
            x = block(x)
        return self.head(x)


class MixtureOfScales(nn.Module):
    """Per-component scale vectors, collected in a local list first."""

    def __init__(self, components: int, dim: int) -> None:
        super().__init__()
        scales = []
        for _ in range(components):
            scales.append(nn.Parameter(torch.ones(dim)))
        self.scales = scales

    def forward(self, x):
        return torch.stack([x * s for s in self.scales]).sum(0)


class ConvStem(nn.Module):
    def __init__(self, channels):
        super().__init__()
        self.stages = (
            nn.Conv2d(3, channels, 3, padding=1),
            nn.BatchNorm2d(channels),
            nn.ReLU(),
        )

    def forward(self, images):
        for stage in self.stages:
            images = stage(images)
        return images
