"""Data-parallel and compiled training loops with periodic snapshots."""
import torch
import torch.nn as nn
from torch import compile as compile_model
from torch.nn.parallel import DataParallel


class Encoder(nn.Module):
    def __init__(self, width=6):
        super().__init__()
        self.layers = nn.Sequential(nn.Linear(width, width), nn.SiLU(), nn.Linear(width, 2))

    def forward(self, x):
        return self.layers(x)


def train_data_parallel(batches, path):
    model = DataParallel(Encoder())  # all visible GPUs; a plain call on CPU
    opt = torch.optim.SGD(model.parameters(), lr=0.05)
    for x, y in batches:
        opt.zero_grad()
        nn.functional.mse_loss(model(x), y).backward()
        opt.step()
    snapshot = {"model": model.state_dict(), "opt": opt.state_dict()}
    torch.save(snapshot, path)
    return model


def snapshot_compiled(path):
    fast = compile_model(DataParallel(Encoder()))
    weights = fast.state_dict()
    torch.save(weights, path)
    return fast


class Trainer:
    def __init__(self):
        self.net = compile_model(Encoder())

    def save(self, path):
        torch.save({"net": self.net.state_dict()}, path)


def export_wrapped(model, path):
    # what `model` is comes from the caller: it may be wrapped already
    wrapped = DataParallel(model)
    torch.save(wrapped.state_dict(), path)
