"""Hook registrations that look like SER205 but are fine, or cannot be judged."""
import contextlib

import torch
import torch.nn as nn
from torch.nn.modules.module import register_module_forward_hook


def _identity(module, inputs, output):
    return output


def choose_hook(kind):
    # returns a module-level function, not a closure
    return _identity


_LISTENERS = []


class EventBus:
    """Not a Module: its register_forward_hook is its own API, and keeps listeners process-wide."""

    def register_forward_hook(self, hook):
        _LISTENERS.append(hook)


class Gated(nn.Module):
    def __init__(self):
        super().__init__()
        self.linear = nn.Linear(4, 4)
        self.events = EventBus()
        self.events.register_forward_hook(lambda m, i, o: None)  # the bus's own API, not torch's
        self.register_forward_hook(choose_hook("identity"))
        # gradient clipping through tensor hooks: not kept when pickling
        for p in self.parameters():
            p.register_hook(lambda grad: grad.clamp(-1.0, 1.0))

    def forward(self, x):
        return self.linear(x)


class Monitor:
    def __init__(self, model):
        self.model = model
        self.bus = EventBus()
        self.bus.register_forward_hook(lambda m, i, o: None)
        # `model` comes from the caller: its type is unknown here
        self.model.register_forward_hook(lambda m, i, o: None)


def attach_logger(model, log):
    model.register_forward_hook(lambda m, i, o: log.append(o.shape))


@contextlib.contextmanager
def recording(model):
    outputs = []
    handle = model.register_forward_hook(lambda m, i, o: outputs.append(o))
    try:
        yield outputs
    finally:
        handle.remove()


def peek(x):
    net = nn.Sequential(nn.Linear(4, 4), nn.Tanh())
    seen = []
    with net[0].register_forward_hook(lambda m, i, o: seen.append(o)):
        net(x)
    handles = [m.register_forward_hook(lambda m, i, o: seen.append(o)) for m in net.modules()]
    net(x)
    for h in handles:
        h.remove()
    return seen


# global hooks live in torch, not on any model
_global_handle = register_module_forward_hook(lambda m, i, o: None)
_global_handle.remove()
