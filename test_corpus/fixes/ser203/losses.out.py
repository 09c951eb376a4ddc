"""A multi-task criterion keeping its losses and metrics in dicts and lists of lambdas."""
import functools

import torch
import torch.nn.functional as F
from torch.nn import Module


def _multi_task_loss_losses_reg(p, t, *, beta, w):
    return w["reg"] * F.smooth_l1_loss(p, t, beta=beta)


def _multi_task_loss_losses_cls(p, t, *, w):
    return w["cls"] * F.binary_cross_entropy_with_logits(p, t)


def _multi_task_loss_metrics(p, t, *, k):
    return (p.topk(k, dim=-1).indices == t.argmax(-1, keepdim=True)).any(-1).float().mean()


class MultiTaskLoss(Module):
    def __init__(self, weights=None, beta=1.0):
        super().__init__()
        w = weights or {"reg": 1.0, "cls": 0.5}
        self.losses = {
            "reg": functools.partial(_multi_task_loss_losses_reg, beta=beta, w=w),
            "cls": functools.partial(_multi_task_loss_losses_cls, w=w),
            "aux": F.mse_loss,
        }
        self.order = ("reg", "cls", "aux")
        self.metrics = []

    def add_metric(self, k):
        self.metrics.append(functools.partial(_multi_task_loss_metrics, k=k))

    def forward(self, pred, target):
        return sum(self.losses[name](pred, target) for name in self.order)


def _smoothing_steps_1(p, *, eps):
    return p * (1 - eps) + eps / 2


class Smoothing(Module):
    def __init__(self, eps):
        super().__init__()
        self.steps = [torch.sigmoid, functools.partial(_smoothing_steps_1, eps=eps), functools.partial(torch.clamp, min=0.0)]
        for i in range(2):
            # a loop target captured: left alone
            self.steps.append(lambda p: p + i * 0.0)

    def forward(self, x):
        for step in self.steps:
            x = step(x)
        return x
