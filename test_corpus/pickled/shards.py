"""A dataset reading records from a shard file it keeps open between items."""
import threading

from torch.utils.data import Dataset


class ShardDataset(Dataset):
    def __init__(self, path: str) -> None:
        self.path = path
        self.handle = open(path, "rb")  # kept open: reopening per item is slow
        self.lock = threading.Lock()
        self.offsets = self._index()

    def _index(self):
        offsets, position = [], 0
        for line in self.handle:
            offsets.append(position)
            position += len(line)
        return offsets

    def __len__(self) -> int:
        return len(self.offsets)

    def __getitem__(self, i: int) -> bytes:
        with self.lock:
            self.handle.seek(self.offsets[i])
            return self.handle.readline()


class ReopeningShardDataset(Dataset):
    """Use instead: drop the handle from the pickled state and reopen it in the worker."""

    def __init__(self, path: str) -> None:
        self.path = path
        self.handle = open(path, "rb")

    def __getstate__(self):
        state = self.__dict__.copy()
        state["handle"] = None
        return state

    def __setstate__(self, state):
        self.__dict__.update(state)
        self.handle = open(self.path, "rb")

    def __len__(self) -> int:
        return 1

    def __getitem__(self, i: int) -> bytes:
        self.handle.seek(0)
        return self.handle.readline()


class InProcessDataset(Dataset):
    """Only ever read in the main process (num_workers=0): never pickled."""

    def __init__(self, path: str) -> None:
        self.handle = open(path, "rb")

    def __len__(self) -> int:
        return 1

    def __getitem__(self, i: int) -> bytes:
        return self.handle.readline()
