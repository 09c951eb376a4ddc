"""Train a small tagger, keep a resumable checkpoint, and export the model for serving."""
from __future__ import annotations

import pickle

import torch
from torch import nn, optim


class Tagger(nn.Module):
    def __init__(self, vocab: int = 20, dim: int = 8, tags: int = 4) -> None:
        super().__init__()
        self.embed = nn.Embedding(vocab, dim)
        self.out = nn.Linear(dim, tags)

    def forward(self, tokens: torch.Tensor) -> torch.Tensor:
        return self.out(self.embed(tokens)).mean(dim=1)

    def export(self, path) -> None:
        torch.save(self.state_dict(), path)  # handed to the serving team


class Run:
    def __init__(self, lr: float = 0.1) -> None:
        self.model = Tagger()
        self.optimizer = optim.SGD(self.model.parameters(), lr=lr, momentum=0.9)
        self.epoch = 0

    def step(self, tokens: torch.Tensor, tags: torch.Tensor) -> float:
        self.optimizer.zero_grad()
        loss = nn.functional.cross_entropy(self.model(tokens), tags)
        loss.backward()
        self.optimizer.step()
        self.epoch += 1
        return loss.item()

    def save(self, path) -> None:
        torch.save(
            {
                "model": self.model.state_dict(),
                "optimizer": self.optimizer.state_dict(),   # momentum buffers included
                "epoch": self.epoch,
            },
            path,
        )

    def archive(self, path) -> None:
        # kept as a pickle for an old consumer: no automatic rewrite here
        with open(path, "wb") as handle:
            pickle.dump(self.model, handle)


def export_compiled(path):
    fast = torch.compile(Tagger())
    torch.save(fast._orig_mod.state_dict(), path)
    return fast
