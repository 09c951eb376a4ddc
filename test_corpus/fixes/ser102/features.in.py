"""Fixed random projections and input normalisation kept in plain attributes."""
import math

import torch as th
import torch.nn as nn

IMAGENET_MEAN = [0.485, 0.456, 0.406]


class RandomFourierFeatures(nn.Module):
    """Random features for a Gaussian kernel, drawn once at construction."""

    def __init__(self, in_features: int, num_features: int, sigma: float = 1.0) -> None:
        super().__init__()
        self.num_features = num_features
        self.projection = th.randn(in_features, num_features) / sigma
        self.phase = th.rand(num_features) * 2 * math.pi  # uniform in [0, 2*pi)

    def forward(self, x: th.Tensor) -> th.Tensor:
        return math.sqrt(2.0 / self.num_features) * th.cos(x @ self.projection + self.phase)


class Normalize(nn.Module):
    def __init__(self):
        super(Normalize, self).__init__()
        # shaped for NCHW images
        self.mean = th.tensor(IMAGENET_MEAN).view(1, 3, 1, 1)

    def forward(self, images):
        return images - self.mean


class Gate(nn.Module):
    """Drops the mask on reset: set to None, a buffer would vanish from state_dict()."""

    def __init__(self, width: int) -> None:
        super().__init__()
        self.mask = th.ones(width)

    def reset(self) -> None:
        self.mask = None

    def forward(self, x: th.Tensor) -> th.Tensor:
        return x if self.mask is None else x * self.mask


class Tied(nn.Module):
    """Shares the caller's embedding table: as a buffer, loading would overwrite the caller's."""

    def __init__(self, table: th.Tensor) -> None:
        super().__init__()
        self.table = table.detach()

    def forward(self, ids: th.Tensor) -> th.Tensor:
        return self.table[ids]
