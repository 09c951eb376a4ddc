"""Classes beyond Modules count as pickled when the code visibly pickles their instances."""

from __future__ import annotations

import ast

import pytest

from serialint.engine import pickled_classes
from serialint.index import ProjectIndex, summarize
from serialint.pickled import pickled_class_refs


def refs(source: str, module: str = "m") -> set:
    tree = ast.parse(source)
    return pickled_class_refs(tree, summarize(f"{module}.py", tree, module, False))


@pytest.mark.parametrize(
    "call",
    [
        "torch.save(Cfg(), 'c.pt')",
        "torch.save({'cfg': Cfg(), 'epoch': 3}, 'c.pt')",
        "torch.save([Cfg()], 'c.pt')",
        "pickle.dump(Cfg(), fh)",
        "pickle.dumps(Cfg())",
        "pkl.dumps(obj=Cfg())",
        "save(Cfg(), 'c.pt')",
        "DataLoader(Cfg(), num_workers=4)",
        "DataLoader(Cfg(), num_workers=workers)",
        "DataLoader(dataset=Cfg(), batch_size=2, num_workers=cfg.workers)",
        "DataLoader(Cfg(), 8, True, None, None, 2)",
    ],
)
def test_visible_instances_are_pickled(call):
    source = f"""
import torch, pickle
import pickle as pkl
from torch import save
from torch.utils.data import DataLoader
class Cfg: pass
def main(fh, workers, cfg):
    {call}
"""
    assert refs(source) == {"m.Cfg"}


@pytest.mark.parametrize(
    "call",
    [
        "DataLoader(Cfg(), batch_size=2)",  # no workers by default
        "DataLoader(Cfg(), num_workers=0)",
        "torch.save(Cfg().state_dict(), 'c.pt')",  # a call on the instance, not the instance
        "json.dumps(Cfg())",
        "torch.load(Cfg())",
        "other.save(Cfg())",
    ],
)
def test_other_calls_do_not_count(call):
    source = f"""
import torch, json
from torch.utils.data import DataLoader
class Cfg: pass
def main():
    {call}
"""
    assert refs(source) == set()


def test_names_bound_once_are_followed_and_rebound_names_are_not():
    source = """
import torch
class A: pass
class B: pass
def once(path):
    a = A()
    torch.save(a, path)
def twice(path, flag):
    b = B()
    if flag:
        b = load_other()
    torch.save(b, path)
"""
    assert refs(source) == {"m.A"}


def test_scopes_do_not_leak():
    source = """
import torch
class A: pass
a = A()
def f(a, path):
    torch.save(a, path)  # the parameter, not the module-level instance
"""
    assert refs(source) == set()


def test_closure_includes_project_base_classes_across_files():
    base = "class Base:\n    pass\n"
    child = "from pkg.base import Base\nclass Child(Base):\n    pass\n"
    summaries = [
        summarize("pkg/base.py", ast.parse(base), "pkg.base", False),
        summarize("pkg/child.py", ast.parse(child), "pkg.child", False),
    ]
    index = ProjectIndex(summaries)
    child_file = summaries[1]
    assert pickled_classes(index, [("pkg.child.Child", child_file)]) == {"pkg.child.Child", "pkg.base.Base"}
    assert pickled_classes(index, [("json.JSONEncoder", child_file)]) == frozenset()
