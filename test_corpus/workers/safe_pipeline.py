"""The same data pipeline with functions every start method can send to worker processes."""
import functools
import random
from collections import Counter
from concurrent.futures import ProcessPoolExecutor
from multiprocessing import Pool

import torch
import torch.multiprocessing as mp
from torch.nn.utils.rnn import pad_sequence
from torch.utils import data


class TokenDataset(data.Dataset):
    def __init__(self, sequences):
        self.sequences = [list(s) for s in sequences]

    def __len__(self):
        return len(self.sequences)

    def __getitem__(self, index):
        return torch.tensor(self.sequences[index], dtype=torch.long)


def pad_collate(batch, pad_id):
    return pad_sequence(batch, batch_first=True, padding_value=pad_id)


def seed_worker(worker_id):
    random.seed(torch.initial_seed() % 2**32 + worker_id)


def build_loader(sequences, num_workers=2, pad_id=0, batch_size=4, multiprocessing_context=None):
    return data.DataLoader(
        TokenDataset(sequences),
        batch_size=batch_size,
        num_workers=num_workers,
        collate_fn=functools.partial(pad_collate, pad_id=pad_id),
        worker_init_fn=seed_worker,
        multiprocessing_context=multiprocessing_context,
    )


def encode(line, vocab, unknown=0):
    return [vocab.get(word, unknown) for word in line.split()]


def encode_corpus(lines, vocab, max_workers=2, mp_context=None):
    with ProcessPoolExecutor(max_workers=max_workers, mp_context=mp_context) as executor:
        futures = [executor.submit(functools.partial(encode, vocab=vocab), line) for line in lines]
        return [future.result(timeout=30) for future in futures]


def word_counts(line):
    return Counter(line.split())


def count_words(lines, processes=2):
    with Pool(processes) as pool:
        return sum(pool.map(word_counts, lines), Counter())


def train_rank(rank, world_size, log_path):
    with open(f"{log_path}.{rank}", "w", encoding="utf-8") as handle:
        handle.write(f"rank {rank} of {world_size}\n")


def launch(world_size, log_path):
    mp.spawn(train_rank, args=(world_size, log_path), nprocs=world_size, join=True)
