"""The same workflows written safely: nothing here should be reported."""
import io
import logging
import os
import pickle
import tempfile

import torch
import torch.nn as nn
from torch.nn.modules.utils import consume_prefix_in_state_dict_if_present
from torch.nn.parallel import DistributedDataParallel

log = logging.getLogger(__name__)


class Tagger(nn.Module):
    def __init__(self, vocab=32, dim=8, tags=4):
        super().__init__()
        self.embed = nn.Embedding(vocab, dim)
        self.out = nn.Linear(dim, tags)

    def forward(self, tokens):
        return self.out(self.embed(tokens).mean(1))


def atomic_save(obj, path):
    """Write next to the target, then rename: a crash never leaves half a checkpoint."""
    directory = os.path.dirname(os.path.abspath(path))
    fd, tmp = tempfile.mkstemp(dir=directory, suffix=".tmp")
    os.close(fd)
    torch.save(obj, tmp)  # whatever the caller hands over: not known here
    os.replace(tmp, path)


class SafeTrainer:
    def __init__(self, model, lr=0.01):
        self.model = model
        self.optimizer = torch.optim.Adam(self.model.parameters(), lr=lr)
        self.step = 0

    def save_checkpoint(self, path):
        atomic_save(
            {"model": self.model.state_dict(), "optimizer": self.optimizer.state_dict(), "step": self.step},
            path,
        )

    def resume(self, path, allowed_missing=("out.weight", "out.bias")):
        checkpoint = torch.load(path, map_location="cpu", weights_only=True)
        result = self.model.load_state_dict(checkpoint["model"], strict=False)
        unexpected_missing = [k for k in result.missing_keys if k not in allowed_missing]
        if unexpected_missing or result.unexpected_keys:
            raise RuntimeError(f"checkpoint does not fit the model: {result}")
        self.optimizer.load_state_dict(checkpoint["optimizer"])
        self.step = checkpoint["step"]


def warm_start(model, path):
    incompatible = model.load_state_dict(torch.load(path, weights_only=True), strict=False)
    log.info("warm start from %s: %s", path, incompatible)
    return model


def save_unwrapped(rank, path, use_ddp=True):
    model = Tagger()
    if use_ddp:
        model = DistributedDataParallel(model)
    raw_model = model.module if use_ddp else model
    if rank == 0:
        torch.save(raw_model.state_dict(), path)


def save_from_ddp(model, path):
    ddp = DistributedDataParallel(model)
    torch.save({"model": ddp.module.state_dict()}, path)
    return ddp


def save_compiled(path):
    model = Tagger()
    compiled = torch.compile(model)
    torch.save(compiled._orig_mod.state_dict(), path)
    torch.save(model.state_dict(), path)  # the bare model shares the weights
    return compiled


def save_compiled_in_place(path):
    model = Tagger()
    model.compile()  # in place: the keys stay bare
    torch.save(model.state_dict(), path)
    return model


def save_data_parallel_stripped(path):
    net = nn.DataParallel(Tagger())
    state = net.state_dict()
    consume_prefix_in_state_dict_if_present(state, "module.")
    torch.save(state, path)
    return state


def read_message(payload: bytes):
    # a message from a worker of this same process tree, not a file on disk
    return pickle.loads(payload)


def roundtrip_in_memory(model):
    buffer = io.BytesIO()
    torch.save(model.state_dict(), buffer)
    buffer.seek(0)
    return torch.load(buffer)
