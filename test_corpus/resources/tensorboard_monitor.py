"""A model that reports activation statistics to TensorBoard when given a log directory."""
from typing import Optional

import torch
import torch.nn as nn


class MonitoredMLP(nn.Module):
    def __init__(self, sizes, log_dir: Optional[str] = None):
        super().__init__()
        self.layers = nn.ModuleList(nn.Linear(a, b) for a, b in zip(sizes, sizes[1:]))
        self.step = 0
        self.writer = None
        if log_dir is not None:
            # tensorboard is an optional dependency: imported only when asked for
            from torch.utils.tensorboard import SummaryWriter

            self.writer = SummaryWriter(log_dir=log_dir, flush_secs=30)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        for i, layer in enumerate(self.layers):
            x = torch.relu(layer(x))
            if self.writer is not None:
                self.writer.add_scalar(f"act/{i}", x.mean().item(), self.step)
        self.step += 1
        return x
