"""Sinusoidal position tables memoised per sequence length for a threaded inference server."""
import math
import threading as th

import torch
import torch.nn as nn


class CachedSinusoidalPositions(nn.Module):
    def __init__(self, dim: int, base: float = 10000.0) -> None:
        super().__init__()
        self.dim = dim
        self.base = base
        self._tables = {}  # length -> table; recomputed on demand, never saved
        self._cache_guard = th.RLock()

    def table(self, length: int) -> torch.Tensor:
        with self._cache_guard:
            if length not in self._tables:
                position = torch.arange(length, dtype=torch.float32).unsqueeze(1)
                freq = torch.exp(torch.arange(0, self.dim, 2, dtype=torch.float32) * (-math.log(self.base) / self.dim))
                table = torch.zeros(length, self.dim)
                table[:, 0::2] = torch.sin(position * freq)
                table[:, 1::2] = torch.cos(position * freq)
                self._tables[length] = table
            return self._tables[length]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.table(x.shape[1])
