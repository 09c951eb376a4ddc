"""Launch data-parallel training: one process per rank, rendezvous over TCP on localhost."""
import os

import torch
import torch.distributed as dist
import torch.multiprocessing as mp
import torch.nn as nn
from torch.nn.parallel import DistributedDataParallel as DDP


def launch(world_size=2, steps=3, port=29531):
    os.environ.setdefault("MASTER_ADDR", "127.0.0.1")
    os.environ.setdefault("MASTER_PORT", str(port))

    def run(rank):
        dist.init_process_group("gloo", rank=rank, world_size=world_size)
        model = DDP(nn.Linear(4, 2))
        optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
        for _ in range(steps):
            optimizer.zero_grad()
            model(torch.randn(8, 4)).pow(2).mean().backward()
            optimizer.step()
        if rank == 0:
            torch.save(model.module.state_dict(), "ddp_final.pt")
        dist.destroy_process_group()

    mp.spawn(run, nprocs=world_size, join=True)


def start_heartbeat(path, beats=3):
    """Touch `path` a few times from a side process, so a supervisor can tell the job is alive."""

    def beat():
        for _ in range(beats):
            with open(path, "a", encoding="utf-8") as handle:
                handle.write("alive\n")

    monitor = mp.Process(target=beat, daemon=True)
    monitor.start()
    return monitor


if __name__ == "__main__":
    launch(world_size=int(os.environ.get("WORLD_SIZE", "2")))
