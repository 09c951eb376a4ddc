"""Linear-probe training that watches encoder activations through hooks."""
import argparse
import functools

import torch
import torch.nn as nn
import torch.nn.functional as F


class Encoder(nn.Module):
    def __init__(self, dim=8, hidden=16):
        super().__init__()
        self.proj = nn.Linear(dim, hidden)
        self.norm = nn.LayerNorm(hidden)

    def forward(self, x):
        return self.norm(F.gelu(self.proj(x)))


class Probe(nn.Module):
    def __init__(self, dim=8, hidden=16, classes=3):
        super().__init__()
        self.encoder = Encoder(dim, hidden)
        self.head = nn.Linear(hidden, classes)

    def forward(self, x):
        return self.head(self.encoder(x).detach())

# keeps logits in a range the probe's loss can handle early on
clip_logits = lambda module, inputs, output: output.clamp(-10.0, 10.0)  # noqa: E731


def activation_norms(store, name):
    """Factory: the closure remembers where to write."""

    def record(module, inputs, output):
        store.setdefault(name, []).append(output.norm().item())

    return record


def build_probe(stats, grad_log):
    model = Probe().to("cpu")
    model.encoder.register_forward_hook(activation_norms(stats, "encoder"))
    model.encoder.proj.register_full_backward_hook(
        lambda module, grad_input, grad_output: grad_log.append(grad_output[0].norm().item())
    )
    scale = functools.partial(lambda factor, module, inputs: (inputs[0] * factor,), 0.5)
    model.head.register_forward_pre_hook(scale)
    model.head.register_forward_hook(clip_logits)
    return model


def train(steps=3, seed=0):
    torch.manual_seed(seed)
    stats, grad_log = {}, []
    model = build_probe(stats, grad_log)
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
    for _ in range(steps):
        x, y = torch.randn(4, 8), torch.randint(0, 3, (4,))
        loss = F.cross_entropy(model(x), y)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    return model, stats, grad_log


def main(argv=None):
    parser = argparse.ArgumentParser()
    parser.add_argument("--steps", type=int, default=3)
    parser.add_argument("--out", default="probe.pt")
    args = parser.parse_args(argv)
    model, stats, _ = train(args.steps)
    print(f"mean encoder activation norm: {sum(stats['encoder']) / len(stats['encoder']):.3f}")
    torch.save(model.state_dict(), args.out)


if __name__ == "__main__":
    main()
