"""A pre-norm transformer block with the usual switches: qkv bias, qk-norm, layer scale, rotary."""
import math
from typing import Optional

import torch
from torch import nn


class SelfAttention(nn.Module):
    def __init__(self, dim: int, heads: int = 4, qkv_bias: bool = False, qk_norm: bool = False,
                 rotary: bool = False) -> None:
        super().__init__()
        self.heads = heads
        self.head_dim = dim // heads
        if qkv_bias:
            self.qkv = nn.Linear(dim, dim * 3)
        else:
            self.qkv = nn.Linear(dim, dim * 3, bias=False)
        self.q_norm = nn.LayerNorm(self.head_dim) if qk_norm else nn.Identity()
        self.proj = nn.Linear(dim, dim)
        if rotary:
            # recomputed from the sizes, never saved: the keys stay the same either way
            inv_freq = 1.0 / (10000 ** (torch.arange(0, self.head_dim, 2).float() / self.head_dim))
            self.register_buffer("inv_freq", inv_freq, persistent=False)
        else:
            self.inv_freq = None

    def _rotate(self, x: torch.Tensor) -> torch.Tensor:
        if self.inv_freq is None:
            return x
        t = torch.arange(x.shape[-2], dtype=self.inv_freq.dtype)
        freqs = torch.outer(t, self.inv_freq)
        cos, sin = freqs.cos(), freqs.sin()
        x1, x2 = x[..., 0::2], x[..., 1::2]
        return torch.cat((x1 * cos - x2 * sin, x1 * sin + x2 * cos), dim=-1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, n, d = x.shape
        q, k, v = self.qkv(x).reshape(b, n, 3, self.heads, self.head_dim).permute(2, 0, 3, 1, 4)
        q = self._rotate(self.q_norm(q))
        k = self._rotate(k)
        attn = (q @ k.transpose(-2, -1) / math.sqrt(self.head_dim)).softmax(dim=-1)
        return self.proj((attn @ v).transpose(1, 2).reshape(b, n, d))


class Block(nn.Module):
    def __init__(self, dim: int, heads: int = 4, init_values: Optional[float] = None, **attn_kwargs) -> None:
        super().__init__()
        try:
            from torch.nn import RMSNorm  # torch >= 2.4
        except ImportError:
            self.norm1 = nn.LayerNorm(dim)
            self.norm2 = nn.LayerNorm(dim)
        else:
            self.norm1 = RMSNorm(dim)
            self.norm2 = RMSNorm(dim)
        self.attn = SelfAttention(dim, heads, **attn_kwargs)
        self.mlp = nn.Sequential(nn.Linear(dim, 4 * dim), nn.GELU(), nn.Linear(4 * dim, dim))
        if init_values is not None:
            self.gamma1 = nn.Parameter(init_values * torch.ones(dim))
            self.gamma2 = nn.Parameter(init_values * torch.ones(dim))
        else:
            self.gamma1 = self.gamma2 = None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.attn(self.norm1(x))
        x = x + (y if self.gamma1 is None else self.gamma1 * y)
        y = self.mlp(self.norm2(x))
        return x + (y if self.gamma2 is None else self.gamma2 * y)
