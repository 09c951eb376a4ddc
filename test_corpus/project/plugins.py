import time

from . import registry as reg
from .registry import Module


def count_torch_modules(model) -> int:
    from torch.nn import Module  # only this function's Module is torch's

    return sum(isinstance(m, Module) for m in model.modules())


class LossHistory(Module):
    def __init__(self) -> None:
        super().__init__("loss-history")
        self.register_buffer("values", None)

    def append(self, loss: float) -> None:
        if self.values is None:
            self.values = []
        self.values.append(loss)


class StepTimer(reg.Module):
    def __init__(self) -> None:
        super().__init__("step-timer")
        self.register_buffer("started", None)

    def start(self) -> None:
        self.started = time.perf_counter()
