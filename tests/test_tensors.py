"""serialint.tensors: what an expression is (tensor, Module, Parameter) and what a class registers."""

from __future__ import annotations

from typing import Dict, Iterator, List, Optional

import libcst as cst
import pytest

from serialint.engine import Linter, lint_source
from serialint.model import ClassModel, FileContext
from serialint.rule import Report, Rule
from serialint.tensors import (
    Construction,
    Scope,
    TensorInfo,
    class_registrations,
    construction,
    hierarchy_registrations,
    is_tensor,
    looks_like_cache,
    name_words,
    tensor_info,
    walk,
)


class _Capture(Rule):
    """Keeps the FileContext the engine builds, so the tests query the real thing."""

    code = "SER999"
    name = "capture-context"
    summary = "test only"
    contexts: List[FileContext] = []

    def check(self, ctx: FileContext) -> Iterator[Report]:
        _Capture.contexts.append(ctx)
        return iter(())


def context(text: str, files: Optional[Dict[str, str]] = None, path: str = "pkg/mod.py") -> FileContext:
    _Capture.contexts.clear()
    files = {"pkg/__init__.py": "", **(files or {})}
    result = lint_source(text, path=path, extra_files=files, linter=Linter([_Capture]))
    assert not result.errors
    (ctx,) = [c for c in _Capture.contexts if c.path == path]
    return ctx


def class_named(ctx: FileContext, name: str) -> ClassModel:
    (cls,) = [c for c in ctx.classes if c.name == name]
    return cls


HEADER = """\
import copy
import numpy as np
import torch
import torch as th
from torch import nn, tensor


class Block(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(2, 2)


class Swish(nn.Module):
    def forward(self, x):
        return x * torch.sigmoid(x)


class M(nn.Module):
    def __init__(self, x, y: torch.Tensor, n: int, cfg, arr: np.ndarray, weights=(1.0, 2.0), w=None):
"""


def stored(body: str, files: Optional[Dict[str, str]] = None):
    """The value stored on `self.v` by `body` (lines of M.__init__), and its scope."""
    text = HEADER + "".join(f"        {line}\n" for line in body.splitlines())
    ctx = context(text, files)
    cls = class_named(ctx, "M")
    (store,) = cls.stores_of("v")
    return store.value, Scope(ctx, store.method)


@pytest.mark.parametrize(
    "body, expected",
    [
        ("self.v = torch.zeros(3)", TensorInfo()),
        ("self.v = th.randn(2, 2).float().cuda()", TensorInfo()),
        ("self.v = tensor([1, 2])", TensorInfo()),
        ("self.v = torch.tensor(0.5)", TensorInfo(scalar_constant=True)),
        ("self.v = torch.ones(()) * np.log(10)", TensorInfo(scalar_constant=True)),
        ("self.v = torch.tensor(weights)", TensorInfo(from_argument=True)),
        ("self.v = torch.tensor(n)", TensorInfo(from_argument=True, scalar_constant=True)),
        ("self.v = torch.as_tensor([0.5, 0.5]).view(1, 2)", TensorInfo()),
        ("self.v = x.mean(0)", TensorInfo(from_argument=True)),
        ("self.v = x.detach()", TensorInfo(from_argument=True)),
        ("self.v = x[0].float().abs().amax(dim=0)", TensorInfo(from_argument=True)),
        ("self.v = x.std(0) + 1e-6", TensorInfo(from_argument=True)),
        ("self.v = y", TensorInfo(from_argument=True)),
        ("self.v = y.clone()", TensorInfo(from_argument=True)),
        ("self.v = torch.cat([x, x])", TensorInfo(from_argument=True)),
        ("self.v = torch.zeros_like(x)", TensorInfo()),
        ("self.v = x.new_zeros(3)", TensorInfo()),
        ("self.v = 2 * torch.ones(3)", TensorInfo()),
        ("self.v = -torch.ones(3)", TensorInfo()),
        ("self.v = torch.ones(3)[0]", TensorInfo()),
        ("self.v = torch.ones(3, 3).T", TensorInfo()),
        ("self.v = nn.init.normal_(torch.empty(3))", TensorInfo()),
        ("self.v = torch.zeros(3).type(torch.float64)", TensorInfo()),
        ("pe = torch.zeros(3)\npe = pe.unsqueeze(0)\nself.v = pe", TensorInfo()),
    ],
)
def test_certain_tensors(body, expected):
    value, scope = stored(body)
    assert tensor_info(value, scope) == expected
    assert is_tensor(value, scope)


