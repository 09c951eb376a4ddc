"""A project base class that keeps declared transient attributes out of every pickle."""
from typing import Tuple

from torch import nn


class TransientAware(nn.Module):
    """Subclasses list their unpicklable attributes and re-create them in `reopen()`."""

    transient: Tuple[str, ...] = ()

    def reopen(self) -> None:
        raise NotImplementedError

    def __getstate__(self):
        state = super().__getstate__()
        for name in self.transient:
            state.pop(name, None)
        return state

    def __setstate__(self, state):
        super().__setstate__(state)
        self.reopen()
