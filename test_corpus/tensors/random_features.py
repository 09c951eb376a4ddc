"""Models that keep tensors in plain attributes set up in __init__."""
import math

import torch
import torch.nn as nn

IMAGENET_MEAN = [0.485, 0.456, 0.406]
IMAGENET_STD = [0.229, 0.224, 0.225]


class RandomFourierFeatures(nn.Module):
    """Random features for a Gaussian kernel: the projection is drawn once, at construction."""

    def __init__(self, in_features: int, num_features: int, sigma: float = 1.0) -> None:
        super().__init__()
        self.num_features = num_features
        self.projection = torch.randn(in_features, num_features) / sigma
        self.phase = torch.rand(num_features) * 2 * math.pi

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return math.sqrt(2.0 / self.num_features) * torch.cos(x @ self.projection + self.phase)


class RunningNorm(nn.Module):
    """Running statistics kept as plain tensors instead of buffers."""

    def __init__(self, features: int, momentum: float = 0.1, eps: float = 1e-5) -> None:
        super().__init__()
        self.momentum = momentum
        self.eps = eps
        self.running_mean = torch.zeros(features)
        self.running_var = torch.ones(features)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.training:
            with torch.no_grad():
                self.running_mean = (1 - self.momentum) * self.running_mean + self.momentum * x.mean(0)
                self.running_var = (1 - self.momentum) * self.running_var + self.momentum * x.var(0)
        return (x - self.running_mean) / torch.sqrt(self.running_var + self.eps)


class Preprocess(nn.Module):
    def __init__(self):
        super(Preprocess, self).__init__()
        # shaped for NCHW images
        self.mean = torch.tensor(IMAGENET_MEAN).view(1, 3, 1, 1)
        self.std = torch.tensor(
            IMAGENET_STD
        ).view(1, 3, 1, 1)

    def forward(self, images):
        return (images - self.mean) / self.std


class SinusoidalPositions(nn.Module):
    def __init__(self, d_model: int, max_len: int = 512) -> None:
        super().__init__()
        position = torch.arange(max_len).unsqueeze(1)
        div_term = torch.exp(torch.arange(0, d_model, 2) * (-math.log(10000.0) / d_model))
        pe = torch.zeros(max_len, d_model)
        pe[:, 0::2] = torch.sin(position * div_term)
        pe[:, 1::2] = torch.cos(position * div_term)
        self._build_table(pe)

    def _build_table(self, pe):
        self.table = pe.unsqueeze(0).clone()

    def forward(self, x):
        return x + self.table[:, : x.size(1)]
