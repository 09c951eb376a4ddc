"""Vision and mixture blocks of the model zoo; several keep their layers in plain containers."""
import torch
from torch import nn


class ConvEncoder(nn.Module):
    """Stages in a tuple, one head per named output."""

    def __init__(self, channels: int, classes: int) -> None:
        super().__init__()
        self.stages = nn.ModuleList([
            nn.Conv2d(3, channels, 3, padding=1),  # stem
            nn.BatchNorm2d(channels),
            nn.ReLU(),
        ])
        self.heads = nn.ModuleDict({"logits": nn.Linear(channels, classes),
                      "embedding": nn.Linear(channels, 16)})

    def forward(self, images):
        for stage in self.stages:
            images = stage(images)
        pooled = images.mean(dim=(2, 3))
        return {name: head(pooled) for name, head in self.heads.items()}


class GatedMixture(nn.Module):
    """Per-expert gates collected one by one, experts built in place."""

    def __init__(self, experts, dim):
        super(GatedMixture, self).__init__()
        self.gates = nn.ParameterList()
        for _ in range(experts):
            self.gates.append(nn.Parameter(torch.zeros(dim)))
        self.experts = nn.ModuleList([nn.Linear(dim, dim) for _ in range(experts)])

    def forward(self, x):
        out = 0
        for gate, expert in zip(self.gates, self.experts):
            out = out + torch.sigmoid(gate) * expert(x)
        return out / len(self.experts)


class ResidualStack(nn.Module):
    def __init__(self, dim, depth):
        super().__init__()
        blocks = []
        for _ in range(depth):
            blocks.append(nn.Sequential(nn.Linear(dim, dim), nn.GELU()))
        self.blocks = nn.ModuleList(blocks)
        self.norm = nn.LayerNorm(dim)

    def forward(self, x):
        for block in self.blocks[:-1]:
            x = x + block(x)
        return self.norm(self.blocks[-1](x))


class TaskHeads(nn.Module):
    """Keys known only at run time: a ModuleDict refuses some (`"train"`, `"a.b"`)."""

    def __init__(self, dim, tasks):
        super().__init__()
        self.heads = {task: nn.Linear(dim, 1) for task in tasks}

    def forward(self, h):
        return {task: head(h) for task, head in self.heads.items()}


class Pyramid(nn.Module):
    """Levels joined with another list in forward."""

    def __init__(self, dim):
        super().__init__()
        self.extra = nn.Linear(dim, dim)
        self.levels = [nn.Linear(dim, dim), nn.Linear(dim, dim)]

    def forward(self, x):
        for level in self.levels + [self.extra]:
            x = level(x)
        return x


class ScaledBranch(nn.Module):
    """A Module and a Parameter side by side in one list."""

    def __init__(self, dim):
        super().__init__()
        self.parts = [nn.Linear(dim, dim), nn.Parameter(torch.ones(dim))]

    def forward(self, x):
        return self.parts[0](x) * self.parts[1]
