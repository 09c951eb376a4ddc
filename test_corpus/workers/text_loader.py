"""Batches of token ids for language-model pretraining, read by a configurable number of workers."""
import argparse
import random

import torch
from torch.nn.utils.rnn import pad_sequence
from torch.utils.data import DataLoader, Dataset


class TokenDataset(Dataset):
    """Tokenised sequences of varying length."""

    def __init__(self, sequences):
        self.sequences = [list(s) for s in sequences]

    def __len__(self):
        return len(self.sequences)

    def __getitem__(self, index):
        return torch.tensor(self.sequences[index], dtype=torch.long)


def build_loader(sequences, num_workers=2, pad_id=0, batch_size=4):
    dataset = TokenDataset(sequences)

    def seed_worker(worker_id):
        # each worker gets its own, reproducible Python RNG stream
        random.seed(torch.initial_seed() % 2**32 + worker_id)

    return DataLoader(
        dataset,
        batch_size=batch_size,
        shuffle=False,
        num_workers=num_workers,
        collate_fn=lambda batch: pad_sequence(batch, batch_first=True, padding_value=pad_id),
        worker_init_fn=seed_worker,
    )


def build_eval_loader(sequences, pad_id=0):
    # evaluation stays in the main process: nothing is pickled
    return DataLoader(
        TokenDataset(sequences),
        batch_size=8,
        collate_fn=lambda batch: pad_sequence(batch, batch_first=True, padding_value=pad_id),
    )


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--workers", type=int, default=4)
    parser.add_argument("--pad-id", type=int, default=0)
    args = parser.parse_args()
    sequences = [[random.randrange(1, 100) for _ in range(random.randint(3, 12))] for _ in range(64)]
    loader = build_loader(sequences, num_workers=args.workers, pad_id=args.pad_id)
    for step, batch in enumerate(loader):
        print(step, tuple(batch.shape))


if __name__ == "__main__":
    main()
