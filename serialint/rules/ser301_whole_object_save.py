from __future__ import annotations

from typing import Iterator, Optional

import libcst as cst

from serialint.flow import (
    PICKLE_DUMP_NAMES,
    SAVE_NAMES,
    CallSite,
    Leaf,
    TorchObject,
    callee_among,
    describe,
    file_flow,
    source_text,
)
from serialint.findings import Applicability, Fix
from serialint.fixes import FixBuilder
from serialint.model import FileContext, call_arg, dotted_name
from serialint.rule import Bad, Expected, Good, Report, Rule

_SINKS = SAVE_NAMES | PICKLE_DUMP_NAMES


class WholeObjectSave(Rule):
    """
    ## What it does
    Flags `torch.save` / `pickle.dump` of a whole Module or optimizer instead of its `state_dict()`.

    `dill.dump` counts too, and so does the object inside a saved dict / list / tuple. The object is
    recognised when the linted code visibly builds it: an instance of a Module class of the
    project or of `torch.nn`, a `torch.compile` / `DataParallel` / `DistributedDataParallel`
    wrapper of one, a `torch.optim` optimizer, or `self` inside a Module class's method.

    ## Why is this bad?
    Pickling the object stores a reference to its class, not just its tensors. Since torch 2.6
    the default `torch.load` (`weights_only=True`) refuses such a file:
    `Weights only load failed ... Unsupported global`. Loading it with `weights_only=False` runs
    arbitrary code from the file, and still breaks as soon as the class is renamed, moved to
    another module or changes its attributes.

    ## Example
    ```python
    model = Net()
    optimizer = torch.optim.AdamW(model.parameters())
    torch.save({"model": model, "optimizer": optimizer, "epoch": epoch}, path)
    ```

    ## Use instead
    Save the state dicts, and load them into freshly built objects:
    ```python
    torch.save({"model": model.state_dict(), "optimizer": optimizer.state_dict(), "epoch": epoch}, path)

    checkpoint = torch.load(path, weights_only=True)
    model = Net()
    model.load_state_dict(checkpoint["model"])
    ```
    For a wrapped model, save the bare module's state dict (`model.module.state_dict()`,
    `compiled._orig_mod.state_dict()`), see SER304.

    ## Fix safety
    Unsafe: `torch.save(obj, path)` becomes `torch.save(obj.state_dict(), path)`, and inside a
    saved dict / list / tuple literal `{"model": model}` becomes `{"model": model.state_dict()}`
    (optimizers alike, `self` too). A wrapper is unwrapped first, as the message says
    (`net.module.state_dict()`, `fast._orig_mod.state_dict()`), so the saved keys are the bare
    model's. The file then holds tensors and plain values only and loads with the default
    `torch.load`, but every reader of it must change: it has to build the object itself and call
    `load_state_dict` on what it loads, where it used to get the object back whole.

    No fix when the saved object is written as anything but a name, an attribute chain or `self`
    (a constructor call saved inline: its state dict is rarely what was meant), when it sits in
    a literal outside the `torch.save` call (a dict built earlier and saved later: the object may
    change in between, and the dict may be used elsewhere) or behind `*` / `**` or in a set, when
    a wrapper's contents are not known (it may wrap another wrapper), and for `pickle.dump` /
    `dill.dump`: a state dict written with pickle still needs an unpickler that runs arbitrary
    code, so the remedy there is `torch.save` and a new reader, which a local edit cannot make.

    ## Known limits
    Only objects whose construction the linter can follow are recognised: a name bound once on
    every path to the save, in the same function or module (or a module-level name bound once),
    or `self.attr` set unconditionally in `__init__` and nowhere else. A model passed in as a
    parameter, chosen in a branch (`model = Net() if a else Other()`), returned by a factory
    function, or built in another file and imported is not followed. Optimizers outside
    `torch.optim` are not recognised, and `pickle.dumps`, `cloudpickle` and `joblib` are not
    looked at.
    """

    code = "SER301"
    fix_applicability = Applicability.UNSAFE
    name = "whole-object-save"
    triggers = ("save", "dump")
    triggers_called = True
    summary = "save obj.state_dict() instead, and load it into a freshly built object"

    bad = (
        Bad(
            """\
import torch
import torch.nn as nn


class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(4, 2)


model = Net()
optimizer = torch.optim.AdamW(model.parameters(), lr=1e-3)
torch.save({"model": model, "optimizer": optimizer, "epoch": 3}, "last.pt")
""",
            (
                Expected(
                    13,
                    22,
                    'torch.save pickles "model", the whole Net module, instead of its state_dict(): since torch '
                    "2.6 the default torch.load refuses the file (Weights only load failed ... Unsupported "
                    "global), and with weights_only=False it breaks once the class is moved or changed; save "
                    "model.state_dict()",
                ),
                Expected(
                    13,
                    42,
                    'torch.save pickles "optimizer", the whole AdamW optimizer, instead of its state_dict(): '
                    "since torch 2.6 the default torch.load refuses the file (Weights only load failed ... "
                    "Unsupported global), and with weights_only=False it breaks once the class is moved or "
                    "changed; save optimizer.state_dict()",
                ),
            ),
            fixed="""\
import torch
import torch.nn as nn


class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(4, 2)


model = Net()
optimizer = torch.optim.AdamW(model.parameters(), lr=1e-3)
torch.save({"model": model.state_dict(), "optimizer": optimizer.state_dict(), "epoch": 3}, "last.pt")
""",
        ),
        Bad(
            """\
import pickle

import torch
from torch import nn
from torch.nn.parallel import DistributedDataParallel as DDP


class Encoder(nn.Module):
    def export(self, path):
        torch.save(self, path)


def train(rank, path):
    net = DDP(Encoder().to(rank), device_ids=[rank])
    with open(path, "wb") as handle:
        pickle.dump(net, handle)
""",
            (
                Expected(
                    10,
                    20,
                    'torch.save pickles "self", the whole Encoder module, instead of its state_dict(): since '
                    "torch 2.6 the default torch.load refuses the file (Weights only load failed ... "
                    "Unsupported global), and with weights_only=False it breaks once the class is moved or "
                    "changed; save self.state_dict()",
                ),
                Expected(
                    16,
                    21,
                    'pickle.dump pickles "net", the whole DistributedDataParallel wrapper, instead of its '
                    "state_dict(): only an unpickler that runs arbitrary code can read it back, and loading "
                    "breaks once the class is moved or changed; save net.module.state_dict()",
                ),
            ),
            fixed="""\
import pickle

import torch
from torch import nn
from torch.nn.parallel import DistributedDataParallel as DDP


class Encoder(nn.Module):
    def export(self, path):
        torch.save(self.state_dict(), path)


def train(rank, path):
    net = DDP(Encoder().to(rank), device_ids=[rank])
    with open(path, "wb") as handle:
        pickle.dump(net, handle)
""",
        ),
        Bad(
            """\
import dill
import torch as T
import torch.nn as nn
from torch import save


class Block(nn.Module):
    pass


blocks = nn.DataParallel(Block())
save([blocks.module], "blocks.pt")
T.save((T.optim.SGD(blocks.parameters(), lr=0.1),), "opt.pt")
dill.dump(blocks, open("blocks.pkl", "wb"))
""",
            (
                Expected(
                    12,
                    7,
                    'torch.save pickles "blocks.module", the whole Block module, instead of its state_dict(): since '
                    "torch 2.6 the default torch.load refuses the file (Weights only load failed ... Unsupported "
                    "global), and with weights_only=False it breaks once the class is moved or changed; save "
                    "blocks.module.state_dict()",
                ),
                Expected(
                    13,
                    9,
                    'torch.save pickles "T.optim.SGD(blocks.parameters(), lr=0.1)", the whole SGD optimizer, instead '
                    "of its state_dict(): since torch 2.6 the default torch.load refuses the file (Weights only load "
                    "failed ... Unsupported global), and with weights_only=False it breaks once the class is moved "
                    "or changed; save its state_dict()",
                ),
                Expected(
                    14,
                    11,
                    'dill.dump pickles "blocks", the whole DataParallel wrapper, instead of its state_dict(): only '
                    "an unpickler that runs arbitrary code can read it back, and loading breaks once the class is "
                    "moved or changed; save blocks.module.state_dict()",
                ),
            ),
            fixed="""\
import dill
import torch as T
import torch.nn as nn
from torch import save


class Block(nn.Module):
    pass


blocks = nn.DataParallel(Block())
save([blocks.module.state_dict()], "blocks.pt")
T.save((T.optim.SGD(blocks.parameters(), lr=0.1),), "opt.pt")
dill.dump(blocks, open("blocks.pkl", "wb"))
""",
        ),
        # unwrapped inside dict(...); no fix for a dict built before the save, nor for a call saved inline
        Bad(
            """\
import torch
from torch import nn
from torch.nn.parallel import DistributedDataParallel


class Head(nn.Module):
    def __init__(self):
        super().__init__()
        self.proj = nn.Linear(8, 2)


def checkpoint(rank, step, run_model):
    fast = torch.compile(DistributedDataParallel(Head().to(rank)))
    opt = torch.optim.Adam(fast.parameters())
    torch.save(dict(model=fast, step=step), f"step{step}.pt")
    state = {"opt": opt}
    torch.save(state, "opt.pt")
    torch.save(DistributedDataParallel(run_model), "run.pt")
""",
            (
                Expected(
                    15,
                    27,
                    'torch.save pickles "fast", the whole torch.compile wrapper around a DistributedDataParallel '
                    "wrapper, instead of its state_dict(): since torch 2.6 the default torch.load refuses the file "
                    "(Weights only load failed ... Unsupported global), and with weights_only=False it breaks once "
                    "the class is moved or changed; save fast._orig_mod.module.state_dict()",
                ),
                Expected(
                    16,
                    21,
                    'torch.save pickles "opt", the whole Adam optimizer, instead of its state_dict(): since torch 2.6 '
                    "the default torch.load refuses the file (Weights only load failed ... Unsupported global), and "
                    "with weights_only=False it breaks once the class is moved or changed; save opt.state_dict()",
                ),
                Expected(
                    18,
                    16,
                    'torch.save pickles "DistributedDataParallel(run_model)", the whole DistributedDataParallel '
                    "wrapper, instead of its state_dict(): since torch 2.6 the default torch.load refuses the file "
                    "(Weights only load failed ... Unsupported global), and with weights_only=False it breaks once "
                    "the class is moved or changed; save its state_dict()",
                ),
            ),
            fixed="""\
import torch
from torch import nn
from torch.nn.parallel import DistributedDataParallel


class Head(nn.Module):
    def __init__(self):
        super().__init__()
        self.proj = nn.Linear(8, 2)


def checkpoint(rank, step, run_model):
    fast = torch.compile(DistributedDataParallel(Head().to(rank)))
    opt = torch.optim.Adam(fast.parameters())
    torch.save(dict(model=fast._orig_mod.module.state_dict(), step=step), f"step{step}.pt")
    state = {"opt": opt}
    torch.save(state, "opt.pt")
    torch.save(DistributedDataParallel(run_model), "run.pt")
""",
        ),
    )
    good = (
        # state dicts are saved
        Good(
            """\
import torch
from torch import nn

model = nn.Sequential(nn.Linear(4, 4), nn.ReLU())
opt = torch.optim.SGD(model.parameters(), lr=0.1)
torch.save({"model": model.state_dict(), "opt": opt.state_dict()}, "ckpt.pt")
"""
        ),
        # a parameter: what the caller passes is not known
        Good(
            """\
import torch


def save(model, path):
    torch.save(model, path)
"""
        ),
        # bound differently on two paths
        Good(
            """\
import torch
from torch import nn

if torch.cuda.is_available():
    model = nn.Linear(2, 2)
else:
    model = {"weight": torch.zeros(2, 2)}
torch.save(model, "m.pt")
"""
        ),
        # rebound to its state_dict before saving
        Good(
            """\
import torch as T

model = T.nn.Linear(3, 1)
model = model.state_dict()
T.save(model, "m.pt")
"""
        ),
        # a class merely named like a model, not a Module class
        Good(
            """\
import torch


class Net:
    pass


torch.save(Net(), "net.pt")
"""
        ),
        # torch.compile of a function is not a Module
        Good(
            """\
import torch


def step(x):
    return x * 2


fast = torch.compile(step)
torch.save(fast, "fn.pt")
"""
        ),
    )

    def check(self, ctx: FileContext) -> Iterator[Report]:
        flow = file_flow(ctx)
        for site in flow.call_sites:
            qualname = callee_among(ctx, flow, site, _SINKS)
            if qualname is None:
                continue
            sink = "torch.save" if qualname in SAVE_NAMES else qualname
            saved = call_arg(site.call, 0, "obj")
            if saved is None:
                continue
            for leaf in flow.leaves(saved, site.point):
                thing = describe(ctx, flow, leaf.node, leaf.point)
                if thing is None or not (thing.is_module or thing.kind == "optimizer"):
                    continue
                fix = _state_dict_fix(ctx, site, leaf, thing) if sink == "torch.save" else None
                yield Report(leaf.node, _message(sink, leaf.node, source_text(ctx, leaf.node), thing), fix=fix)


