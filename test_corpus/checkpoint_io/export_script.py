"""Ship a trained model to the serving team.

    python export_script.py --ckpt runs/best.pt --out exported.pt
"""
import argparse
import pickle as pkl

import torch as T
from torch import nn


class Net(nn.Module):
    def __init__(self, hidden=32):
        super().__init__()
        self.layers = nn.Sequential(nn.Linear(4, hidden), nn.GELU(), nn.Linear(hidden, 2))

    def forward(self, x):
        return self.layers(x)


def export_pickle(ckpt_path, out_path):
    net = Net()
    net.load_state_dict(T.load(ckpt_path, weights_only=True))
    net.eval()
    ready = net
    with open(out_path, "wb") as fh:
        pkl.dump(ready, fh)


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--ckpt", required=True)
    parser.add_argument("--out", required=True)
    parser.add_argument("--compile", action="store_true")
    return parser.parse_args(argv)


if __name__ == "__main__":
    args = parse_args()
    model = Net()
    model.load_state_dict(T.load(args.ckpt, weights_only=True))
    if args.compile:
        model = T.compile(model)
    # wrapped on one path only: the saved keys depend on the flag
    T.save(model.state_dict(), args.out + ".state")
    shipped = Net().eval()
    shipped.load_state_dict(T.load(args.ckpt, weights_only=True))
    T.save({"model": shipped, "args": vars(args)}, args.out)
