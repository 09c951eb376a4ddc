"""Post-training calibration: statistics collected from the first batches, kept on the module."""
from typing import Optional

import torch
from torch import nn


def _serialint_load_compat_ActivationObserver(module, state_dict, prefix, *args):
    if prefix + "lo" in state_dict and module.lo is None:
        module.lo = torch.empty_like(state_dict[prefix + "lo"])
    if prefix + "lo" not in state_dict and module.lo is not None:
        state_dict[prefix + "lo"] = module.lo
    if prefix + "hi" in state_dict and module.hi is None:
        module.hi = torch.empty_like(state_dict[prefix + "hi"])
    if prefix + "hi" not in state_dict and module.hi is not None:
        state_dict[prefix + "hi"] = module.hi


class ActivationObserver(nn.Module):
    """Records the per-channel range of the activations it sees during calibration."""

    def __init__(self, channels: int) -> None:
        super().__init__()
        self.register_load_state_dict_pre_hook(_serialint_load_compat_ActivationObserver)
        self.channels = channels
        self.register_buffer("lo", None)   # filled by observe()
        self.register_buffer("hi", None)

    @torch.no_grad()
    def observe(self, x: torch.Tensor) -> None:
        flat = x.transpose(0, 1).reshape(self.channels, -1)
        self.lo = flat.amin(1)
        self.hi = flat.amax(1)

    def forward(self, x):
        if self.lo is None:
            return x
        return torch.clamp(x, self.lo.view(1, -1, 1, 1), self.hi.view(1, -1, 1, 1))


class Whitener(nn.Module):
    def __init__(self, dim):
        super(Whitener, self).__init__()
        self.dim = dim
        self.center: Optional[torch.Tensor] = None  # annotated: left as written
        self.last = None

    def fit(self, feats):
        self.center = feats.mean(0)
        self.last = feats.detach()  # the caller's tensor: a buffer would be written into it by a load


class PeakTracker(nn.Module):
    """Cleared between epochs: set back to None, a buffer would drop out of state_dict()."""

    def __init__(self):
        super().__init__()
        self.peak = None

    def update(self, x):
        self.peak = x.abs().amax(0)

    def reset(self):
        self.peak = None
