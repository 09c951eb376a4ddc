"""Training entry point: the datasets are defined in shards.py."""
from torch.utils.data import DataLoader

from .shards import InProcessDataset, ReopeningShardDataset, ShardDataset


def loaders(path: str, workers: int):
    train = DataLoader(ShardDataset(path), batch_size=32, num_workers=workers)
    val = DataLoader(ReopeningShardDataset(path), batch_size=32, num_workers=workers)
    debug = DataLoader(InProcessDataset(path), batch_size=1)
    return train, val, debug
