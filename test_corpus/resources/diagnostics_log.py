"""A classifier that appends per-batch diagnostics to a TSV file while it trains."""
import os
import threading

import torch
from torch import nn


class DiagnosticClassifier(nn.Module):
    def __init__(self, in_features: int, classes: int, log_dir: str) -> None:
        super().__init__()
        self.head = nn.Sequential(
            nn.Linear(in_features, 32),
            nn.ReLU(),
            nn.Linear(32, classes),
        )
        self.log_path = os.path.join(log_dir, "diagnostics.tsv")
        self.log_file = open(self.log_path, "a", encoding="utf-8")  # line-buffered below
        self._write_lock = threading.Lock()  # DataParallel replicas share the file

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        logits = self.head(x)
        if self.training:
            with self._write_lock:
                self.log_file.write(f"{x.shape[0]}\t{logits.detach().abs().mean().item():.4f}\n")
                self.log_file.flush()
        return logits

    def close(self) -> None:
        self.log_file.close()
