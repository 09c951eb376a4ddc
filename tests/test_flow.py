"""Value tracking (serialint.flow): what a name holds at a point, asserted on small snippets.

Each snippet marks the points of interest with `probe(expr)` calls; a test asks what the
argument of the n-th probe holds there.
"""

from __future__ import annotations

import textwrap
from typing import List, Optional

import libcst as cst
import pytest

from serialint.config import Settings
from serialint.flow import (
    BindingKind,
    CallSite,
    CallUse,
    FileFlow,
    ScopeKind,
    TorchObject,
    Wrapper,
    describe,
    file_flow,
)
from serialint.index import ProjectIndex, summarize
from serialint.model import FileContext
from serialint.rules.ser302_unsafe_load import admits_version_below


def build(code: str) -> FileFlow:
    return FileFlow(cst.parse_module(textwrap.dedent(code)))


def probes(flow: FileFlow) -> List[CallSite]:
    return [s for s in flow.call_sites if isinstance(s.call.func, cst.Name) and s.call.func.value == "probe"]


def held(code: str, index: int = 0) -> Optional[str]:
    """The code the argument of the index-th probe holds there, or None when unknown."""
    module = cst.parse_module(textwrap.dedent(code))
    flow = FileFlow(module)
    site = probes(flow)[index]
    value = flow.value(site.call.args[0].value, site.point)
    if value is None:
        return None
    return module.code_for_node(value.node)


# -- bindings in source order ------------------------------------------------------------------


def test_latest_binding_wins_in_source_order():
    code = """
    model = Net()
    probe(model)
    model = wrap(model)
    probe(model)
    """
    assert held(code, 0) == "Net()"
    assert held(code, 1) == "wrap(model)"


def test_names_are_followed_through_aliases_at_the_aliasing_point():
    code = """
    model = Net()
    raw = model
    model = wrap(model)
    probe(raw)
    """
    assert held(code) == "Net()"


def test_binding_in_one_branch_only_is_unknown_after_the_if():
    code = """
    model = Net()
    if flag:
        model = wrap(model)
        probe(model)
    probe(model)
    """
    assert held(code, 0) == "wrap(model)"
    assert held(code, 1) is None


def test_binding_in_the_other_branch_does_not_reach():
    code = """
    if flag:
        model = A()
    else:
        model = B()
        probe(model)
    """
    assert held(code) == "B()"


def test_elif_chain_is_a_branch_of_the_outer_if():
    code = """
    model = A()
    if a:
        pass
    elif b:
        model = B()
    probe(model)
    """
    assert held(code) is None


def test_loop_carries_a_later_binding_back_to_the_top():
    code = """
    model = Net()
    for step in range(3):
        probe(model)
        model = wrap(model)
    """
    assert held(code) is None


def test_binding_inside_the_loop_before_the_use_reaches_it():
    code = """
    for step in range(3):
        model = Net()
        probe(model)
        model = wrap(model)
    """
    assert held(code) == "Net()"


def test_while_loop_and_its_test():
    code = """
    model = Net()
    while probe(model):
        model = wrap(model)
    """
    assert held(code) is None


def test_try_body_does_not_reach_the_handler_or_the_code_after():
    code = """
    try:
        model = Net()
        probe(model)
    except ImportError:
        probe(model)
    probe(model)
    """
    assert held(code, 0) == "Net()"
    assert held(code, 1) is None
    assert held(code, 2) is None


def test_with_body_always_runs():
    code = """
    with torch.no_grad():
        model = Net()
    probe(model)
    """
    assert held(code) == "Net()"


def test_with_as_binds_the_entered_context():
    module = cst.parse_module('with open("m.pt", "rb") as handle:\n    probe(handle)\n')
    flow = FileFlow(module)
    site = probes(flow)[0]
    value = flow.value(site.call.args[0].value, site.point)
    assert value is not None and value.entered
    assert module.code_for_node(value.node) == 'open("m.pt", "rb")'


