"""A backbone that exposes intermediate activations for a detection head."""
from __future__ import annotations

from typing import Dict, List

import torch
from torch import nn


class Backbone(nn.Module):
    def __init__(self, width: int = 16) -> None:
        super().__init__()
        self.stem = nn.Sequential(nn.Linear(8, width), nn.ReLU())
        self.stages = nn.ModuleList([nn.Linear(width, width) for _ in range(3)])

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.stem(x)
        for stage in self.stages:
            x = torch.relu(stage(x))
        return x


class FeaturePyramid(nn.Module):
    """Collects the output of every stage with forward hooks registered once, in __init__."""

    def __init__(self, width: int = 16) -> None:
        super().__init__()
        self.backbone = Backbone(width)
        self.features: Dict[str, torch.Tensor] = {}
        self.stem_shapes: List[torch.Size] = []
        # the stem output only feeds a shape log
        self.backbone.stem.register_forward_hook(lambda mod, inp, out: self.stem_shapes.append(out.shape))
        for index, stage in enumerate(self.backbone.stages):
            stage.register_forward_hook(self._capture(f"stage{index}"))

        def check_input(module, args):
            if args[0].dim() != 2:
                raise ValueError("expected a batch of vectors")

        self.register_forward_pre_hook(check_input)

    def _capture(self, name: str):
        def hook(module: nn.Module, inputs, output: torch.Tensor) -> None:
            self.features[name] = output.detach()

        return hook

    def forward(self, x: torch.Tensor) -> Dict[str, torch.Tensor]:
        self.features.clear()
        self.backbone(x)
        return dict(self.features)
