"""serialint: find PyTorch serialization and checkpoint hazards before they cost a training run."""

__version__ = "0.1.0"
