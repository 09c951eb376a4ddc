"""The observer with extra state, written so that first-release checkpoints still load."""
from __future__ import annotations

from typing import Any, Dict

import torch
import torch.nn as nn
import torch.nn.functional as F

_FIRST_RELEASE_STATE: Dict[str, Any] = {"bits": 8, "num_batches": 0, "frozen": False}


def _supply_extra_state(module, state_dict, prefix, local_metadata, strict, missing_keys, unexpected_keys, error_msgs):
    # first-release checkpoints have no "_extra_state": give them the state they implied
    state_dict.setdefault(prefix + "_extra_state", dict(_FIRST_RELEASE_STATE))


class MinMaxObserver(nn.Module):
    def __init__(self, bits: int = 8) -> None:
        super().__init__()
        self.bits = bits
        self.num_batches = 0
        self.frozen = False
        self.register_buffer("min_val", torch.tensor(float("inf")))
        self.register_buffer("max_val", torch.tensor(float("-inf")))
        self.register_load_state_dict_pre_hook(_supply_extra_state)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not self.frozen:
            self.min_val = torch.minimum(self.min_val, x.detach().min())
            self.max_val = torch.maximum(self.max_val, x.detach().max())
            self.num_batches += 1
        return x

    def get_extra_state(self) -> Dict[str, Any]:
        return {"bits": self.bits, "num_batches": self.num_batches, "frozen": self.frozen}

    def set_extra_state(self, state: Dict[str, Any]) -> None:
        self.bits = state["bits"]
        self.num_batches = state["num_batches"]
        self.frozen = state["frozen"]


class QuantLinear(nn.Module):
    def __init__(self, in_features: int, out_features: int) -> None:
        super().__init__()
        self.linear = nn.Linear(in_features, out_features)
        self.observer = MinMaxObserver()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.relu(self.linear(self.observer(x)))
