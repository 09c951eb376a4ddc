"""Version fallbacks and fine-tuning variants that keep the checkpoint keys stable."""
import torch
import torch.nn as tnn

from .classifier_heads import SmallNet


class Norm(tnn.Module):
    def __init__(self, dim: int) -> None:
        super().__init__()
        try:
            from torch.nn import RMSNorm  # torch >= 2.4
            self.inner = RMSNorm(dim)
        except ImportError:
            # a bias-free LayerNorm has the same single "weight" key
            self.inner = tnn.LayerNorm(dim, bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.inner(x)


def make_mixer(dim: int, kind: str) -> tnn.Module:
    if kind == "conv":
        return tnn.Conv1d(dim, dim, 3, padding=1, groups=dim)
    return tnn.Linear(dim, dim)


class Mixer(tnn.Module):
    def __init__(self, dim: int, kind: str = "linear", dropout: float = 0.0, causal: bool = False,
                 max_len: int = 64) -> None:
        super().__init__()
        if kind == "linear":
            self.mix = make_mixer(dim, kind)
        else:
            self.mix = make_mixer(dim, "conv")
        self.post = (
            tnn.Sequential(tnn.GELU(), tnn.Dropout(dropout))
            if dropout
            else tnn.Identity()
        )
        if causal:
            mask = torch.ones(max_len, max_len).tril().bool()
            self.register_buffer("mask", mask, persistent=False)  # rebuilt from max_len, never saved

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if isinstance(self.mix, tnn.Conv1d):
            return self.post(self.mix(x.transpose(1, 2)).transpose(1, 2))
        return self.post(self.mix(x))


class FineTuned(SmallNet):
    """Starts from a pretrained SmallNet; may re-initialise the classifier for a new run."""

    def __init__(self, num_classes: int = 10, reset_head: bool = False) -> None:
        super().__init__(num_classes=num_classes)
        if reset_head:
            # replaces the base class's head with one of the same shape: the keys do not change
            self.head = tnn.Linear(self.num_features, num_classes)
