"""Evaluation for a project that still supports torch 2.1: torch.load defaulted to full unpickling before 2.6."""
import torch


def load_weights(model: torch.nn.Module, path: str) -> None:
    state = torch.load(path, map_location="cpu")
    model.load_state_dict(state)


def load_weights_safely(model: torch.nn.Module, path: str) -> None:
    state = torch.load(path, map_location="cpu", weights_only=True)
    model.load_state_dict(state)
