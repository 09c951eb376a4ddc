"""A small image-classification project: shared layers, models, a training module, plugins."""

from .layers import *  # noqa: F401,F403 - the public layers are part of the package's API
from .layers import Layer, TrackedModule

__all__ = ["Layer", "TrackedModule", "FeatureNorm"]  # noqa: F405
