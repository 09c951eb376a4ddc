"""Code that is safe, or whose stored value cannot be known statically: all of it stays clean."""
import functools

import torch
import torch.nn as nn
import torch.nn.functional as F

GELU = F.gelu  # a module-level name bound to a torch function


def _identity(x):
    return x


def pick_act(name):
    # every path returns something that pickles by name
    if name == "relu":
        return torch.relu
    return functools.partial(F.leaky_relu, negative_slope=0.2) if name == "leaky" else _identity


class Callbacks:
    """Not a Module and never pickled: lambdas here are fine."""

    def __init__(self):
        self.on_step = lambda step: None
        self.handlers = {"end": lambda: None}


class Activation(nn.Module):
    def __init__(self, name, custom=None):
        super().__init__()
        fn = lambda x: x  # noqa: E731 - replaced below for every supported name
        if name == "relu":
            fn = torch.relu
        elif name == "gelu":
            fn = GELU
        else:
            raise ValueError(name)
        self.fn = fn
        self.custom = custom  # whatever the caller passes
        self.picked = pick_act(name)

    def forward(self, x):
        return self.fn(x)


class Stateful(nn.Module):
    """Keeps a closure, but leaves it out of the pickle and rebuilds it on load."""

    def __init__(self, scale):
        super().__init__()
        self.scale = scale
        self._build()

    def _build(self):
        self.rescale = lambda x: x * self.scale

    def __getstate__(self):
        state = super().__getstate__().copy()
        state.pop("rescale", None)
        return state

    def __setstate__(self, state):
        super().__setstate__(state)
        self._build()

    def forward(self, x):
        return self.rescale(x)


class Initialised(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(4, 4)

        def init_weights(m):
            if isinstance(m, nn.Linear):
                nn.init.zeros_(m.bias)

        self.apply(init_weights)  # called, not stored
        self.order = sorted(["b", "a"], key=lambda s: s)
