"""The buffer pattern that SER101 recommends: None buffer + materialising pre-hook."""
import torch
import torch.nn as nn


def _materialise_mean(module, state_dict, prefix, local_metadata, strict, missing_keys, unexpected_keys, error_msgs):
    key = prefix + "mean"
    if key in state_dict and module.mean is None:
        module.mean = torch.empty_like(state_dict[key])


class RunningStats(nn.Module):
    def __init__(self, dim: int) -> None:
        super().__init__()
        self.dim = dim
        self.register_buffer("mean", None)  # noqa: SER101 - materialised by the pre-hook below
        self.register_load_state_dict_pre_hook(_materialise_mean)

    def calibrate(self, batch: torch.Tensor) -> None:
        self.mean = batch.mean(0)
