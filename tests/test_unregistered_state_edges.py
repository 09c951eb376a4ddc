"""SER102 and SER104 on the edges of their heuristics: exact findings, and silence where promised."""

from __future__ import annotations

from typing import Dict, List, Optional, Tuple

import pytest

from support import lint_text


def findings(code: str, rule: str, files: Optional[Dict[str, str]] = None) -> List[Tuple[int, int]]:
    return [(f.line, f.column + 1) for f in lint_text(code, files) if f.code == rule]


SER102_CASES = [
    pytest.param(
        """\
import torch
from torch import nn


class Ema(nn.Module):
    def __init__(self, d):
        super().__init__()
        self.running = torch.zeros(d)

    def forward(self, x):
        self.running = 0.9 * self.running + 0.1 * x.mean(0)
        return x
""",
        [(8, 9)],
        id="unconditional-update-that-reads-itself-is-state",
    ),
    pytest.param(
        """\
import torch
from torch import nn


class Masked(nn.Module):
    def __init__(self, d):
        super().__init__()
        self.mask = torch.ones(d)

    def forward(self, x):
        with torch.no_grad():
            self.mask = torch.rand_like(x) > 0.5
        return x * self.mask
""",
        [],
        id="recomputed-every-forward-is-not-state",
    ),
    pytest.param(
        """\
import torch
from torch import nn


class Lazy(nn.Module):
    def __init__(self):
        super().__init__()
        self.mean = None

    def forward(self, x):
        self.mean = x.mean(0)
        return x - self.mean
""",
        [],
        id="lazy-store-in-forward-without-guard-is-per-call",
    ),
    pytest.param(
        """\
import torch
from torch import nn


class Lazy(nn.Module):
    def __init__(self):
        super().__init__()
        self.mean = None

    def forward(self, x):
        if self.mean is None or self.mean.shape != x.shape[1:]:
            self.mean = x.mean(0)
        return x - self.mean
""",
        [],
        id="shape-checked-recompute-is-a-cache",
    ),
    pytest.param(
        """\
import torch
from torch import nn


class Lazy(nn.Module):
    def __init__(self):
        super().__init__()
        self.mean = None

    def forward(self, x):
        if self.training and self.mean is None:
            self._init_stats(x)
        return x - self.mean

    def _init_stats(self, x):
        self.mean = x.mean(0)

    def fit(self, data):
        self.mean = data.mean(0)
""",
        [(16, 9)],
        id="helper-called-in-a-lazy-init-block",
    ),
    pytest.param(
        """\
import torch
from torch import nn


class Probe(nn.Module):
    def __init__(self):
        super().__init__()
        self.last = None
        self.attn = None
        self.weights = None

    def forward(self, x):
        self._capture(x)
        return self._attend(x)

    def _capture(self, x):
        self.last = x.detach()

    def _attend(self, x):
        if self.weights is None:
            self._init_weights(x)
        self.attn = x.detach()
        return x

    def _init_weights(self, x):
        self.weights = x.mean(0)
""",
        [(26, 9)],
        id="helpers-called-on-every-forward-are-per-call",
    ),
    pytest.param(
        """\
import torch
from torch import nn


class Lazy(nn.Module):
    def __init__(self):
        super().__init__()
        self.reference = None

    def set_reference(self, frames):
        self.reference = torch.stack(frames).mean(0)

    def reset(self):
        self.reference = torch.zeros(3)
""",
        [(11, 9)],
        id="lazy-data-reported-factory-reset-not",
    ),
    pytest.param(
        """\
import torch
from torch import nn


class Custom(nn.Module):
    def __init__(self):
        super().__init__()
        self.table = torch.randn(4, 4)

    def _save_to_state_dict(self, destination, prefix, keep_vars):
        super()._save_to_state_dict(destination, prefix, keep_vars)
        destination[prefix + "table"] = self.table
""",
        [],
        id="class-that-saves-its-own-state",
    ),
    pytest.param(
        """\
import torch
from lightning import LightningModule


class Lit(LightningModule):
    def __init__(self):
        super().__init__()
        self.example_input_array = torch.zeros(2, 8)
        self.class_weights = torch.tensor([1.0, 3.0])
""",
        [(9, 9)],
        id="lightning-example-input-array",
    ),
    pytest.param(
        """\
import torch
from pkg.base import Base


class Child(Base):
    def __init__(self):
        super().__init__()
        self.scale = torch.full((1,), 2.0)
""",
        [],
        id="base-class-in-another-file-is-unknown",
    ),
    pytest.param(
        """\
import torch
import torch.nn as nn


class Kernel(nn.Module):
    def __init__(self, d):
        super().__init__()
        self.k = torch.randn(d, d)
        self.k = nn.Parameter(self.k)
""",
        [],
        id="wrapped-into-a-parameter-later",
    ),
]


