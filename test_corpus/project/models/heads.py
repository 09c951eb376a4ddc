"""Heads for the classifier, and the score keeper of the evaluation plugins."""
import torch
from torch.nn import Module as TorchModule

from project import Layer  # the older name of TrackedModule, re-exported by the package
from ..registry import Module  # the registry's plugin base, not torch's


class ProjectionHead(TorchModule):
    def __init__(self, width: int, dim: int) -> None:
        super().__init__()
        self.proj = torch.nn.Linear(width, dim)
        self.register_buffer("center", None, persistent=False)

    def forward(self, x):
        z = self.proj(x)
        if self.center is None:
            self.center = z.mean(0)
        return z - self.center


class AttentionPool(Layer):
    """Attention pooling over tokens; the query starts from the first batch's mean token."""

    def __init__(self, width: int) -> None:
        super().__init__()
        self.key = torch.nn.Linear(width, width)
        self.register_buffer("query", None)

    def forward(self, tokens: torch.Tensor) -> torch.Tensor:
        if self.query is None:
            self.query = tokens.detach().mean((0, 1))
        weights = torch.softmax(self.key(self.track(tokens)) @ self.query, dim=-1)
        return (weights.unsqueeze(-1) * tokens).sum(1)


class ScoreKeeper(Module):
    """Keeps the best score seen; `register_buffer` is the registry's, not torch's."""

    def __init__(self) -> None:
        super().__init__("score-keeper")
        self.register_buffer("best", None)

    def update(self, score: float) -> None:
        if self.best is None or score > self.best:
            self.best = score
