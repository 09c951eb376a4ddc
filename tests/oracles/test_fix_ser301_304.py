"""SER301 / SER304 fixes: the exact rewrite, its formatting, and every place it declines."""

from __future__ import annotations

from typing import List, Tuple

import pytest

from serialint.findings import Applicability, Edit
from support import fix_text, lint_text

_NET = """\
import torch
from torch import nn
from torch.nn.parallel import DistributedDataParallel as DDP


class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(2, 2)


"""
_HEADER_LINES = _NET.count("\n")


def _fixes(code: str, text: str) -> List[Tuple[int, int, bool]]:
    """(line below the header, 1-based column, has a fix) of each finding of `code`."""
    return [
        (f.line - _HEADER_LINES, f.column + 1, f.fix is not None)
        for f in lint_text(_NET + text)
        if f.code == code
    ]


def _fixed(text: str) -> str:
    outcome = fix_text(_NET + text, unsafe=True)
    assert outcome.broken_by is None
    assert outcome.fixed.startswith(_NET)
    return outcome.fixed[len(_NET):]


# == SER301 =======================================================================================


def test_ser301_fix_is_one_unsafe_insertion_after_the_saved_name():
    [finding] = [f for f in lint_text(_NET + 'model = Net()\ntorch.save(model, "m.pt")\n') if f.code == "SER301"]
    assert finding.fix is not None
    assert finding.fix.applicability is Applicability.UNSAFE
    assert finding.fix.description == "save model.state_dict()"
    assert finding.fix.edits == (Edit(_HEADER_LINES + 2, 16, _HEADER_LINES + 2, 16, ".state_dict()"),)


@pytest.mark.parametrize(
    "before, after",
    [
        ('model = Net()\ntorch.save(model, "m.pt")\n', 'model = Net()\ntorch.save(model.state_dict(), "m.pt")\n'),
        # odd spacing, parentheses and a trailing comment are kept
        (
            'model = Net()\ntorch.save( (model) ,"m.pt")  # keep\n',
            'model = Net()\ntorch.save( (model.state_dict()) ,"m.pt")  # keep\n',
        ),
        # keyword argument, nested literals, an optimizer
        (
            'm = Net()\nopt = torch.optim.SGD(m.parameters(), lr=0.1)\n'
            'torch.save(obj={"run": [m, (opt,)], "k": 1}, f="c.pt")\n',
            'm = Net()\nopt = torch.optim.SGD(m.parameters(), lr=0.1)\n'
            'torch.save(obj={"run": [m.state_dict(), (opt.state_dict(),)], "k": 1}, f="c.pt")\n',
        ),
        # a wrapper is unwrapped, innermost last
        (
            'ddp = DDP(Net())\ntorch.save(ddp, "m.pt")\n',
            'ddp = DDP(Net())\ntorch.save(ddp.module.state_dict(), "m.pt")\n',
        ),
        (
            'fast = torch.compile(DDP(Net().cpu()))\ntorch.save({"m": fast}, "m.pt")\n',
            'fast = torch.compile(DDP(Net().cpu()))\ntorch.save({"m": fast._orig_mod.module.state_dict()}, "m.pt")\n',
        ),
        # reached through the wrapper already
        (
            'ddp = DDP(Net())\ntorch.save(ddp.module, "m.pt")\n',
            'ddp = DDP(Net())\ntorch.save(ddp.module.state_dict(), "m.pt")\n',
        ),
    ],
)
def test_ser301_fixed_text(before, after):
    assert _fixed(before) == after


def test_ser301_fix_inside_a_method_saves_self_state_dict():
    text = "class Exported(Net):\n    def dump(self, path):\n        torch.save(self, path)\n"
    assert _fixed(text) == text.replace("save(self,", "save(self.state_dict(),")


def test_ser301_fix_keeps_crlf_line_endings():
    text = (_NET + 'model = Net()\ntorch.save(model, "m.pt")\n').replace("\n", "\r\n")
    outcome = fix_text(text, unsafe=True)
    assert outcome.fixed == text.replace('save(model,', "save(model.state_dict(),")
    assert "\n" not in outcome.fixed.replace("\r\n", "")


def test_ser301_plain_fix_leaves_the_file_alone():
    text = _NET + 'model = Net()\ntorch.save(model, "m.pt")\n'
    outcome = fix_text(text, unsafe=False)
    assert outcome.fixed == text and outcome.applied == {}


@pytest.mark.parametrize(
    "text, found",
    [
        # a constructor saved inline
        ('torch.save(Net(), "m.pt")\n', (1, 12)),
        ('torch.save({"opt": torch.optim.SGD(Net().parameters(), lr=0.1)}, "o.pt")\n', (1, 20)),
        # a literal built before the save: the object may change before it is written
        ('m = Net()\nckpt = {"model": m}\ntorch.save(ckpt, "m.pt")\n', (2, 18)),
        # a set member: a state dict cannot be hashed
        ('m = Net()\ntorch.save({m}, "m.pt")\n', (2, 13)),
        # a wrapper whose contents are not known: it may wrap another wrapper
        ('def save(model):\n    torch.save(DDP(model), "m.pt")\n', (2, 16)),
        # pickle: a state dict written with pickle still needs an unsafe unpickler to read
        ('import pickle\nm = Net()\nwith open("m.pkl", "wb") as fh:\n    pickle.dump(m, fh)\n', (4, 17)),
    ],
)
def test_ser301_declines(text, found):
    findings = _fixes("SER301", text)
    assert findings[0] == (*found, False)
    assert all(not has_fix for _, _, has_fix in findings)
    assert fix_text(_NET + text, unsafe=True).applied == {}


