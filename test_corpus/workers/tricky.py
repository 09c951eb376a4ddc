"""Code that hands functions to pools and loaders, yet pickles nothing it cannot (or cannot be judged)."""
import functools
import multiprocessing.dummy
from concurrent.futures import ThreadPoolExecutor
from multiprocessing import Process
from multiprocessing.pool import ThreadPool

import torch
import torch.multiprocessing as tmp
from torch.utils.data import DataLoader, TensorDataset


def fetch_sizes(paths):
    # threads share the interpreter: nothing is pickled
    with ThreadPoolExecutor(max_workers=4) as executor:
        sizes = list(executor.map(lambda p: len(p), paths))
    with ThreadPool(2) as pool:
        doubled = pool.map(lambda n: 2 * n, sizes)
    with multiprocessing.dummy.Pool(2) as pool:
        return pool.map(lambda n: n + 1, doubled)


def debug_loaders(features, labels, scale):
    dataset = TensorDataset(features, labels)
    inline = DataLoader(dataset, batch_size=2, num_workers=0, collate_fn=lambda b: [(x * scale, y) for x, y in b])
    workers = 0
    single = DataLoader(dataset, batch_size=2, num_workers=workers, worker_init_fn=lambda i: None)
    default = DataLoader(dataset, batch_size=2, collate_fn=lambda b: len(b))
    return inline, single, default


def forked_loader(features, labels):
    # fork copies the parent process: the lambda is never pickled
    dataset = TensorDataset(features, labels)
    return DataLoader(
        dataset, batch_size=2, num_workers=2, collate_fn=lambda b: len(b), multiprocessing_context="fork"
    )


class PadCollate:
    """A picklable collate function: an instance of a module-level class."""

    def __init__(self, pad_id):
        self.pad_id = pad_id

    def __call__(self, batch):
        return torch.nn.utils.rnn.pad_sequence(batch, batch_first=True, padding_value=self.pad_id)


def scaled(x, factor):
    return x * factor


def picklable_callables(dataset, workers):
    return [
        DataLoader(dataset, num_workers=workers, collate_fn=PadCollate(0)),
        DataLoader(dataset, num_workers=workers, worker_init_fn=functools.partial(scaled, factor=2)),
        DataLoader(dataset, num_workers=workers, collate_fn=torch.stack),
    ]


def run_jobs(executor, jobs):
    # the executor comes from the caller and may well be a thread pool
    return [executor.submit(functools.partial(scaled, factor=2), job) for job in jobs]


class Pool:
    """The project's own in-process pool, not multiprocessing's."""

    def map(self, fn, items):
        return [fn(item) for item in items]


def local_pool(items):
    return Pool().map(lambda item: item * 3, items)


def forked_ranks(nprocs, results):
    def record(rank):
        results.put(rank)

    # start_processes may fork (torch.multiprocessing.spawn may not)
    tmp.start_processes(record, nprocs=nprocs, start_method="fork")


def side_process(path):
    proc = Process(target=scaled, args=(len(path), 2))
    proc.start()
    return proc
