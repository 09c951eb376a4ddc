"""A model that hands its evaluation outputs to a scoring process through a shared queue."""
import torch.multiprocessing as mp
import torch.nn as nn


class ScoredModel(nn.Module):
    def __init__(self, dim: int, classes: int):
        super().__init__()
        self.net = nn.Linear(dim, classes)
        self.outbox = mp.Queue()

    def forward(self, x):
        logits = self.net(x)
        if not self.training:
            self.outbox.put(logits.detach().argmax(-1))
        return logits
