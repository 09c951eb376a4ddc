"""Calibration helpers whose restore half lives in a mixin that was later removed."""
import torch
from torch.nn import Module


class HistogramCalibrator(Module):
    def __init__(self, num_bins=128):
        super(HistogramCalibrator, self).__init__()
        self.num_bins = num_bins
        self.register_buffer("histogram", torch.zeros(num_bins))
        self.amax = None

    def forward(self, x):
        self.histogram += torch.histc(x.detach().float(), bins=self.num_bins)
        return x

    # restores the calibrated range; the code that saved it went away with the old mixin
    def set_extra_state(self, state):
        self.amax = state.get("amax")


class PercentileCalibrator(HistogramCalibrator):
    """Has both halves through its base: not asymmetric."""

    def get_extra_state(self):
        return {"amax": self.amax}

    def _load_from_state_dict(self, state_dict, prefix, *args, **kwargs):
        # checkpoints from before the percentile option carry no extra state
        state_dict.setdefault(prefix + "_extra_state", {"amax": None})
        super()._load_from_state_dict(state_dict, prefix, *args, **kwargs)
