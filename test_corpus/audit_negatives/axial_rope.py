"""Axial rotary embeddings kept as complex tables.

The tables stay plain attributes on purpose: `module.to(torch.bfloat16)` would cast a complex
buffer to a real one and drop its imaginary part. They are moved to the input's device on use.
"""
from typing import List, Optional, Tuple

import torch
from torch import nn


def _angles(positions: torch.Tensor, dim: int, base: float) -> torch.Tensor:
    inv = 1.0 / base ** (torch.arange(0, dim, 2, dtype=torch.float32) / dim)
    phase = torch.outer(positions.float(), inv)
    return torch.polar(torch.ones_like(phase), phase)


class AxialRope(nn.Module):
    def __init__(self, axes: List[int], base: float = 10000.0, max_len: int = 1024) -> None:
        super().__init__()
        self.axes = list(axes)
        forward_idx = torch.arange(max_len)
        backward_idx = -torch.arange(max_len).flip(0) - 1
        self.angles_pos = torch.cat([_angles(forward_idx, d, base) for d in self.axes], dim=1)
        self.angles_neg = torch.cat([_angles(backward_idx, d, base) for d in self.axes], dim=1)

    def tables(self, device: Optional[torch.device]) -> Tuple[torch.Tensor, torch.Tensor]:
        return self.angles_pos.to(device), self.angles_neg.to(device)

    def forward(self, length: int, device: Optional[torch.device] = None) -> torch.Tensor:
        pos, neg = self.tables(device)
        return torch.cat([neg[-length:], pos[:length]], dim=0)


def _rotate(pairs: torch.Tensor, rot: torch.Tensor) -> torch.Tensor:
    # pairs: (batch, tokens, heads, dim / 2, 2) read as complex numbers
    return torch.view_as_real(torch.view_as_complex(pairs) * rot[:, None]).flatten(3)


class RotaryAttention(nn.Module):
    def __init__(self, dim: int, heads: int) -> None:
        super().__init__()
        self.heads = heads
        head_dim = dim // heads
        self.rope = AxialRope([head_dim // 2, head_dim // 2])
        self.qkv = nn.Linear(dim, 3 * dim)
        self.out = nn.Linear(dim, dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, n, d = x.shape
        q, k, v = self.qkv(x).view(b, n, 3, self.heads, -1).unbind(2)
        rot = self.rope(n // 2, device=x.device)[:n]
        q = _rotate(q.float().reshape(b, n, self.heads, -1, 2), rot)
        k = _rotate(k.float().reshape(b, n, self.heads, -1, 2), rot)
        att = torch.softmax(torch.einsum("bnhd,bmhd->bhnm", q, k) / q.shape[-1] ** 0.5, dim=-1)
        return self.out(torch.einsum("bhnm,bmhd->bnhd", att, v.float()).reshape(b, n, d))
