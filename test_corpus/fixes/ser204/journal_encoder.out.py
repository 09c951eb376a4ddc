"""A token encoder that journals each batch it sees, plus a feeder that replays stored rows."""
from __future__ import annotations

import queue
import threading
from typing import Iterator, List

import torch
from torch import nn


def _chunks(rows: List[List[int]], size: int) -> Iterator[List[List[int]]]:
    for start in range(0, len(rows), size):
        yield rows[start : start + size]


class JournaledEncoder(nn.Module):
    """Embeds token ids and appends `batch<TAB>tokens` to a journal file per call."""

    def __init__(self, vocab: int, dim: int, journal_path: str, backlog: int = 4) -> None:
        super().__init__()
        self.embed = nn.Embedding(vocab, dim)
        self.journal_path = journal_path
        self.backlog = backlog
        self.journal = open(journal_path, "a", encoding="utf-8")
        self._journal_lock = threading.RLock()
        self.ready = queue.Queue(maxsize=backlog)   # batches prefetched by a loader thread
        self.batches_seen = 0

    def forward(self, ids: torch.Tensor) -> torch.Tensor:
        with self._journal_lock:
            self.batches_seen += 1
            self.journal.write(f"{self.batches_seen}\t{ids.numel()}\n")
            self.journal.flush()
        return self.embed(ids).mean(dim=1)
    # one journal line per forward call, flushed at once

    def __getstate__(self):
        state = super().__getstate__().copy()
        state.pop("journal", None)
        state.pop("_journal_lock", None)
        state.pop("ready", None)
        return state

    def __setstate__(self, state):
        super().__setstate__(state)
        self.journal = open(self.journal_path, "a", encoding="utf-8")
        self._journal_lock = threading.RLock()
        self.ready = queue.Queue(maxsize=self.backlog)  # a new, empty queue: queued items are not pickled


class ReplayFeeder(nn.Module):
    def __init__(self, rows: List[List[int]], size: int) -> None:
        super().__init__()
        self.size = size
        self.pending = _chunks(rows, size)

    def next_batch(self) -> torch.Tensor:
        return torch.tensor(next(self.pending))

    def __getstate__(self):
        state = super().__getstate__().copy()
        state.pop("pending", None)
        return state

    def __setstate__(self, state):
        super().__setstate__(state)
        self.pending = None  # serialint: re-create this generator after loading


class ShardReader(nn.Module):
    def __init__(self, shard_path: str) -> None:
        super().__init__()
        self.shard_path = shard_path
        self.shard = open(shard_path, "rb")

    def __setstate__(self, state):
        super().__setstate__(state)
        self.shard = open(self.shard_path, "rb")
