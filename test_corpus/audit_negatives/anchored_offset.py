"""A parametrization that learns a weight as an offset from its value when parametrized."""
import torch
from torch import nn
from torch.nn.utils import parametrize


class AnchoredOffset(nn.Module):
    def __init__(self, keep_anchor: bool = True) -> None:
        super().__init__()
        if keep_anchor:
            self.register_buffer("anchor", None)

    def forward(self, offset: torch.Tensor) -> torch.Tensor:
        if getattr(self, "anchor", None) is None:
            return offset
        return self.anchor + offset

    def right_inverse(self, weight: torch.Tensor) -> torch.Tensor:
        # called by register_parametrization with the layer's current weight
        if not hasattr(self, "anchor"):
            return weight
        self.anchor = weight.detach().clone()
        return torch.zeros_like(weight)


def anchored(layer: nn.Module, name: str = "weight") -> nn.Module:
    parametrize.register_parametrization(layer, name, AnchoredOffset())
    return layer
