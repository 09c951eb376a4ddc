"""The recommended shape: keep resources out of the pickled state and re-create them on load."""
import threading

import torch.nn as nn


class DiagnosticClassifier(nn.Module):
    def __init__(self, in_features: int, classes: int, log_path: str) -> None:
        super().__init__()
        self.head = nn.Linear(in_features, classes)
        self.log_path = log_path
        self._open_transients()

    def _open_transients(self) -> None:
        self.log_file = open(self.log_path, "a", encoding="utf-8")
        self._write_lock = threading.Lock()

    def __getstate__(self):
        # start from Module's own state (it drops the compiled call); pop from the copy only
        state = super().__getstate__()
        state.pop("log_file", None)
        state.pop("_write_lock", None)
        return state

    def __setstate__(self, state):
        super().__setstate__(state)
        self._open_transients()

    def forward(self, x):
        logits = self.head(x)
        with self._write_lock:
            self.log_file.write(f"{x.shape[0]}\n")
        return logits