def _state_dict_fix(ctx: FileContext, site: CallSite, leaf: Leaf, thing: TorchObject) -> Optional[Fix]:
    """`obj` -> `obj.state_dict()` (through the wrappers) where `obj` is written in the save call.

    Unsafe: the file's readers must build the object and call load_state_dict.
    """
    saved = call_arg(site.call, 0, "obj")
    if saved is None or dotted_name(leaf.node) is None or not _written_in(saved, leaf.node):
        return None
    current: Optional[TorchObject] = thing
    while current is not None and current.wrapper is not None:
        current = current.inner
    if current is None:
        return None  # a wrapper around something unknown: it may be a wrapper too
    text = f"{thing.unwrap_path}.state_dict()"
    edit = FixBuilder(ctx).insert_after(leaf.node, text)
    return Fix(Applicability.UNSAFE, f"save {source_text(ctx, leaf.node)}{text}", (edit,))


def _written_in(expr: cst.BaseExpression, target: cst.BaseExpression) -> bool:
    """Whether `target` is `expr` or a value of the dict / list / tuple literals written in it.

    `*x`, `**x` and set members are not followed: `.state_dict()` there would change what is
    unpacked or fail to hash.
    """
    if expr is target:
        return True
    if isinstance(expr, cst.Dict):
        return any(isinstance(e, cst.DictElement) and _written_in(e.value, target) for e in expr.elements)
    if isinstance(expr, (cst.List, cst.Tuple)):
        return any(isinstance(e, cst.Element) and _written_in(e.value, target) for e in expr.elements)
    if isinstance(expr, cst.Call) and isinstance(expr.func, cst.Name) and expr.func.value == "dict":
        return any(a.keyword is not None and not a.star and _written_in(a.value, target) for a in expr.args)
    return False


def _message(sink: str, node: cst.BaseExpression, text: str, thing: TorchObject) -> str:
    whole = f'{sink} pickles "{text}", the whole {thing.description}, instead of its state_dict(): '
    if sink == "torch.save":
        why = (
            "since torch 2.6 the default torch.load refuses the file (Weights only load failed ... "
            "Unsupported global), and with weights_only=False it breaks once the class is moved or changed"
        )
    else:
        why = (
            "only an unpickler that runs arbitrary code can read it back, and loading breaks once the class "
            "is moved or changed"
        )
    if dotted_name(node) is None:
        return f"{whole}{why}; save its state_dict()"
    return f"{whole}{why}; save {text}{thing.unwrap_path}.state_dict()"
