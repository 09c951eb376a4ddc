import torch
from torch import nn

from .base import TrackedModule

try:  # fused kernels when apex is installed
    from apex.normalization import FusedRMSNorm as RMSNorm
except ImportError:

    class RMSNorm(nn.Module):
        def __init__(self, dim: int, eps: float = 1e-6) -> None:
            super().__init__()
            self.eps = eps
            self.weight = nn.Parameter(torch.ones(dim))

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + self.eps) * self.weight


class FeatureNorm(TrackedModule):
    """Scales features by the largest magnitude of the first batch."""

    def __init__(self) -> None:
        super().__init__()
        self.register_buffer("scale", None)  # known once the first batch arrives

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.scale is None:
            self.scale = x.abs().amax(0).clamp_min(1e-6)
        return self.track(x) / self.scale


class ScaledRMSNorm(RMSNorm):
    """RMSNorm with an output gain calibrated once on held-out data."""

    def __init__(self, dim: int) -> None:
        super().__init__(dim)
        self.register_buffer("gain", None)

    @torch.no_grad()
    def calibrate(self, x: torch.Tensor) -> None:
        self.gain = 1.0 / super().forward(x).std()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = super().forward(x)
        return y if self.gain is None else y * self.gain
