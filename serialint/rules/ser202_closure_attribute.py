from __future__ import annotations

from typing import Iterator

from serialint.findings import Applicability
from serialint.functions import function_analysis, hoist_fix, pickled_stores, store_label
from serialint.model import FileContext
from serialint.rule import Bad, Expected, Good, Report, Rule


class ClosureAttribute(Rule):
    """
    ## What it does
    Flags a local function stored on `self` in a Module class, or in another class whose
    instances are pickled: a `def` nested in the method, or the closure a factory returns.

    Seen: `def scaled(x): ...; self.act = scaled` in the method, and the function returned by a
    call to a factory of the same file: a module-level `def make_act(k): ...` whose every
    `return` gives back a nested `def` or a lambda, a factory nested in the method, or a factory
    method of the class (`self._make_act(k)`). `functools.partial` of such a function is flagged
    too. A lambda written in place is SER201's; functions inside a container, SER203's.

    ## Why is this bad?
    pickle saves a function as a reference (its module and `__qualname__`) and refuses local ones,
    so `torch.save(model)` and `pickle.dumps(model)` raise
    `Can't pickle local object 'make_act.<locals>.scaled'`. `functools.partial` pickles the
    function it wraps, so wrapping it does not help. `copy.deepcopy(model)` still works (functions
    are copied by reference), `state_dict()` is not affected, and TorchScript fails only when
    `forward` uses the attribute.

    ## Example
    ```python
    def make_act(k):
        def scaled(x):
            return torch.tanh(k * x)
        return scaled


    class Net(nn.Module):
        def __init__(self, k):
            super().__init__()
            self.act = make_act(k)
    ```

    ## Use instead
    Hoist the function to a module-level `def` and bind captured values with `functools.partial`:
    ```python
    def scaled_tanh(x, k):
        return torch.tanh(k * x)


    class Net(nn.Module):
        def __init__(self, k):
            super().__init__()
            self.act = functools.partial(scaled_tanh, k=k)
    ```
    `pickle`, `torch.save` and `torch.load(weights_only=False)` then work.

    ## Fix safety
    The fix is safe. It moves a `def` nested in the method to module level, above the class (and
    above its decorators and comments), named `_<class>_<name>` (a numeric suffix when the name is
    taken), and replaces the nested `def` statement with `name = _<class>_<name>`, so every use of
    the name in the method keeps working. When the function reads parameters or locals of the
    method, the statement becomes `name = functools.partial(_<class>_<name>, k=k)` and the
    captured names become keyword-only parameters of the def; `import functools` is added unless
    the file already imports it or `partial`.
    The function then receives the same objects at every call as the closure did, so the model
    behaves identically; `state_dict()` and existing checkpoints are untouched, and `pickle`,
    `torch.save` and `torch.load(weights_only=False)` now work. TorchScript is no worse: a stored
    `partial` does not script, nor did the local function. One difference remains:
    `copy.deepcopy(model)` copies the values a `partial` holds, where the closure shared them with
    the original model; they are equal, so this shows only if a captured mutable object is changed
    in place after the copy.

    No fix is offered when the rewrite cannot be shown equivalent: a captured name is `self` or a
    value read from it (`partial(fn, self)` pickles, but the copy made by `copy.deepcopy(model)`
    would then read itself where the closure read the original), is rebound, is bound otherwise than
    by one plain assignment among the method's top-level statements before the function is created
    (a loop target, a branch, an import, `global`/`nonlocal`), or holds a local function itself; the
    function has parameter defaults (`lambda x, k=k: ...`), `**kwargs` together with captured names,
    a nested function, class or comprehension, `yield` or `await`, a private name (the class mangles
    it), `super()` without arguments or `__class__`, or (a nested `def`) annotations; or the class
    is not at module level. Nor for a closure returned by a factory (rewriting the factory changes
    it for every caller), or a nested `def` that is decorated, `async`, calls itself by its own
    name, or is not a top-level statement of the method.

    ## Known limits
    A class defining `__getstate__`, `__reduce__` or `__reduce_ex__` (itself or in a project base
    class) is not reported. A factory counts only when it is defined in the same file, has no
    decorator, and every path through it returns a local function; factories imported from other
    files are not followed. A decorated nested `def` is not reported (the decorator may replace
    it). A factory method is taken from the class that stores the result: a subclass overriding
    it is not considered. A name bound more than once, or a parameter, is not followed.
    """

    code = "SER202"
    name = "closure-attribute"
    needs_class = True
    fix_applicability = Applicability.SAFE
    summary = "move the function to a module-level def; bind captured values with functools.partial"

    bad = (
        Bad(
            """\
import torch
import torch.nn as nn


def make_act(k):
    def scaled(x):
        return torch.tanh(k * x)

    return scaled


class Net(nn.Module):
    def __init__(self, k):
        super().__init__()
        self.act = make_act(k)
""",
            (
                Expected(
                    15,
                    9,
                    "local function returned by make_act() stored on self.act: torch.save(model) and pickle "
                    "fail (Can't pickle local object 'make_act.<locals>.scaled')",
                ),
            ),
        ),
        Bad(
            """\
from functools import partial

from torch.nn import Module


class Scorer(Module):
    def __init__(self, margin):
        super().__init__()

        def hinge(x, m):
            return (m - x).clamp(min=0)

        self.loss = partial(hinge, m=margin)
        self.gate = self._make_gate(0.5)

    def _make_gate(self, threshold):
        return lambda x: x > threshold
""",
            (
                Expected(
                    13,
                    9,
                    "functools.partial of local function hinge stored on self.loss: torch.save(model) and "
                    "pickle fail (Can't pickle local object 'Scorer.__init__.<locals>.hinge')",
                ),
                Expected(
                    14,
                    9,
                    "local function returned by self._make_gate() stored on self.gate: torch.save(model) and "
                    "pickle fail (Can't pickle local object 'Scorer._make_gate.<locals>.<lambda>')",
                ),
            ),
            fixed="""\
from functools import partial

from torch.nn import Module


def _scorer_hinge(x, m):
    return (m - x).clamp(min=0)


class Scorer(Module):
    def __init__(self, margin):
        super().__init__()

        hinge = _scorer_hinge

        self.loss = partial(hinge, m=margin)
        self.gate = self._make_gate(0.5)

    def _make_gate(self, threshold):
        return lambda x: x > threshold
""",
        ),
        Bad(
            """\
import torch
import torch.nn as nn


# a residual block whose init function is kept for re-initialisation
class Block(nn.Module):
    def __init__(self, dim, gain=1.0):
        super().__init__()
        self.fc = nn.Linear(dim, dim)
        std = gain / dim**0.5

        def init_weights(m):
            '''Normal weights, zero bias.'''
            nn.init.normal_(m.weight, std=std)  # scaled by the width
            nn.init.zeros_(m.bias)

        self.fc.apply(init_weights)
        self.reinit = init_weights
""",
            (
                Expected(
                    18,
                    9,
                    "local function init_weights stored on self.reinit: torch.save(model) and pickle fail "
                    "(Can't pickle local object 'Block.__init__.<locals>.init_weights')",
                ),
            ),
            fixed="""\
import torch
import torch.nn as nn
import functools


def _block_init_weights(m, *, std):
    '''Normal weights, zero bias.'''
    nn.init.normal_(m.weight, std=std)  # scaled by the width
    nn.init.zeros_(m.bias)


# a residual block whose init function is kept for re-initialisation
class Block(nn.Module):
    def __init__(self, dim, gain=1.0):
        super().__init__()
        self.fc = nn.Linear(dim, dim)
        std = gain / dim**0.5

        init_weights = functools.partial(_block_init_weights, std=std)

        self.fc.apply(init_weights)
        self.reinit = init_weights
""",
        ),
    )
    good = (
        # the "Use instead" form: a module-level def bound with partial
        Good(
            """\
import functools
import torch
import torch.nn as nn


def scaled_tanh(x, k):
    return torch.tanh(k * x)


class Net(nn.Module):
    def __init__(self, k):
        super().__init__()
        self.act = functools.partial(scaled_tanh, k=k)
"""
        ),
        # a factory that may return a module-level function is not known to return a local one
        Good(
            """\
import torch
import torch.nn as nn


def gelu(x):
    return torch.nn.functional.gelu(x)


def pick_act(name):
    if name == "gelu":
        return gelu

    def identity(x):
        return x

    return identity if name == "none" else torch.relu


class Net(nn.Module):
    def __init__(self, name):
        super().__init__()
        self.act = pick_act(name)
"""
        ),
        # a nested def called, not stored; a factory imported from elsewhere is not followed
        Good(
            """\
import torch.nn as nn
from acts import make_act


class Net(nn.Module):
    def __init__(self, k):
        super().__init__()

        def init_weights(m):
            nn.init.zeros_(m.weight)

        self.fc = nn.Linear(2, 2)
        self.fc.apply(init_weights)
        self.act = make_act(k)
"""
        ),
        # a lambda is SER201's, not this rule's
        Good(
            """\
import torch.nn as nn


class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.act = lambda x: x
"""
        ),
    )

    def check(self, ctx: FileContext) -> Iterator[Report]:
        analysis = function_analysis(ctx)
        for item in pickled_stores(ctx):
            functions = analysis.possible_local_functions(item.value, item.scope)
            for function in functions:
                if not function.is_plain_lambda:
                    # every alternative is hoisted, or the value would still not pickle
                    fix = hoist_fix(
                        analysis,
                        item.cls,
                        [(item.store.method, each, item.store.attr) for each in functions],
                        "move the function to a module-level def",
                    )
                    yield Report(
                        item.store.node,
                        f"{function.describe()} stored on {store_label(item.store)}: "
                        f"{item.consequence} ({function.pickle_error})",
                        fix=fix,
                    )
                    break  # one finding per stored value
