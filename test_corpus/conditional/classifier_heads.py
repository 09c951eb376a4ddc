"""Small image classifiers whose optional parts are picked by the configuration."""
from __future__ import annotations

import torch
import torch.nn as nn


class SqueezeExcite(nn.Module):
    """Channel attention: two 1x1 convolutions around a global pool."""

    def __init__(self, channels: int, reduction: int = 4) -> None:
        super().__init__()
        hidden = max(channels // reduction, 8)
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.fc1 = nn.Conv2d(channels, hidden, 1)
        self.fc2 = nn.Conv2d(hidden, channels, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        scale = torch.sigmoid(self.fc2(torch.relu(self.fc1(self.pool(x)))))
        return x * scale


class ConvBlock(nn.Module):
    def __init__(self, in_ch: int, out_ch: int, use_se: bool = False, act: str = "relu") -> None:
        super().__init__()
        self.conv = nn.Conv2d(in_ch, out_ch, 3, padding=1, bias=False)
        self.bn = nn.BatchNorm2d(out_ch)
        # parameter-free either way
        self.act = nn.SiLU(inplace=True) if act == "silu" else nn.ReLU(inplace=True)
        if use_se:
            self.se = SqueezeExcite(out_ch)
        else:
            self.se = nn.Identity()  # keeps forward() simple, but has no parameters

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.se(self.act(self.bn(self.conv(x))))


class SmallNet(nn.Module):
    def __init__(self, num_classes: int = 10, width: int = 16, use_se: bool = False, drop_rate: float = 0.0) -> None:
        super().__init__()
        self.num_features = width * 4
        self.stem = ConvBlock(3, width, use_se=use_se)
        self.stages = nn.Sequential(
            ConvBlock(width, width * 2, use_se=use_se),
            nn.MaxPool2d(2),
            ConvBlock(width * 2, width * 4, use_se=use_se, act="silu"),
        )
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.drop = nn.Dropout(drop_rate) if drop_rate > 0 else nn.Identity()
        # num_classes=0 turns the network into a feature extractor
        self.head = (
            nn.Linear(self.num_features, num_classes)
            if num_classes > 0
            else nn.Identity()
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.pool(self.stages(self.stem(x))).flatten(1)
        return self.head(self.drop(x))