@pytest.mark.parametrize(
    "code",
    [
        "def f(model):\n    probe(model)\n",
        "for model in models:\n    probe(model)\n",
        "model = Net()\nmodel += 1\nprobe(model)\n",
        "model = Net()\ndel model\nprobe(model)\n",
        "model, *rest = make()\nprobe(model)\n",
        "a, b = make()\nprobe(a)\n",
        "try:\n    pass\nexcept E as model:\n    probe(model)\n",
        "def f():\n    probe(model)\n    model = Net()\n",
        "match x:\n    case [model]:\n        probe(model)\n",
        "match x:\n    case {**model}:\n        probe(model)\n",
    ],
)
def test_unknown_values(code):
    assert held(code) is None


def test_tuple_assignment_pairs_values_and_swaps_use_the_old_ones():
    code = """
    a, b = A(), B()
    probe(a)
    a, b = b, a
    probe(a)
    probe(b)
    """
    assert held(code, 0) == "A()"
    assert held(code, 1) == "B()"
    assert held(code, 2) == "A()"


def test_annotated_and_walrus_bindings():
    code = """
    model: nn.Module = Net()
    probe(model)
    if (other := Other()) is not None:
        probe(other)
    """
    assert held(code, 0) == "Net()"
    assert held(code, 1) == "Other()"


def test_walrus_in_a_comprehension_binds_in_the_enclosing_scope():
    code = """
    def f():
        [last := Net() for _ in range(2)]
        probe(last)
    """
    assert held(code) == "Net()"


# -- scopes -------------------------------------------------------------------------------------


def test_comprehension_and_lambda_variables_shadow_outer_names():
    code = """
    m = Net()
    [probe(m) for m in models]
    f = lambda m: probe(m)
    [probe(m) for x in models]
    """
    assert held(code, 0) is None
    assert held(code, 1) is None
    assert held(code, 2) == "Net()"  # a comprehension runs where it is written


def test_function_reads_a_single_unconditional_enclosing_binding():
    code = """
    model = Net()

    def save():
        probe(model)
    """
    assert held(code) == "Net()"


def test_function_does_not_trust_an_enclosing_name_bound_twice_or_in_a_branch():
    twice = """
    model = Net()
    model = wrap(model)

    def save():
        probe(model)
    """
    branch = """
    if __name__ == "__main__":
        model = Net()

    def save():
        probe(model)
    """
    assert held(twice) is None
    assert held(branch) is None


def test_global_and_nonlocal_make_a_name_unknown():
    code = """
    model = Net()

    def reset():
        global model
        model = None

    probe(model)

    def outer():
        inner_model = Net()

        def swap():
            nonlocal inner_model
            inner_model = None

        probe(inner_model)
    """
    assert held(code, 0) is None
    assert held(code, 1) is None


def test_methods_do_not_see_class_body_names():
    code = """
    net = Net()

    class Holder:
        net = Other()
        probe(net)

        def save(self):
            probe(net)
    """
    assert held(code, 0) == "Other()"
    assert held(code, 1) == "Net()"


def test_scopes_are_recorded_with_their_names():
    flow = build(
        """
        class Outer:
            class Inner:
                def method(self):
                    return [x for x in self.xs]

        def make():
            class Local:
                pass
        """
    )
    kinds = [(s.kind, s.name) for s in flow.scopes]
    assert kinds == [
        (ScopeKind.MODULE, ""),
        (ScopeKind.CLASS, "Outer"),
        (ScopeKind.CLASS, "Outer.Inner"),
        (ScopeKind.FUNCTION, "Outer.Inner.method"),
        (ScopeKind.COMPREHENSION, "Outer.Inner.method.<comprehension>"),
        (ScopeKind.FUNCTION, "make"),
        (ScopeKind.CLASS, "make.Local"),
    ]
    assert [s.qualname_in_module for s in flow.scopes if s.kind is ScopeKind.CLASS] == [
        "Outer",
        "Outer.Inner",
        None,
    ]
    method = flow.scopes[3]
    assert method.self_name == "self" and method.params == frozenset({"self"})


def test_static_and_class_methods_have_no_self():
    flow = build(
        """
        class C:
            @staticmethod
            def s(x):
                pass

            @classmethod
            def c(cls):
                pass

            def m(this):
                pass
        """
    )
    assert [s.self_name for s in flow.scopes if s.kind is ScopeKind.FUNCTION] == [None, None, "this"]


