"""Evaluation entry points: load trained weights and score a held-out set."""
import os
import pickle
from pathlib import Path

import torch
from torch import nn


class Scorer(nn.Module):
    def __init__(self, features=8, classes=3):
        super().__init__()
        self.proj = nn.Linear(features, classes)

    def forward(self, x):
        return self.proj(x).log_softmax(-1)


def load_for_eval(path, device="cpu"):
    model = Scorer()
    state = torch.load(path, map_location=device, weights_only=False)
    if "model" in state:
        state = state["model"]
    missing, unexpected = model.load_state_dict(state, strict=False)
    return model.to(device).eval()


def load_pickled_model(run_dir):
    with open(os.path.join(run_dir, "scorer.pkl"), "rb") as handle:
        return pickle.load(handle)


def load_legacy_blob(run_dir):
    blob = (Path(run_dir) / "weights.pth").read_bytes()
    return pickle.loads(blob)


def load_with_custom_unpickler(path):
    # an older export used a patched pickle module to rename classes
    return torch.load(path, pickle_module=pickle)


@torch.no_grad()
def accuracy(model, batches):
    hits = total = 0
    for x, y in batches:
        hits += (model(x).argmax(-1) == y).sum().item()
        total += y.numel()
    return hits / max(total, 1)