@pytest.mark.parametrize(
    "body",
    [
        "self.v = x",  # an argument of unknown type
        "self.v = n",
        "self.v = x.float()",  # Modules have .float() and .to() too
        "self.v = x.to('cpu')",
        "self.v = cfg.clone()",  # configuration objects have clone()
        "self.v = arr.mean(0)",  # annotated as something else than a tensor
        "self.v = torch.load('weights.pt')",
        "self.v = torch.device('cpu')",
        "self.v = torch.Size([3])",
        "self.v = torch.zeros(3).tolist()",
        "self.v = torch.zeros(3).max(0)",  # a (values, indices) pair
        "self.v = torch.zeros(3).type()",  # the type's name
        "self.v = torch.zeros(3).shape",
        "self.v = np.zeros(3)",
        "self.v = nn.Parameter(torch.zeros(3))",
        "self.v = ones(3)",  # not imported from torch
        "self.v = make_table()",
        "t = make_table()\nt = t.unsqueeze(0)\nself.v = t",
        "t = torch.zeros(3)\nt += 1\nself.v = t",  # augmented: unknown
        "x = x.float()\nself.v = x",  # a rebound argument
        "self.v = not torch.zeros(1)",
    ],
)
def test_not_certainly_tensors(body):
    value, scope = stored(body)
    assert tensor_info(value, scope) is None
    assert not is_tensor(value, scope)


def test_module_level_list_constant_is_not_a_scalar():
    ctx = context(
        "import torch\nfrom torch import nn\nMEAN = [0.5, 0.5]\nSCALE = 2.0\n\n\n"
        "class M(nn.Module):\n"
        "    def __init__(self):\n"
        "        super().__init__()\n"
        "        self.a = torch.tensor(MEAN)\n"
        "        self.b = torch.tensor(SCALE)\n"
    )
    cls = class_named(ctx, "M")
    (a,) = cls.stores_of("a")
    (b,) = cls.stores_of("b")
    assert tensor_info(a.value, Scope(ctx, a.method)) == TensorInfo()
    assert tensor_info(b.value, Scope(ctx, b.method)) == TensorInfo(scalar_constant=True)


@pytest.mark.parametrize(
    "body, expected",
    [
        ("self.v = nn.Linear(2, 2)", Construction("module", "Linear")),
        ("self.v = torch.nn.modules.conv.Conv2d(1, 1, 3)", Construction("module", "Conv2d")),
        ("self.v = nn.Linear(2, 2).to('cpu').eval()", Construction("module", "Linear")),
        ("self.v = nn.ReLU()", Construction("module", "ReLU", stateless=True)),
        ("self.v = nn.CrossEntropyLoss(weight=w)", Construction("module", "CrossEntropyLoss", stateless=True)),
        ("self.v = nn.Parameter(torch.zeros(3))", Construction("parameter", "Parameter")),
        ("self.v = torch.nn.parameter.Parameter(y)", Construction("parameter", "Parameter")),
        ("self.v = nn.Buffer(torch.zeros(3))", Construction("buffer", "Buffer")),
        ("self.v = nn.Sequential()", Construction("module", "Sequential", stateless=True)),
        ("self.v = nn.Sequential(nn.Linear(2, 2))", Construction("module", "Sequential")),
        ("self.v = Block()", Construction("module", "Block")),
        ("self.v = Swish()", Construction("module", "Swish", stateless=True)),
        ("self.v = copy.deepcopy(Block())", Construction("module", "Block")),
        ("layer = nn.Linear(2, 2)\nself.v = layer", Construction("module", "Linear")),
    ],
)
def test_constructions(body, expected):
    value, scope = stored(body)
    assert construction(value, scope) == expected


@pytest.mark.parametrize(
    "body",
    [
        "self.v = x",  # handed in: built elsewhere
        "self.v = copy.deepcopy(cfg)",
        "self.v = make_layer()",
        "self.v = nn.functional.relu(y)",
        "self.v = torch.zeros(3)",
        "self.v = [nn.Linear(2, 2)]",  # a container, not a construction
        "layer = nn.Linear(2, 2)\nlayer = nn.Linear(3, 3)\nself.v = layer",  # bound twice
    ],
)
def test_not_constructions(body):
    value, scope = stored(body)
    assert construction(value, scope) is None


def test_project_module_from_another_file_is_a_construction():
    files = {"pkg/blocks.py": "from torch import nn\n\n\nclass Remote(nn.Module):\n    pass\n"}
    value, scope = stored("from pkg.blocks import Remote\nself.v = Remote()", files)
    assert construction(value, scope) == Construction("module", "Remote")


def test_class_that_only_shares_a_name_with_torch_module_is_not_a_construction():
    ctx = context(
        "from mylib import Linear\nfrom torch import nn\n\n\n"
        "class M(nn.Module):\n"
        "    def __init__(self):\n"
        "        super().__init__()\n"
        "        self.v = Linear(2, 2)\n"
    )
    (store,) = class_named(ctx, "M").stores_of("v")
    assert construction(store.value, Scope(ctx, store.method)) is None


REGISTERING = """\
import torch
from torch import nn


class Base(nn.Module):
    def __init__(self):
        super().__init__()
        self.register_buffer("base_buf", torch.zeros(1))


class M(Base):
    def __init__(self):
        super().__init__()
        self.register_buffer("a", torch.zeros(1))
        self.register_parameter(name="b", param=nn.Parameter(torch.zeros(1)))
        self.c = nn.Parameter(torch.zeros(1))
        self.d = nn.Buffer(torch.zeros(1))
        w = nn.Parameter(torch.zeros(1))
        self.e = w
        self.add_module("head", nn.Linear(2, 2))
        self.plain = torch.zeros(1)


class Dynamic(nn.Module):
    def __init__(self, names):
        super().__init__()
        for name in names:
            self.register_buffer(name, torch.zeros(1))


class DynamicModules(nn.Module):
    def __init__(self, n):
        super().__init__()
        for i in range(n):
            self.add_module(f"layer{i}", nn.Linear(2, 2))


class DynamicSetattr(nn.Module):
    def __init__(self, names):
        super().__init__()
        for name in names:
            setattr(self, name, nn.Parameter(torch.zeros(1)))


class Masked(nn.Linear):
    def __init__(self):
        super().__init__(2, 2)


class Stack(nn.ModuleList):
    pass
"""