def test_binding_kinds():
    flow = build(
        """
        import torch.nn as nn
        from torch import load as L
        def f():
            pass
        class C:
            pass
        with ctx() as handle:
            pass
        x = 1
        for y in z:
            pass
        """
    )
    kinds = {name: [b.kind for b in bindings] for name, bindings in flow.module_scope.bindings.items()}
    assert kinds == {
        "nn": [BindingKind.IMPORT],
        "L": [BindingKind.IMPORT],
        "f": [BindingKind.DEF],
        "C": [BindingKind.CLASS],
        "handle": [BindingKind.WITH],
        "x": [BindingKind.ASSIGN],
        "y": [BindingKind.UNKNOWN],
    }


# -- self attributes ----------------------------------------------------------------------------

TRAINER = """
class Trainer:
    def __init__(self, model):
        self.model = model
        self.model = wrap(self.model)
        self.opt = make_opt()
        if fast:
            self.fast = True

    def save(self):
        probe(self.model)
        probe(self.opt)
        probe(self.fast)
        probe(self.missing)
"""


def test_self_attribute_from_the_last_unconditional_store_in_init():
    assert held(TRAINER, 0) == "wrap(self.model)"
    assert held(TRAINER, 1) == "make_opt()"
    assert held(TRAINER, 2) is None  # conditional
    assert held(TRAINER, 3) is None  # never stored


def test_self_attribute_stored_by_another_method_is_unknown():
    code = TRAINER + """
    def unwrap(self):
        self.model = self.model.module
"""
    assert held(code, 0) is None
    assert held(code, 1) == "make_opt()"


def test_self_attribute_stored_by_a_subclass_in_the_file_is_unknown():
    code = TRAINER + """

class FastTrainer(Trainer):
    def __init__(self, model):
        super().__init__(model)
        self.opt = other_opt()
"""
    assert held(code, 0) == "wrap(self.model)"
    assert held(code, 1) is None


def test_self_attribute_stored_earlier_in_the_same_method():
    code = """
    class Trainer:
        def fit(self):
            self.model = Net()
            probe(self.model)
            self.model = wrap(self.model)
            probe(self.model)

        def other(self):
            probe(self.model)
    """
    assert held(code, 0) == "Net()"
    assert held(code, 1) == "wrap(self.model)"
    assert held(code, 2) is None  # only fit() sets it: not known when other() runs


def test_computed_setattr_makes_self_attributes_unknown():
    code = """
    class Trainer:
        def __init__(self, name):
            self.model = Net()
            setattr(self, name, None)

        def save(self):
            probe(self.model)
    """
    assert held(code) is None


# -- reads and call uses ------------------------------------------------------------------------


def site_named(flow: FileFlow, name: str) -> CallSite:
    (site,) = [
        s for s in flow.call_sites if isinstance(s.call.func, cst.Attribute) and s.call.func.attr.value == name
    ]
    return site


@pytest.mark.parametrize(
    "code, use, names, read",
    [
        ("m.load(s)\n", CallUse.DISCARDED, (), None),
        ("r = m.load(s)\n", CallUse.BOUND, ("r",), False),
        ("r = m.load(s)\nprint(r)\n", CallUse.BOUND, ("r",), True),
        ("a, b = m.load(s)\nassert not b\n", CallUse.BOUND, ("a", "b"), True),
        ("a, b = m.load(s)\n", CallUse.BOUND, ("a", "b"), False),
        ("x.r = m.load(s)\n", CallUse.USED, (), None),
        ("print(m.load(s))\n", CallUse.USED, (), None),
        ("def f():\n    return m.load(s)\n", CallUse.USED, (), None),
        ("r = m.load(s)\ndef g():\n    return r\n", CallUse.BOUND, ("r",), True),
        ("def f():\n    r = m.load(s)\n    return locals()\n", CallUse.BOUND, ("r",), True),
        ("r = None\nfor s in ss:\n    if r:\n        break\n    r = m.load(s)\n", CallUse.BOUND, ("r",), True),
    ],
)
def test_call_uses_and_reads_after(code, use, names, read):
    flow = build(code)
    site = site_named(flow, "load")
    assert site.use is use
    assert site.bound_names == names
    if read is not None:
        assert any(flow.is_read_after(n, site.point) for n in names) is read


# -- containers and in-place changes ------------------------------------------------------------


