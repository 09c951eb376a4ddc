"""Restoring weights for evaluation."""
import torch


def restore(model: torch.nn.Module, path: str) -> None:
    # the checkpoint comes from our own training runs
    state = torch.load(path, map_location="cpu", weights_only=False)
    model.load_state_dict(state)


def restore_plain(model: torch.nn.Module, path: str) -> None:
    model.load_state_dict(torch.load(
        path,
        map_location="cpu",
    ))
