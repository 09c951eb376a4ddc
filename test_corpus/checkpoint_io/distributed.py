"""Data-parallel and compiled training loops that checkpoint from rank 0."""
import os

import torch
import torch.distributed as dist
import torch.nn as nn
import torch.optim as optim
from torch.nn.parallel import DistributedDataParallel as DDP


class Regressor(nn.Module):
    def __init__(self, width=8):
        super().__init__()
        self.net = nn.Sequential(nn.Linear(width, width), nn.Tanh(), nn.Linear(width, 1))

    def forward(self, x):
        return self.net(x)


def run_ddp(rank, world_size, init_file, batches, out_dir):
    dist.init_process_group("gloo", init_method=f"file://{init_file}", rank=rank, world_size=world_size)
    model = Regressor().to(torch.device("cpu"))
    model = DDP(model)
    optimizer = optim.AdamW(model.parameters(), lr=1e-3)
    for step, (x, y) in enumerate(batches):
        optimizer.zero_grad(set_to_none=True)
        loss = nn.functional.mse_loss(model(x), y)
        loss.backward()
        optimizer.step()
    if rank == 0:
        torch.save(model.state_dict(), os.path.join(out_dir, "ddp_last.pt"))
    dist.destroy_process_group()


def run_data_parallel(batches, out_dir):
    net = nn.DataParallel(Regressor())  # every visible GPU; plain forward on CPU
    opt = optim.SGD(net.parameters(), lr=0.1)
    for x, y in batches:
        opt.zero_grad()
        nn.functional.mse_loss(net(x), y).backward()
        opt.step()
    snapshot = {"net": net.state_dict(), "opt": opt.state_dict()}
    torch.save(snapshot, os.path.join(out_dir, "dp_last.pt"))
    return net


def run_compiled(batches, path, total_steps=100):
    model = Regressor()
    model = torch.compile(model)
    optimizer = optim.AdamW(model.parameters(), lr=3e-4)
    step = 0
    for x, y in batches:
        loss = nn.functional.mse_loss(model(x), y)
        loss.backward()
        optimizer.step()
        optimizer.zero_grad()
        step += 1
        if step == total_steps:
            break
    checkpoint = {}
    checkpoint["model"] = model.state_dict()
    checkpoint["optimizer"] = optimizer.state_dict()
    checkpoint["step"] = step
    torch.save(checkpoint, path)
    return model


def run_compiled_ddp(rank, world_size, init_file, path):
    dist.init_process_group("gloo", init_method=f"file://{init_file}", rank=rank, world_size=world_size)
    model = torch.compile(DDP(Regressor()))
    weights = model.state_dict()
    if rank == 0:
        torch.save({"weights": weights}, path)
    dist.destroy_process_group()
    return model