def leaves_of(code: str) -> List[str]:
    module = cst.parse_module(textwrap.dedent(code))
    flow = FileFlow(module)
    site = site_named(flow, "save")
    return [module.code_for_node(leaf.node) for leaf in flow.leaves(site.call.args[0].value, site.point)]


def test_leaves_of_literals_and_names_bound_to_them():
    code = """
    extra = {"opt": opt}
    ckpt = {"model": model, "nested": [a, (b,)], **extra}
    torch.save(ckpt, path)
    """
    assert leaves_of(code) == ["model", "a", "b", "opt"]


def test_leaves_include_literal_key_item_writes_and_drop_keys_written_twice():
    code = """
    ckpt = dict(model=first)
    ckpt["model"] = second
    ckpt["opt"] = opt
    torch.save(ckpt, path)
    """
    assert leaves_of(code) == ["opt"]


def test_leaves_of_a_container_changed_otherwise_are_unknown():
    assert leaves_of("ckpt = {'m': m}\nckpt.update(extra)\ntorch.save(ckpt, p)\n") == []
    assert leaves_of("ckpt = {'m': m}\nfill(ckpt)\ntorch.save(ckpt, p)\n") == []
    assert leaves_of("ckpt = {'m': m}\nckpt[key] = v\ntorch.save(ckpt, p)\n") == []
    # reading it is fine
    assert leaves_of("ckpt = {'m': m}\nprint(len(ckpt), ckpt.keys())\ntorch.save(ckpt, p)\n") == ["m"]


def test_a_plain_value_is_its_own_leaf():
    assert leaves_of("torch.save(model.state_dict(), p)\n") == ["model.state_dict()"]


def test_touched_between_sees_in_place_changes_only_in_the_window():
    module = cst.parse_module(
        "state = model.state_dict()\nstrip(state)\ntorch.save(state, p)\nlater(state)\n"
    )
    flow = FileFlow(module)
    site = site_named(flow, "save")
    binding = flow.binding_at("state", site.point)
    assert binding is not None and flow.touched_between(binding, site.point)
    module = cst.parse_module("state = model.state_dict()\ntorch.save(state, p)\nlater(state)\n")
    flow = FileFlow(module)
    site = site_named(flow, "save")
    binding = flow.binding_at("state", site.point)
    assert binding is not None and not flow.touched_between(binding, site.point)


# -- torch terms --------------------------------------------------------------------------------


def context(code: str, files: Optional[dict] = None) -> FileContext:
    import ast

    texts = {"main.py": textwrap.dedent(code), **(files or {})}
    summaries = {path: summarize(path, ast.parse(text), path[:-3], False) for path, text in texts.items()}
    index = ProjectIndex(summaries.values())
    return FileContext("main.py", cst.parse_module(texts["main.py"]), summaries["main.py"], index, Settings())


def described(code: str, index: int = 0, files: Optional[dict] = None) -> Optional[TorchObject]:
    ctx = context(code, files)
    flow = file_flow(ctx)
    site = probes(flow)[index]
    return describe(ctx, flow, site.call.args[0].value, site.point)


def test_module_classes_across_files_and_torch_constructors():
    files = {"models.py": "import torch.nn as nn\n\nclass Net(nn.Module):\n    pass\n"}
    code = """
    from models import Net
    import torch.nn as nn
    a = Net().to("cpu").eval()
    probe(a)
    probe(nn.Linear(2, 2))
    """
    assert described(code, 0, files) == TorchObject("module", "Net")
    assert described(code, 1, files) == TorchObject("module", "Linear")


def test_wrappers_stack_and_unwrap():
    code = """
    import torch
    from torch import nn
    from torch.nn.parallel import DistributedDataParallel as DDP
    model = torch.compile(DDP(nn.Linear(2, 2)))
    probe(model)
    probe(model._orig_mod)
    probe(model.module)
    probe(model._orig_mod.module)
    """
    outer = described(code, 0)
    assert outer is not None
    assert (outer.wrapper, outer.key_prefix, outer.unwrap_path) == (
        Wrapper.COMPILE,
        "_orig_mod.module.",
        "._orig_mod.module",
    )
    assert outer.description == "torch.compile wrapper around a DistributedDataParallel wrapper"
    inner = described(code, 1)
    assert inner is not None and inner.wrapper is Wrapper.DISTRIBUTED and inner.key_prefix == "module."
    assert described(code, 2) == TorchObject("module", "Linear")  # the compiled wrapper forwards .module
    assert described(code, 3) == TorchObject("module", "Linear")


