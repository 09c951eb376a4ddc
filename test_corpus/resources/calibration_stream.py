"""Calibrating an output scale from a reference set consumed in chunks, one chunk per call."""
import itertools

import torch
import torch.nn as nn


def iter_chunks(reference: torch.Tensor, size: int):
    for start in range(0, reference.shape[0], size):
        yield reference[start:start + size]


class StreamingCalibrator(nn.Module):
    def __init__(self, reference: torch.Tensor, chunk: int = 32) -> None:
        super().__init__()
        self.scale = nn.Parameter(torch.ones(reference.shape[1]))
        self._chunks = iter_chunks(reference, chunk)
        self.seen = 0

    @torch.no_grad()
    def calibrate_step(self) -> bool:
        chunk = next(self._chunks, None)
        if chunk is None:
            return False
        self.seen += chunk.shape[0]
        self.scale.mul_(0.9).add_(0.1 * chunk.abs().mean(0).clamp_min(1e-6).reciprocal())
        return True


class NoisyAugment(nn.Module):
    """Draws noise lazily from an endless generator expression."""

    def __init__(self, dim, sigma=0.1):
        super().__init__()
        self.dim = dim
        self.noise = (torch.randn(dim) * sigma for _ in itertools.count())

    def forward(self, x):
        return x + next(self.noise)
