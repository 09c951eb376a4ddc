"""Code near resources that pickles fine: nothing here is a hazard."""
import io
import logging
import threading
from threading import Lock

import torch
import torch.nn as nn

logger = logging.getLogger(__name__)


def read_vocab(path):
    with open(path, encoding="utf-8") as handle:
        for line in handle:
            yield line.strip()


class Tokenizer(nn.Module):
    """Reads what it needs from files and keeps only the contents."""

    _registry_lock = threading.Lock()  # class attribute: pickled by reference with the class

    def __init__(self, vocab_path: str) -> None:
        super().__init__()
        self.vocab = list(read_vocab(vocab_path))  # the generator is consumed here
        with open(vocab_path, encoding="utf-8") as f:
            self.header = f.readline()
        self.log = logging.getLogger(f"{__name__}.tokenizer")
        self.root_log = logging.getLogger()
        self.report = io.StringIO()  # in-memory text pickles

    def forward(self, ids: torch.Tensor) -> torch.Tensor:
        lock = Lock()  # local to the call, never stored
        with lock:
            logger.debug("tokens: %d", ids.numel())
        return ids


class Prefetcher:
    """A helper that is not a Module and is never pickled: its lock is fine."""

    def __init__(self, loader):
        self.loader = loader
        self.lock = None
        self.thread = None

    def start(self):
        self.lock = threading.Lock()
        self.thread = threading.Thread(target=self.loader, daemon=True)
        self.thread.start()


class Scorer(nn.Module):
    def __init__(self, dim):
        super().__init__()
        self.fc = nn.Linear(dim, 1)
        self.stats_out = None  # a path, not a file

    def read_calibration(self, path):
        self.source = open(path)  # kept on self while parsing, released before returning
        self.calibration = [float(v) for v in self.source.readline().split()]
        self.source.close()
        self.source = None

    def dump_stats(self, path):
        self.stats_out = path
        with open(path, "w") as out:
            out.write(str(self.fc.weight.norm().item()))
