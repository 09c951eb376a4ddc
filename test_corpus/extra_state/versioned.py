"""Blocks that carry a format version in extra state and upgrade older checkpoints on load."""
import torch
from torch import nn as tnn

CURRENT_VERSION = 3


class VersionedModule(tnn.Module):
    """Base for blocks whose checkpoint layout changes between releases."""

    def __init__(self):
        super().__init__()
        self.format_version = CURRENT_VERSION
        # private form of the pre-hook: (state_dict, prefix, ...) without the module
        self._register_load_state_dict_pre_hook(self._upgrade, with_module=False)

    def _upgrade(self, state_dict, prefix, local_metadata, strict, missing_keys, unexpected_keys, error_msgs):
        state = state_dict.setdefault(prefix + "_extra_state", {"format_version": 1})
        if state["format_version"] < 2 and prefix + "scale" in state_dict:
            state_dict[prefix + "gain"] = state_dict.pop(prefix + "scale")

    def get_extra_state(self):
        return {"format_version": self.format_version}

    def set_extra_state(self, state):
        self.format_version = state["format_version"]


class GatedResidual(VersionedModule):
    def __init__(self, dim):
        super().__init__()
        self.proj = tnn.Linear(dim, dim)
        self.gain = tnn.Parameter(torch.ones(dim))

    def forward(self, x):
        return x + self.gain * torch.sigmoid(self.proj(x))


class TaggedNorm(tnn.LayerNorm):
    """Overrides both halves and upgrades through _load_from_state_dict."""

    def get_extra_state(self):
        return {"tag": "ln"}

    def set_extra_state(self, state):
        self.tag = state["tag"]

    def _load_from_state_dict(self, state_dict, prefix, local_metadata, strict, missing_keys, unexpected_keys, error_msgs):
        state_dict.setdefault(prefix + "_extra_state", {"tag": "ln"})
        super()._load_from_state_dict(
            state_dict, prefix, local_metadata, strict, missing_keys, unexpected_keys, error_msgs
        )


class Registry:
    """Not a Module: get_extra_state here is an unrelated API."""

    def get_extra_state(self):
        return {}