def test_ser301_declines_for_every_wrapper_around_an_unknown_model():
    text = 'def save(model):\n    torch.save(DDP(model), "m.pt")\n    w = DDP(model)\n    torch.save(w, "w.pt")\n'
    assert _fixes("SER301", text) == [(2, 16, False), (4, 16, False)]


# == SER304 =======================================================================================


def test_ser304_fix_is_one_unsafe_insertion_after_the_wrapper():
    text = _NET + 'model = DDP(Net())\ntorch.save(model.state_dict(), "m.pt")\n'
    [finding] = [f for f in lint_text(text) if f.code == "SER304"]
    assert finding.fix is not None
    assert finding.fix.applicability is Applicability.UNSAFE
    assert finding.fix.description == "save model.module.state_dict()"
    assert finding.fix.edits == (Edit(_HEADER_LINES + 2, 16, _HEADER_LINES + 2, 16, ".module"),)


@pytest.mark.parametrize(
    "before, after",
    [
        (
            'c = torch.compile(Net())\ntorch.save(c.state_dict(keep_vars=True), "m.pt")\n',
            'c = torch.compile(Net())\ntorch.save(c._orig_mod.state_dict(keep_vars=True), "m.pt")\n',
        ),
        # stacked wrappers, unwrapped outermost first
        (
            'c = torch.compile(nn.DataParallel(Net()))\ntorch.save(c.state_dict(), "m.pt")\n',
            'c = torch.compile(nn.DataParallel(Net()))\ntorch.save(c._orig_mod.module.state_dict(), "m.pt")\n',
        ),
        (
            'c = DDP(torch.compile(Net()))\ntorch.save(c.state_dict(), "m.pt")\n',
            'c = DDP(torch.compile(Net()))\ntorch.save(c.module._orig_mod.state_dict(), "m.pt")\n',
        ),
        # the wrapper built in the call: an attribute read does not build it twice
        (
            'torch.save(nn.DataParallel(Net()).state_dict(), "m.pt")\n',
            'torch.save(nn.DataParallel(Net()).module.state_dict(), "m.pt")\n',
        ),
        # through names read only on the way to the save
        (
            'dp = nn.DataParallel(Net())\nsd = dp.state_dict()\nbundle = [sd]\ntorch.save({"b": bundle}, "m")\n',
            'dp = nn.DataParallel(Net())\nsd = dp.module.state_dict()\nbundle = [sd]\ntorch.save({"b": bundle}, "m")\n',
        ),
        (
            'dp = nn.DataParallel(Net())\nckpt = {}\nckpt["m"] = dp.state_dict()\ntorch.save(ckpt, "m.pt")\n',
            'dp = nn.DataParallel(Net())\nckpt = {}\nckpt["m"] = dp.module.state_dict()\ntorch.save(ckpt, "m.pt")\n',
        ),
        # a method on the unwrapped result stays where it was written
        (
            "class Loop:\n    def __init__(self):\n        self.net = torch.compile(Net())\n\n"
            "    def save(self, path):\n        torch.save(self.net.state_dict(), path)\n",
            "class Loop:\n    def __init__(self):\n        self.net = torch.compile(Net())\n\n"
            "    def save(self, path):\n        torch.save(self.net._orig_mod.state_dict(), path)\n",
        ),
    ],
)
def test_ser304_fixed_text(before, after):
    assert _fixed(before) == after


def test_ser304_plain_fix_leaves_the_file_alone():
    text = _NET + 'model = DDP(Net())\ntorch.save(model.state_dict(), "m.pt")\n'
    outcome = fix_text(text, unsafe=False)
    assert outcome.fixed == text and outcome.applied == {}


@pytest.mark.parametrize(
    "text, found",
    [
        # the wrapped model comes from the caller
        ('def save(net):\n    torch.save(DDP(net).state_dict(), "m.pt")\n', (2, 16)),
        ('def save(net):\n    c = torch.compile(nn.DataParallel(net))\n    torch.save(c.state_dict(), "m")\n', (3, 16)),
        # the state dict is read again after the save
        ('dp = nn.DataParallel(Net())\nsd = dp.state_dict()\ntorch.save(sd, "m.pt")\nprint(len(sd))\n', (2, 6)),
        # the dict holding it is read elsewhere
        (
            'dp = nn.DataParallel(Net())\nckpt = {"m": dp.state_dict()}\ntorch.save(ckpt, "m.pt")\nlast = ckpt\n',
            (2, 14),
        ),
        # read by a nested function
        (
            'def run():\n    dp = nn.DataParallel(Net())\n    sd = dp.state_dict()\n    torch.save(sd, "m.pt")\n'
            "    return lambda: sd\n",
            (3, 10),
        ),
    ],
)
def test_ser304_declines(text, found):
    assert _fixes("SER304", text) == [(*found, False)]
    assert fix_text(_NET + text, unsafe=True).applied == {}


def test_ser301_and_ser304_compose_on_one_file():
    text = (
        'dp = nn.DataParallel(Net())\nopt = torch.optim.SGD(dp.parameters(), lr=0.1)\n'
        'torch.save({"model": dp.state_dict(), "opt": opt}, "m.pt")\n'
    )
    outcome = fix_text(_NET + text, unsafe=True)
    assert outcome.applied == {"SER301": 1, "SER304": 1}
    assert outcome.remaining == []
    assert outcome.fixed[len(_NET):] == (
        'dp = nn.DataParallel(Net())\nopt = torch.optim.SGD(dp.parameters(), lr=0.1)\n'
        'torch.save({"model": dp.module.state_dict(), "opt": opt.state_dict()}, "m.pt")\n'
    )