def test_class_registrations_by_name():
    ctx = context(REGISTERING)
    registrations = class_registrations(ctx, class_named(ctx, "M"))
    assert registrations.tensor_names == {"a", "b", "c", "d", "e"}
    assert not registrations.dynamic_tensors and not registrations.dynamic_members


@pytest.mark.parametrize(
    "name, dynamic_tensors, dynamic_members",
    [("Dynamic", True, True), ("DynamicModules", False, True), ("DynamicSetattr", True, True)],
)
def test_dynamic_registrations(name, dynamic_tensors, dynamic_members):
    ctx = context(REGISTERING)
    registrations = class_registrations(ctx, class_named(ctx, name))
    assert (registrations.dynamic_tensors, registrations.dynamic_members) == (dynamic_tensors, dynamic_members)


def test_hierarchy_reads_base_classes_of_the_same_file():
    ctx = context(REGISTERING)
    hierarchy = hierarchy_registrations(ctx, class_named(ctx, "M"))
    assert hierarchy is not None
    assert hierarchy.registers_tensor("base_buf") and hierarchy.registers_tensor("a")
    assert not hierarchy.registers_tensor("plain") and not hierarchy.registers_tensor("weight")


def test_hierarchy_of_torch_layer_subclass_knows_torch_names():
    ctx = context(REGISTERING)
    masked = hierarchy_registrations(ctx, class_named(ctx, "Masked"))
    assert masked is not None and masked.torch_base
    assert masked.registers_tensor("weight") and masked.registers_tensor("weight_ih_l0")
    assert not masked.registers_tensor("mask")
    stack = hierarchy_registrations(ctx, class_named(ctx, "Stack"))
    assert stack is not None and not stack.torch_base


def test_hierarchy_with_a_base_in_another_file_is_unknown():
    files = {"pkg/base.py": "from torch import nn\n\n\nclass Base(nn.Module):\n    pass\n"}
    ctx = context("from pkg.base import Base\n\n\nclass M(Base):\n    pass\n", files)
    assert hierarchy_registrations(ctx, class_named(ctx, "M")) is None


def test_hierarchy_ignores_mixins():
    ctx = context(
        "from torch import nn\n\n\nclass Mixin:\n    def __init__(self):\n        self.register_buffer('x', None)\n\n\n"
        "class M(nn.Module, Mixin):\n    pass\n"
    )
    hierarchy = hierarchy_registrations(ctx, class_named(ctx, "M"))
    assert hierarchy is not None and hierarchy.bases == [] and not hierarchy.registers_tensor("x")


@pytest.mark.parametrize(
    "name, words, cache",
    [
        ("cos_cached", ("cos", "cached"), True),
        ("_mask_cache", ("mask", "cache"), True),
        ("posCache", ("pos", "cache"), True),
        ("tmp", ("tmp",), True),
        ("scratch_space", ("scratch", "space"), True),
        ("temperature", ("temperature",), False),
        ("cachet", ("cachet",), False),
        ("running_mean", ("running", "mean"), False),
    ],
)
def test_cache_names(name, words, cache):
    assert name_words(name) == words
    assert looks_like_cache(name) is cache


def test_walk_visits_every_expression_once_parents_first():
    module = cst.parse_module("def f(a):\n    x = g(a, k=[1, h(a)])  # note\n    return x.y\n")
    walked = list(walk(module))
    nodes = [node for node, _, _ in walked]
    assert len({id(n) for n in nodes}) == len(nodes)
    calls = [n for n in nodes if isinstance(n, cst.Call)]
    assert [cst.Module([]).code_for_node(c) for c in calls] == ["g(a, k=[1, h(a)])", "h(a)"]
    names = sorted((n.value, type(parent).__name__, field) for n, parent, field in walked if isinstance(n, cst.Name))
    assert names == [
        ("a", "Arg", "value"),
        ("a", "Arg", "value"),
        ("a", "Param", "name"),
        ("f", "FunctionDef", "name"),
        ("g", "Call", "func"),
        ("h", "Call", "func"),
        ("k", "Arg", "keyword"),
        ("x", "AssignTarget", "target"),
        ("x", "Attribute", "value"),
        ("y", "Attribute", "attr"),
    ]
    position = {id(node): i for i, node in enumerate(nodes)}
    assert all(position[id(parent)] < position[id(node)] for node, parent, _ in walked if parent is not None)
    assert not any(isinstance(n, (cst.Comment, cst.SimpleWhitespace)) for n in nodes)