def test_in_place_compile_keeps_the_bare_module():
    code = """
    import torch.nn as nn
    model = nn.Linear(2, 2)
    model.compile()
    probe(model)
    """
    assert described(code) == TorchObject("module", "Linear")


def test_compile_of_unknown_value_is_a_wrapper_but_not_known_to_be_a_module():
    code = """
    from torch import compile
    def f(fn):
        fast = compile(fn)
        probe(fast)
    """
    found = described(code)
    assert found is not None and found.wrapper is Wrapper.COMPILE and not found.is_module
    assert found.key_prefix == "_orig_mod."


def test_optimizers_but_not_schedulers():
    code = """
    import torch.optim as optim
    from torch.optim.lr_scheduler import StepLR
    opt = optim.AdamW([])
    probe(opt)
    probe(StepLR(opt, 1))
    """
    assert described(code, 0) == TorchObject("optimizer", "AdamW")
    assert described(code, 1) is None


def test_self_in_a_module_class_but_not_in_other_classes():
    code = """
    from torch.nn import Module
    class Net(Module):
        def save(self):
            probe(self)
    class Plain:
        def save(self):
            probe(self)
    def make():
        class Local(Module):
            def save(self):
                probe(self)
    """
    assert described(code, 0) == TorchObject("module", "Net")
    assert described(code, 1) is None
    assert described(code, 2) is None  # defined inside a function: not in the project index


def test_local_alias_of_a_constructor():
    code = """
    import torch.nn as nn
    def f(cls):
        make = nn.Linear
        probe(make(2, 2))
        make = cls
        probe(make(2, 2))
    """
    assert described(code, 0) == TorchObject("module", "Linear")
    assert described(code, 1) is None


def test_flow_is_built_once_per_file_context():
    ctx = context("x = 1\n")
    assert file_flow(ctx) is file_flow(ctx)


# -- the torch version range (SER302) -----------------------------------------------------------


@pytest.mark.parametrize(
    "spec, admits",
    [
        (">=2.1", True),
        (">=2.6", False),
        (">=2.6.0", False),
        (">2.5", True),
        (">=2.4,<3", True),
        (">=2.6, <3.0", False),
        ("~=2.5", True),
        ("~=2.6", False),
        ("~=2.5.1", True),
        ("==2.5.*", True),
        ("==2.6.*", False),
        ("==2.6", False),
        ("==2.5.1", True),
        ("<2.6", True),
        ("<=2.6", True),
        (">=2.6,<2.6", False),
        (">=1.13,!=2.0.0", True),
        ("torch>=2.7", False),
        ("torch[cpu] >=2.0", True),
        ("", True),
        ("*", True),
    ],
)
def test_admits_version_below(spec, admits):
    assert admits_version_below(spec, (2, 6)) is admits


@pytest.mark.parametrize("spec", ["latest", ">=two", "~=2", ">=2.*"])
def test_unreadable_specifiers_are_unknown(spec):
    assert admits_version_below(spec, (2, 6)) is None


LEGACY_LOAD = """\
import torch


def restore(path):
    return torch.load(path, map_location="cpu")
"""


@pytest.mark.parametrize(
    "target, expected",
    [
        (
            ">=2.1",
            [
                (
                    5,
                    12,
                    "torch.load without weights_only: the project supports torch >=2.1, and before 2.6 torch.load "
                    "unpickles arbitrary code by default; pass weights_only=True",
                )
            ],
        ),
        (" ~=2.5 ", [(5, 12, "torch.load without weights_only: the project supports torch ~=2.5, and before 2.6 "
                             "torch.load unpickles arbitrary code by default; pass weights_only=True")]),
        (">=2.6", []),
        ("newest", []),  # unreadable: not judged
        (None, []),  # no range configured: today's torch, whose default is safe
    ],
)
def test_plain_torch_load_is_judged_against_the_supported_range(target, expected):
    from support import lint_text

    findings = lint_text(LEGACY_LOAD, settings=Settings(target_torch=target))
    assert [(f.line, f.column + 1, f.message) for f in findings if f.code == "SER302"] == expected
