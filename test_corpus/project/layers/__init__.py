from .base import *  # noqa: F401,F403
from .norm import FeatureNorm

# older configs name the base class `Layer`
Layer = TrackedModule  # noqa: F405

__all__ = ["TrackedModule", "Layer", "FeatureNorm"]  # noqa: F405
