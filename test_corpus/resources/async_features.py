"""Feature extraction that runs a frozen backbone in a background thread, results in a queue."""
import queue
import threading

import torch
from torch.nn import Module, Linear


class BackgroundFeatures(Module):
    """The first call starts the worker; later calls collect what it produced."""

    def __init__(self, dim: int, depth: int = 8) -> None:
        super().__init__()
        self.backbone = Linear(dim, dim)
        self.results = queue.Queue(maxsize=depth)
        self.worker = None

    def start(self, batches) -> None:
        self.worker = threading.Thread(target=self._run, args=(batches,), daemon=True)
        self.worker.start()

    @torch.no_grad()
    def _run(self, batches) -> None:
        for batch in batches:
            self.results.put(self.backbone(batch))
        self.results.put(None)

    def collect(self):
        out = []
        while True:
            item = self.results.get()
            if item is None:
                return out
            out.append(item)
