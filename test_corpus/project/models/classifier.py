import torch
from torch import nn

from ..layers import base as layer_base
from .backbone import Backbone


class Classifier(Backbone):
    """Backbone plus a linear head; the softmax temperature is fitted after training."""

    class Head(layer_base.TrackedModule):
        def __init__(self, width: int, classes: int) -> None:
            super().__init__()
            self.fc = nn.Linear(width, classes)
            # reserved for a bias correction that is never fitted: harmless, stays out of state_dict
            self.register_buffer("bias_correction", None)

        def forward(self, x):
            return self.fc(x)

    def __init__(self, in_features: int, classes: int, width: int = 32) -> None:
        super().__init__(in_features, width)
        self.head = Classifier.Head(width, classes)
        self.register_buffer("temperature", None)

    def fit_temperature(self, logits: torch.Tensor) -> None:
        self.temperature = logits.std().reshape(1)

    def forward(self, x):
        logits = self.head(super().forward(x))
        return logits if self.temperature is None else logits / self.temperature