@pytest.mark.parametrize("code, expected", SER102_CASES)
def test_ser102_edges(code, expected):
    files = {"pkg/__init__.py": "", "pkg/base.py": "from torch import nn\n\n\nclass Base(nn.Module):\n    pass\n"}
    assert findings(code, "SER102", files) == expected


SER104_CASES = [
    pytest.param(
        """\
import torch
from torch import nn
import torch.nn.functional as F


class Weights(nn.Module):
    def __init__(self, n):
        super().__init__()
        self.ws = [nn.Parameter(torch.randn(4, 4)) for _ in range(n)]

    def forward(self, x):
        for i in range(len(self.ws)):
            x = F.linear(x, self.ws[i])
        return x
""",
        [(9, 9)],
        id="members-read-in-forward-are-still-unregistered",
    ),
    pytest.param(
        """\
from torch import nn


class Aliased(nn.Module):
    def __init__(self):
        super().__init__()
        self.layers = [nn.Linear(2, 2), nn.Linear(2, 2)]
        self.first = self.layers[0]
""",
        [],
        id="member-registered-under-another-name",
    ),
    pytest.param(
        """\
from torch import nn


class Wrapped(nn.Module):
    def __init__(self):
        super().__init__()
        self.layers = [nn.Linear(2, 2)]
        self.layers = nn.ModuleList(self.layers)
""",
        [],
        id="wrapped-into-a-module-list-later",
    ),
    pytest.param(
        """\
from torch import nn


class Local(nn.Module):
    def __init__(self):
        super().__init__()
        layers = [nn.Linear(2, 2)]
        self.trunk = nn.Sequential(*layers)
        self.layers = layers
""",
        [],
        id="local-list-also-handed-to-sequential",
    ),
    pytest.param(
        """\
from torch import nn


class Referenced(nn.Module):
    def __init__(self):
        super().__init__()
        head = nn.Linear(2, 2)
        self.head = head
        self.outputs = [head]
""",
        [],
        id="local-module-registered-directly-too",
    ),
    pytest.param(
        """\
from torch import nn


class Teacher(nn.Module):
    def __init__(self, student: nn.Module, teacher: nn.Module):
        super().__init__()
        self.student = student
        self._teacher = [teacher]
""",
        [],
        id="module-handed-in-and-hidden-on-purpose",
    ),
    pytest.param(
        """\
from torch import nn


class Projections(nn.Module):
    def __init__(self, levels, project):
        super().__init__()
        self.projections = []
        for _ in range(levels):
            if project:
                self.projections.append(nn.Conv2d(8, 8, 1))
            else:
                self.projections.append(nn.Sequential())
""",
        [(7, 9)],
        id="append-in-branches",
    ),
    pytest.param(
        """\
from torch import nn


class Custom(nn.Module):
    def __init__(self):
        super().__init__()
        self.layers = [nn.Linear(2, 2)]

    def state_dict(self, *args, **kwargs):
        return {"layers": [layer.state_dict() for layer in self.layers]}
""",
        [],
        id="class-that-saves-its-own-state",
    ),
]


@pytest.mark.parametrize("code, expected", SER104_CASES)
def test_ser104_edges(code, expected):
    assert findings(code, "SER104") == expected


def test_ser104_names_only_stateful_members():
    code = """\
from torch import nn


class Projections(nn.Module):
    def __init__(self):
        super().__init__()
        self.projections = [nn.Conv2d(8, 8, 1), nn.Sequential(), nn.ReLU(), nn.Conv2d(8, 8, 1)]
"""
    (finding,) = [f for f in lint_text(code) if f.code == "SER104"]
    assert finding.message.startswith('Conv2d modules held in plain list "projections" are not registered')
