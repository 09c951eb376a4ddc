"""A small single-process trainer that checkpoints every epoch and can resume a run."""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


class Classifier(nn.Module):
    def __init__(self, in_features: int = 8, classes: int = 3) -> None:
        super().__init__()
        self.body = nn.Sequential(nn.Linear(in_features, 16), nn.ReLU())
        self.head = nn.Linear(16, classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.body(x))

    def export(self, path) -> None:
        # "one file, no code needed to rebuild it" -- until the class moves
        torch.save(self, path)


class Trainer:
    def __init__(self, model: nn.Module, lr: float = 0.05) -> None:
        self.model = model
        self.optimizer = torch.optim.SGD(self.model.parameters(), lr=lr, momentum=0.9)
        self.scheduler = torch.optim.lr_scheduler.StepLR(self.optimizer, step_size=10)
        self.epoch = 0

    def train_epoch(self, batches) -> float:
        self.model.train()
        total = 0.0
        for x, y in batches:
            self.optimizer.zero_grad()
            loss = F.cross_entropy(self.model(x), y)
            loss.backward()
            self.optimizer.step()
            total += loss.item()
        self.scheduler.step()
        self.epoch += 1
        return total

    def save_checkpoint(self, path) -> None:
        torch.save(
            {
                "epoch": self.epoch,
                "model": self.model.state_dict(),
                "optimizer": self.optimizer,  # momentum buffers and all
                "scheduler": self.scheduler.state_dict(),
            },
            path,
        )

    def resume(self, path) -> None:
        checkpoint = torch.load(path, map_location="cpu", weights_only=False)
        # warm start: a checkpoint from a run with another head still loads
        self.model.load_state_dict(checkpoint["model"], strict=False)
        self.optimizer.load_state_dict(checkpoint["optimizer"].state_dict())
        self.scheduler.load_state_dict(checkpoint["scheduler"])
        self.epoch = checkpoint["epoch"]


def fit(batches, epochs: int, path) -> Trainer:
    trainer = Trainer(Classifier())
    for _ in range(epochs):
        trainer.train_epoch(batches)
        trainer.save_checkpoint(path)
    return trainer
