"""Tensors a Module keeps the right way, and tensors that are not state at all."""
import torch
import torch.nn as nn
from torch.nn import Module, Parameter


class RandomFourierFeatures(Module):
    """The buffer form of random features: saved, loaded and converted with the module."""

    def __init__(self, in_features: int, num_features: int) -> None:
        super().__init__()
        self.register_buffer("projection", torch.randn(in_features, num_features))
        self.register_buffer("phase", torch.rand(num_features) * 6.283185307179586)

    def forward(self, x):
        return torch.cos(x @ self.projection + self.phase)


class ScaledLinear(nn.Linear):
    def __init__(self, d_in, d_out):
        super().__init__(d_in, d_out)
        self.gain = Parameter(torch.ones(d_out))
        self.offset = nn.Buffer(torch.zeros(d_out))
        # assigning a tensor to a registered buffer updates the buffer
        self.register_buffer("calls", torch.zeros((), dtype=torch.long))
        self.calls = torch.zeros((), dtype=torch.long)
        self.temperature = torch.tensor(0.07)
        self.device_hint = torch.device("cpu")

    def forward(self, x):
        return super().forward(x) * self.gain + self.offset


class FeatureProbe(nn.Module):
    """Captures activations of a backbone layer for inspection: per-call values, not state."""

    def __init__(self, backbone: nn.Module, layer: nn.Module) -> None:
        super().__init__()
        self.backbone = backbone
        self.features = None
        self.attention = None
        layer.register_forward_hook(self._capture)

    def _capture(self, module, inputs, output):
        self.features = output.detach()

    def forward(self, x):
        out = self.backbone(x)
        self.attention = torch.softmax(out, dim=-1)
        return out


class Smoother(nn.Module):
    def __init__(self, width: int):
        super().__init__()
        kernel = torch.ones(width) / width  # a local, then handed to a buffer
        self.register_buffer("kernel", kernel)
        self.width = width

    def forward(self, x):
        padded = torch.nn.functional.pad(x, (self.width // 2, self.width // 2))
        return padded.unfold(-1, self.width, 1) @ self.kernel


class History:
    """Not a Module: nothing here goes through state_dict()."""

    def __init__(self, size):
        self.values = torch.zeros(size)
        self.count = 0
