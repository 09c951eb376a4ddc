"""Extra state built from a dataclass: state_dict() works, the default torch.load refuses it."""
from dataclasses import asdict, dataclass

import torch
import torch.nn as nn


@dataclass
class QuantConfig:
    bits: int = 8
    symmetric: bool = True


def _default_config(module, state_dict, prefix, *args):
    state_dict.setdefault(prefix + "_extra_state", QuantConfig())


class ConfiguredObserver(nn.Module):
    """Keeps the dataclass itself in the checkpoint."""

    def __init__(self):
        super().__init__()
        self.config = QuantConfig()
        self.register_load_state_dict_pre_hook(_default_config)

    def get_extra_state(self):
        return self.config

    def set_extra_state(self, state):
        self.config = state


class PlainConfiguredObserver(nn.Module):
    """Keeps a plain dict built from the dataclass: loads with the default torch.load."""

    def __init__(self):
        super().__init__()
        self.config = QuantConfig()
        self.register_load_state_dict_pre_hook(_default_plain_config)

    def get_extra_state(self):
        return asdict(self.config)

    def set_extra_state(self, state):
        self.config = QuantConfig(**state)


def _default_plain_config(module, state_dict, prefix, *args):
    state_dict.setdefault(prefix + "_extra_state", asdict(QuantConfig()))
