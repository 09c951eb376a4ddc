"""A shared encoder with one output head per task, the heads held in a dict."""
from torch import nn
from torch.nn import Linear


class MultiTaskModel(nn.Module):
    def __init__(self, d_in: int, d_hidden: int, tasks: dict) -> None:
        super().__init__()
        self.encoder = nn.Sequential(nn.Linear(d_in, d_hidden), nn.ReLU())
        self.heads = {name: Linear(d_hidden, n_out) for name, n_out in tasks.items()}

    def forward(self, x):
        h = self.encoder(x)
        return {name: head(h) for name, head in self.heads.items()}


class LateHeads(nn.Module):
    """Heads attached after construction, one per registered task."""

    def __init__(self, d_hidden):
        super().__init__()
        self.d_hidden = d_hidden
        self.heads = dict()

    def add_task(self, name, n_out):
        self.heads[name] = Linear(self.d_hidden, n_out)

    def forward(self, h):
        return {name: head(h) for name, head in self.heads.items()}
