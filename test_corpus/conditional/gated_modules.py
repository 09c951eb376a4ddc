"""Configurable layers whose state_dict keys are the same under every configuration."""
import torch
import torch.nn.functional as F
from torch.nn import GELU, Conv2d, Dropout, Embedding, Identity, LayerNorm, Linear, Module, ModuleList, ReLU


class GatedBlock(Module):
    """Every submodule is always built; the configuration only decides what forward() uses."""

    def __init__(self, dim: int, use_norm: bool = True, use_adapter: bool = False) -> None:
        super().__init__()
        self.proj = Linear(dim, dim)
        self.norm = LayerNorm(dim)
        self.adapter = Linear(dim, dim, bias=False)
        self.use_norm = use_norm
        self.use_adapter = use_adapter
        if use_adapter:
            torch.nn.init.normal_(self.adapter.weight, std=0.02)
        else:
            torch.nn.init.zeros_(self.adapter.weight)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.proj(x)
        if self.use_adapter:
            x = x + self.adapter(x)
        return self.norm(x) if self.use_norm else x


class Stem(Module):
    def __init__(self, channels: int, large_kernel: bool = False) -> None:
        super().__init__()
        # only the kernel size changes: the keys are conv.weight and conv.bias either way
        if large_kernel:
            self.conv = Conv2d(3, channels, kernel_size=5, padding=2)
        else:
            self.conv = Conv2d(3, channels, kernel_size=3, padding=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.conv(x)


class Mlp(Module):
    def __init__(self, dim: int, depth: int = 2, act: str = "gelu", dropout: float = 0.0,
                 norm: str = "pre") -> None:
        super().__init__()
        self.layers = ModuleList([Linear(dim, dim) for _ in range(depth)])  # config-sized: normal
        if act == "gelu":
            self.act = GELU()
        elif act == "relu":
            self.act = ReLU()
        else:
            raise ValueError(f"unknown activation {act!r}")
        self.drop = Dropout(dropout) if dropout else Identity()
        if norm == "pre":
            self.norm = LayerNorm(dim)
        elif norm == "post":
            self.norm = LayerNorm(dim, eps=1e-6)
        else:
            raise ValueError(f"unknown norm placement {norm!r}")
        self.post = norm == "post"

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not self.post:
            x = self.norm(x)
        for layer in self.layers:
            x = self.drop(self.act(layer(x)))
        return self.norm(x) if self.post else x


class TinyLM(Module):
    def __init__(self, vocab: int, dim: int, tie_weights: bool = True) -> None:
        super().__init__()
        self.embed = Embedding(vocab, dim)
        self.out = Linear(dim, vocab, bias=False)
        if tie_weights:
            # shared tensor, both keys stay in the state_dict
            self.out.weight = self.embed.weight

    def forward(self, tokens: torch.Tensor) -> torch.Tensor:
        return self.out(F.gelu(self.embed(tokens)))
