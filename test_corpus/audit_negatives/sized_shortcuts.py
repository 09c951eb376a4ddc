"""Blocks whose optional layers exist only when two widths differ (or an expansion is not 1).

The same widths also shape layers that are always built.
"""
from typing import Optional

import torch
from torch import nn


class ResidualUnit(nn.Module):
    def __init__(self, in_ch: int, out_ch: Optional[int] = None, groups: int = 8) -> None:
        super().__init__()
        out_ch = out_ch or in_ch
        self.norm1 = nn.GroupNorm(groups, in_ch)
        self.conv1 = nn.Conv2d(in_ch, out_ch, 3, padding=1)
        self.norm2 = nn.GroupNorm(groups, out_ch)
        self.conv2 = nn.Conv2d(out_ch, out_ch, 3, padding=1)
        self.needs_projection = in_ch != out_ch
        self.skip = None
        if self.needs_projection:
            self.skip = nn.Conv2d(in_ch, out_ch, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.conv1(torch.relu(self.norm1(x)))
        h = self.conv2(torch.relu(self.norm2(h)))
        return h + (self.skip(x) if self.skip is not None else x)


class TokenEmbedding(nn.Module):
    def __init__(self, vocab: int, embed_dim: int, hidden: int) -> None:
        super().__init__()
        self.tokens = nn.Embedding(vocab, embed_dim)
        if embed_dim != hidden:
            self.up = nn.Linear(embed_dim, hidden, bias=False)
        else:
            self.up = None
        self.norm = nn.LayerNorm(hidden)

    def forward(self, ids: torch.Tensor) -> torch.Tensor:
        x = self.tokens(ids)
        if self.up is not None:
            x = self.up(x)
        return self.norm(x)


class InvertedBottleneck(nn.Module):
    def __init__(self, channels: int, ratio: int = 4) -> None:
        super().__init__()
        wide = channels * ratio
        if ratio != 1:
            self.expand = nn.Sequential(nn.Conv2d(channels, wide, 1, bias=False), nn.BatchNorm2d(wide))
        self.depthwise = nn.Conv2d(wide, wide, 3, padding=1, groups=wide, bias=False)
        self.project = nn.Conv2d(wide, channels, 1, bias=False)
        self.ratio = ratio

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.expand(x) if self.ratio != 1 else x
        return x + self.project(torch.relu(self.depthwise(h)))
