"""A plugin registry for experiment bookkeeping.

`Module` here is a named plugin with named buffers of plain values; it has nothing to do with
torch.nn.Module and is never saved with a checkpoint.
"""
from typing import Any, Dict, Optional


class Module:
    def __init__(self, name: str) -> None:
        self.name = name
        self._buffers: Dict[str, Optional[Any]] = {}

    def register_buffer(self, name: str, value: Optional[Any]) -> None:
        self._buffers[name] = value

    def __getattr__(self, name: str) -> Any:
        buffers = self.__dict__.get("_buffers", {})
        if name in buffers:
            return buffers[name]
        raise AttributeError(name)

    def __setattr__(self, name: str, value: Any) -> None:
        if name in self.__dict__.get("_buffers", {}):
            self._buffers[name] = value
        else:
            object.__setattr__(self, name, value)
