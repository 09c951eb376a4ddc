"""Activation observer, second release: calibration progress moves into extra state, and the
per-channel scale is filled in lazily by the first calibration batch."""
from typing import Any, Dict

import torch
import torch.nn as nn


class ChannelObserver(nn.Module):
    def __init__(self, channels: int, bits: int = 8) -> None:
        super().__init__()
        self.channels = channels
        self.bits = bits
        self.num_batches = 0
        self.register_buffer("amax", torch.zeros(channels))
        self.register_buffer("scale", None)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        self.amax = torch.maximum(self.amax, x.detach().abs().amax(0))
        self.scale = self.amax / (2 ** (self.bits - 1) - 1)
        self.num_batches += 1
        return x

    def get_extra_state(self) -> Dict[str, Any]:
        return {"bits": self.bits, "num_batches": self.num_batches}

    def set_extra_state(self, state: Dict[str, Any]) -> None:
        self.bits = state["bits"]
        self.num_batches = state["num_batches"]


class Rounding(nn.Module):
    """Extra state from the start, but no __init__ of its own to register a hook in."""

    def get_extra_state(self) -> Dict[str, Any]:
        return {"mode": "nearest"}

    def set_extra_state(self, state: Dict[str, Any]) -> None:
        self.mode = state["mode"]
