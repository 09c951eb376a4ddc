"""Shifted-window attention whose mask is rebuilt from the window configuration.

The mask starts as an empty non-persistent buffer and is filled by `_refresh_mask()`, which
`__init__` calls and `resize()` calls again when the grid changes.
"""
from typing import Optional, Tuple

import torch
import torch.nn as nn
import torch.nn.functional as F


def _window_ids(height: int, width: int, window: int, shift: int) -> torch.Tensor:
    ids = torch.zeros(height, width)
    label = 0
    for rows in (slice(0, -window), slice(-window, -shift), slice(-shift, None)):
        for cols in (slice(0, -window), slice(-window, -shift), slice(-shift, None)):
            ids[rows, cols] = label
            label += 1
    return ids


class ShiftedWindowBlock(nn.Module):
    def __init__(self, dim: int, grid: Tuple[int, int], window: int = 4, shift: int = 2) -> None:
        super().__init__()
        self.grid = grid
        self.window = window
        self.shift = shift
        self.norm = nn.LayerNorm(dim)
        self.qkv = nn.Linear(dim, 3 * dim)
        self.proj = nn.Linear(dim, dim)
        # filled right below; stays None while the block has no shift
        self.register_buffer("shift_mask", None, persistent=False)
        self._refresh_mask()

    def _refresh_mask(self) -> None:
        mask = self._compute_mask() if self.shift else None
        self.register_buffer("shift_mask", mask, persistent=False)

    def _compute_mask(self) -> torch.Tensor:
        h, w = self.grid
        ids = _window_ids(h, w, self.window, self.shift)
        ids = ids.view(h // self.window, self.window, w // self.window, self.window)
        ids = ids.permute(0, 2, 1, 3).reshape(-1, self.window * self.window)
        diff = ids.unsqueeze(1) - ids.unsqueeze(2)
        return diff.ne(0).float() * -100.0

    def resize(self, grid: Tuple[int, int]) -> None:
        self.grid = grid
        self._refresh_mask()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        # x: (windows, tokens per window, dim)
        q, k, v = self.qkv(self.norm(x)).chunk(3, dim=-1)
        mask: Optional[torch.Tensor] = self.shift_mask
        out = F.scaled_dot_product_attention(q, k, v, attn_mask=mask)
        return x + self.proj(out)
