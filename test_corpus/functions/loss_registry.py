"""Dicts and lists of functions kept on the model: loss registries, transform chains (SER203)."""
from collections import OrderedDict

import torch
import torch.nn as nn
import torch.nn.functional as F


def make_weighted(weight):
    def weighted(pred, target):
        return weight * F.mse_loss(pred, target)

    return weighted


class MultiTaskCriterion(nn.Module):
    def __init__(self, smooth: float = 0.1):
        super().__init__()
        self.losses = {
            "mse": lambda p, t: F.mse_loss(p, t),
            "l1": F.l1_loss,  # module-level torch function: fine
            "smooth_l1": lambda p, t: F.smooth_l1_loss(p, t, beta=smooth),
        }

    def forward(self, pred, target):
        return sum(fn(pred, target) for fn in self.losses.values())


class Augment(nn.Module):
    def __init__(self, noise=0.1):
        super().__init__()
        jitter = lambda x: x + noise * torch.randn_like(x)  # noqa: E731
        self.chain = [torch.tanh, jitter]
        self.by_stage = dict(train=(jitter, make_weighted(0.5)), eval=())
        self.post = OrderedDict()

    def add_post(self, name, cap):
        self.post[name] = lambda x: x.clamp(max=cap)

    def forward(self, x):
        for fn in self.chain:
            x = fn(x)
        return x


class MetricBank(nn.Module):
    def __init__(self):
        super().__init__()
        self.metrics = []

    def track(self, k):
        self.metrics.append(lambda p, t: (p.topk(k).indices == t[:, None]).any(1).float().mean())
