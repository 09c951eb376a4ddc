"""A pre-norm text transformer block that takes its attention mask at construction."""
import torch
import torch.nn as nn


class TextBlock(nn.Module):
    def __init__(self, width: int, heads: int, causal_mask: torch.Tensor = None) -> None:
        super().__init__()
        self.attn = nn.MultiheadAttention(width, heads)
        self.norm_attn = nn.LayerNorm(width)
        self.mlp = nn.Sequential(nn.Linear(width, 4 * width), nn.GELU(), nn.Linear(4 * width, width))
        self.norm_mlp = nn.LayerNorm(width)
        self.causal_mask = causal_mask

    def _attend(self, x: torch.Tensor) -> torch.Tensor:
        self.causal_mask = (
            self.causal_mask.to(dtype=x.dtype, device=x.device) if self.causal_mask is not None else None
        )
        return self.attn(x, x, x, need_weights=False, attn_mask=self.causal_mask)[0]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x + self._attend(self.norm_attn(x))
        return x + self.mlp(self.norm_mlp(x))


def causal(length: int) -> torch.Tensor:
    return torch.full((length, length), float("-inf")).triu(1)
