"""Run configuration saved beside the weights so that a run can be resumed."""
import math

import torch


class RunConfig:
    def __init__(self, base_lr: float, warmup: int, total: int) -> None:
        self.base_lr = base_lr
        self.warmup = warmup
        self.total = total
        # the schedule travels with the config
        self.schedule = lambda step: min(1.0, step / warmup) * 0.5 * (1 + math.cos(math.pi * step / total))

    def lr(self, step: int) -> float:
        return self.base_lr * self.schedule(step)


def cosine_with_warmup(step: int, warmup: int, total: int) -> float:
    return min(1.0, step / warmup) * 0.5 * (1 + math.cos(math.pi * step / total))


class PicklableRunConfig:
    """Use instead: a module-level schedule, computed from plain fields."""

    def __init__(self, base_lr: float, warmup: int, total: int) -> None:
        self.base_lr = base_lr
        self.warmup = warmup
        self.total = total

    def lr(self, step: int) -> float:
        return self.base_lr * cosine_with_warmup(step, self.warmup, self.total)


class ConsoleOnlyConfig:
    """Never saved: a lambda here breaks nothing."""

    def __init__(self) -> None:
        self.fmt = lambda value: f"{value:.3f}"


def save_run(model: torch.nn.Module, config: RunConfig, path: str) -> None:
    torch.save({"model": model.state_dict(), "config": config}, path)


def save_picklable_run(model: torch.nn.Module, path: str) -> None:
    config = PicklableRunConfig(3e-4, 100, 1000)
    torch.save({"model": model.state_dict(), "config": config}, path)


def main(path: str) -> None:
    model = torch.nn.Linear(4, 4)
    config = RunConfig(3e-4, 100, 1000)
    torch.save({"model": model.state_dict(), "config": config}, path)
    save_picklable_run(model, path + ".2")
