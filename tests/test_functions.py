"""serialint.functions: which expressions are local functions, and the qualname pickle will name."""

from __future__ import annotations

import ast
import textwrap
from typing import List, Optional, Tuple

import libcst as cst
import pytest

from serialint.config import Settings
from serialint.functions import (
    FunctionAnalysis,
    FunctionKind,
    LocalFunction,
    Scope,
    function_analysis,
    pickled_stores,
)
from serialint.index import ProjectIndex, summarize
from serialint.model import FileContext
from support import lint_text


def _context(text: str) -> FileContext:
    text = textwrap.dedent(text)
    summary = summarize("example.py", ast.parse(text), "example", False)
    return FileContext("example.py", cst.parse_module(text), summary, ProjectIndex([summary]), Settings())


def _stored(text: str, attr: str) -> Tuple[FunctionAnalysis, Scope, cst.BaseExpression]:
    """The analysis, method scope and value of the one `self.<attr> = value` in the text."""
    ctx = _context(text)
    analysis = function_analysis(ctx)
    found = [(cls, store) for cls in ctx.classes for store in cls.stores if store.attr == attr]
    assert len(found) == 1, found
    cls, store = found[0]
    assert store.value is not None
    return analysis, analysis.method_scope(cls, store.method), store.value


def _resolve(text: str, attr: str = "f") -> Optional[LocalFunction]:
    analysis, scope, value = _stored(text, attr)
    return analysis.local_function(value, scope)


def _qualnames(text: str, attr: str = "f") -> List[str]:
    analysis, scope, value = _stored(text, attr)
    return [f.qualname for f in analysis.possible_local_functions(value, scope)]


# -- lambdas and local defs ------------------------------------------------------------------


def test_lambda_in_a_method_carries_the_method_qualname():
    function = _resolve(
        """
        class Net:
            def __init__(self):
                self.f = lambda x: x
        """
    )
    assert function is not None
    assert function.kind is FunctionKind.LAMBDA
    assert function.qualname == "Net.__init__.<locals>.<lambda>"
    assert function.is_local and function.is_plain_lambda
    assert isinstance(function.node, cst.Lambda)
    assert function.describe() == "lambda"
    assert function.pickle_error == "Can't pickle local object 'Net.__init__.<locals>.<lambda>'"


def test_nested_class_and_other_method_names_are_in_the_qualname():
    function = _resolve(
        """
        class Outer:
            class Inner:
                def build(self, k):
                    self.f = lambda x: x * k
        """
    )
    assert function is not None and function.qualname == "Outer.Inner.build.<locals>.<lambda>"


def test_name_bound_once_to_a_lambda_is_followed():
    function = _resolve(
        """
        class Net:
            def __init__(self):
                g = lambda x: x
                h = g
                self.f = h
        """
    )
    assert function is not None and function.qualname == "Net.__init__.<locals>.<lambda>"


def test_local_def_is_a_local_function():
    function = _resolve(
        """
        class Net:
            def __init__(self):
                if True:
                    def scaled(x):
                        return 2 * x
                self.f = scaled
        """
    )
    assert function is not None
    assert function.kind is FunctionKind.LOCAL_DEF
    assert function.name == "scaled"
    assert function.qualname == "Net.__init__.<locals>.scaled"
    assert isinstance(function.node, cst.FunctionDef)
    assert function.describe() == "local function scaled"


def test_async_local_def_is_a_local_function():
    function = _resolve(
        """
        class Net:
            def __init__(self):
                async def fetch():
                    return 1
                self.f = fetch
        """
    )
    assert function is not None and function.qualname == "Net.__init__.<locals>.fetch"


@pytest.mark.parametrize(
    "body",
    [
        # bound twice
        "g = lambda x: x\n        g = torch.relu\n        self.f = g",
        # bound twice, once by a walrus
        "g = lambda x: x\n        if (g := pick()):\n            pass\n        self.f = g",
        # a parameter
        "self.f = act",
        # a parameter rebound
        "act = lambda x: x\n        self.f = act",
        # imported inside the method, after a lambda
        "g = lambda x: x\n        from mod import g\n        self.f = g",
        # a loop target
        "for g in (lambda x: x, abs):\n            pass\n        self.f = g",
        # declared global: its value is whatever the module holds at call time
        "global G\n        G = lambda x: x\n        self.f = G",
        # deleted and rebound elsewhere
        "g = lambda x: x\n        del g\n        self.f = g",
        # a decorated local def may be replaced by its decorator
        "@torch.no_grad()\n        def g(x):\n            return x\n        self.f = g",
        # the lambda is called, not stored
        "self.f = (lambda: torch.relu)()",
        # a comprehension variable shadows nothing in the method
        "self.f = [g for g in fns][0]",
    ],
)
def test_unknown_or_rebound_values_are_not_local_functions(body):
    text = f"import torch\n\nclass Net:\n    def __init__(self, act, fns, pick):\n        {body}\n"
    assert _resolve(text) is None


@pytest.mark.parametrize(
    "value",
    ["self.method", "Net.method", "torch.relu", "operator.add", "max", "top_level", "ALIAS", "nn.ReLU()", "None"],
)
def test_functions_that_pickle_by_name_are_not_local(value):
    text = f"""
    import operator
    import torch
    from torch import nn


    def top_level(x):
        return x


    ALIAS = top_level


    class Net:
        def __init__(self):
            self.f = {value}

        def method(self, x):
            return x
    """
    assert _resolve(text) is None


def test_module_level_lambda_is_named_and_not_local():
    function = _resolve(
        """
        SWISH = lambda x: x

        class Net:
            def __init__(self):
                act = SWISH
                self.f = act
        """
    )
    assert function is not None
    assert function.qualname == "<lambda>"
    assert not function.is_local and function.is_plain_lambda
    assert function.name == "SWISH"
    assert function.describe() == "module-level lambda SWISH"
    assert function.pickle_error == "pickle looks functions up by __qualname__, and no module defines '<lambda>'"


def test_module_level_name_bound_twice_is_not_followed():
    assert (
        _resolve(
            """
            ACT = lambda x: x
            if FAST:
                ACT = abs

            class Net:
                def __init__(self):
                    self.f = ACT
            """
        )
        is None
    )


def test_method_local_binding_shadows_the_module_level_lambda():
    assert (
        _resolve(
            """
            ACT = lambda x: x

            class Net:
                def __init__(self, ACT):
                    self.f = ACT
            """
        )
        is None
    )


# -- functools.partial -----------------------------------------------------------------------


@pytest.mark.parametrize(
    "imports, call",
    [
        ("import functools", "functools.partial"),
        ("from functools import partial", "partial"),
        ("from functools import partial as bind", "bind"),
        ("import functools as ft", "ft.partial"),
    ],
)
def test_partial_of_a_lambda_is_a_local_function(imports, call):
    function = _resolve(
        f"""
        {imports}

        class Net:
            def __init__(self):
                self.f = {call}(lambda x, k: x * k, k=2)
        """
    )
    assert function is not None and function.partial
    assert function.qualname == "Net.__init__.<locals>.<lambda>"
    assert function.describe() == "functools.partial of a lambda"


def test_partial_of_partial_of_a_local_def():
    function = _resolve(
        """
        from functools import partial

        class Net:
            def __init__(self):
                def scale(x, k, b):
                    return x * k + b
                inner = partial(scale, k=2)
                self.f = partial(inner, b=1)
        """
    )
    assert function is not None and function.partial
    assert function.describe() == "functools.partial of local function scale"


@pytest.mark.parametrize(
    "value",
    [
        "functools.partial(top_level, k=2)",
        "functools.partial(self.method, k=2)",
        "functools.partial(torch.add, other=1)",
        "functools.partial(*fns)",
        "mylib.partial(lambda x: x)",  # not functools
    ],
)
def test_partial_of_a_picklable_function_is_not_local(value):
    text = f"""
    import functools
    import mylib
    import torch


    def top_level(x, k):
        return x * k


    class Net:
        def __init__(self, fns):
            self.f = {value}

        def method(self, x, k):
            return x
    """
    assert _resolve(text) is None


def test_a_local_name_shadowing_partial_is_not_functools():
    assert (
        _resolve(
            """
            from functools import partial

            class Net:
                def __init__(self, partial):
                    self.f = partial(lambda x: x)
            """
        )
        is None
    )


# -- factories -------------------------------------------------------------------------------


def test_factory_returning_a_nested_def():
    function = _resolve(
        """
        def make(k):
            def scaled(x):
                return x * k
            return scaled

        class Net:
            def __init__(self):
                self.f = make(2)
        """
    )
    assert function is not None
    assert function.factory == "make"
    assert function.qualname == "make.<locals>.scaled"
    assert function.describe() == "local function returned by make()"
    assert not function.is_plain_lambda


def test_factory_returning_lambdas_on_every_path():
    function = _resolve(
        """
        def make(k, soft):
            if soft:
                return lambda x: x * k
            elif k:
                return lambda x: x
            else:
                raise ValueError(k)

        class Net:
            def __init__(self):
                self.f = make(2, True)
        """
    )
    assert function is not None and function.qualname == "make.<locals>.<lambda>"


def test_factory_of_a_factory():
    function = _resolve(
        """
        def inner(k):
            return lambda x: x * k

        def outer(k):
            return inner(k)

        class Net:
            def __init__(self):
                self.f = outer(2)
        """
    )
    assert function is not None
    assert function.factory == "outer"
    assert function.qualname == "inner.<locals>.<lambda>"


def test_factory_nested_in_the_method():
    function = _resolve(
        """
        class Net:
            def __init__(self):
                def make(k):
                    return lambda x: x * k
                self.f = make(3)
        """
    )
    assert function is not None
    assert function.qualname == "Net.__init__.<locals>.make.<locals>.<lambda>"


@pytest.mark.parametrize("decorator", ["", "@staticmethod\n    ", "@classmethod\n    "])
def test_factory_method_of_the_class(decorator):
    params = "(k)" if "static" in decorator else "(self, k)"
    text = f"""
class Net:
    def __init__(self):
        self.f = self._make(2)

    {decorator}def _make{params}:
        return lambda x: x * k
"""
    function = _resolve(text)
    assert function is not None
    assert function.factory == "self._make"
    assert function.qualname == "Net._make.<locals>.<lambda>"
    assert function.describe() == "local function returned by self._make()"


@pytest.mark.parametrize(
    "factory",
    [
        # may return a module-level function
        "def make(k):\n    if k:\n        return lambda x: x\n    return abs",
        # may fall off the end and return None
        "def make(k):\n    if k:\n        return lambda x: x",
        # returns its argument
        "def make(fn):\n    return fn",
        # a generator
        "def make(k):\n    yield lambda x: x\n    return lambda x: x",
        # a coroutine
        "async def make(k):\n    return lambda x: x",
        # a decorator may change what the call returns
        "@functools.lru_cache\ndef make(k):\n    return lambda x: x",
        # returns a module-level lambda, which is SER201's kind, not a closure
        "SWISH = lambda x: x\ndef make(k):\n    return SWISH",
        # calls itself forever: the depth guard gives up
        "def make(k):\n    return make(k)",
        # try statements are not followed
        "def make(k):\n    try:\n        return lambda x: x\n    except ValueError:\n        return abs",
    ],
)
def test_factories_that_may_return_something_else_are_not_followed(factory):
    text = f"import functools\n\n{factory}\n\nclass Net:\n    def __init__(self):\n        self.f = make(1)\n"
    assert _resolve(text) is None


def test_a_factory_method_missing_from_the_class_is_not_followed():
    assert (
        _resolve(
            """
            class Net(Base):
                def __init__(self):
                    self.f = self._make(2)
            """
        )
        is None
    )


def test_an_imported_factory_is_not_followed():
    assert (
        _resolve(
            """
            from acts import make

            class Net:
                def __init__(self):
                    self.f = make(2)
            """
        )
        is None
    )


# -- alternatives ----------------------------------------------------------------------------


def test_both_arms_of_if_else_and_or_are_alternatives():
    assert _qualnames(
        """
        SWISH = lambda x: x

        class Net:
            def __init__(self, act, fast):
                self.f = (lambda x: x) if fast else (act or SWISH)
        """
    ) == ["Net.__init__.<locals>.<lambda>", "<lambda>"]


def test_alternatives_through_a_name_bound_to_a_conditional():
    assert _qualnames(
        """
        class Net:
            def __init__(self, act):
                fallback = act or (lambda x: x)
                self.f = fallback
        """
    ) == ["Net.__init__.<locals>.<lambda>"]


def test_the_certain_answer_ignores_conditional_alternatives():
    assert (
        _resolve(
            """
            class Net:
                def __init__(self, act):
                    self.f = act or (lambda x: x)
            """
        )
        is None
    )


# -- containers ------------------------------------------------------------------------------


def _containers(text: str, attr: str = "f") -> List[Tuple[str, List[str], List[str]]]:
    analysis, scope, value = _stored(text, attr)
    return [
        (c.kind, c.paths(), [e.function.qualname for e in c.entries])
        for c in analysis.possible_containers(value, scope)
    ]


def test_dict_of_lambdas_names_the_keys():
    assert _containers(
        """
        import torch

        class Net:
            def __init__(self):
                self.f = {"mse": lambda a, b: a - b, 'l1': torch.abs, 3: lambda a, b: a}
        """
    ) == [("dict", ['["mse"]', "[3]"], ["Net.__init__.<locals>.<lambda>"] * 2)]


def test_nested_containers_and_names_are_followed():
    assert _containers(
        """
        def make(k):
            def scaled(x):
                return x * k
            return scaled

        class Net:
            def __init__(self, extra):
                inner = [abs, lambda x: x]
                self.f = {"a": (inner, make(2)), "b": {lambda x: x}, "c": [*extra, lambda x: x]}
        """
    ) == [
        (
            "dict",
            ['["a"][0][1]', '["a"][1]', '["b"]', '["c"][?]'],
            [
                "Net.__init__.<locals>.<lambda>",
                "make.<locals>.scaled",
                "Net.__init__.<locals>.<lambda>",
                "Net.__init__.<locals>.<lambda>",
            ],
        )
    ]


def test_a_set_has_no_positions():
    assert _containers(
        """
        class Net:
            def __init__(self):
                self.f = {abs, lambda x: x}
        """
    ) == [("set", [], ["Net.__init__.<locals>.<lambda>"])]


def test_dict_call_with_keywords_is_a_dict():
    assert _containers(
        """
        class Net:
            def __init__(self):
                self.f = dict(relu=abs, swish=lambda x: x)
        """
    ) == [("dict", ['["swish"]'], ["Net.__init__.<locals>.<lambda>"])]


def test_module_level_registry_of_lambdas():
    assert _containers(
        """
        ACTS = {"id": lambda x: x}

        class Net:
            def __init__(self):
                self.f = ACTS
        """
    ) == [("dict", ['["id"]'], ["<lambda>"])]


@pytest.mark.parametrize(
    "value",
    [
        "{'relu': torch.relu, 'm': self.method, 'p': functools.partial(abs)}",
        "[]",
        "dict(fn=lambda x: x)",  # `dict` is rebound below
        "nn.ModuleDict({'a': nn.Linear(2, 2)})",
        "OrderedDict([('a', lambda x: x)])",
        "[lambda x: x for _ in range(2)]",
        "lambda x: x",  # a function, not a container
    ],
)
def test_values_that_are_not_containers_of_local_functions(value):
    text = f"""
    import functools
    from collections import OrderedDict

    import torch
    from torch import nn

    dict = OrderedDict


    class Net:
        def __init__(self):
            self.f = {value}

        def method(self):
            pass
    """
    assert _containers(text) == []


# -- scopes and stores -----------------------------------------------------------------------


def test_scope_lookup_walks_out_to_the_module_and_skips_the_class_body():
    ctx = _context(
        """
        X = lambda: 0

        class Net:
            X = abs

            def __init__(self, y):
                z = 1
        """
    )
    analysis = function_analysis(ctx)
    cls = ctx.classes[0]
    scope = analysis.method_scope(cls, cls.methods["__init__"])
    found = scope.lookup("X")
    assert found is not None and isinstance(found[0], cst.Lambda) and found[1] is analysis.module_scope
    assert scope.lookup("y") is None  # a parameter
    assert scope.lookup("len") is None  # a builtin
    assert scope.shadows("z") and scope.shadows("X") and not scope.shadows("len")
    assert scope.qualname == "Net.__init__" and scope.local_qualname("g") == "Net.__init__.<locals>.g"
    assert analysis.module_scope.local_qualname("g") == "g"


def test_one_analysis_per_file_context():
    ctx = _context("x = 1\n")
    assert function_analysis(ctx) is function_analysis(ctx)
    assert function_analysis(_context("x = 1\n")) is not function_analysis(ctx)


def test_pickled_stores_cover_module_classes_without_pickle_methods():
    ctx = _context(
        """
        import torch.nn as nn

        class Base(nn.Module):
            def __reduce_ex__(self, protocol):
                return super().__reduce_ex__(protocol)

        class Custom(Base):
            def __init__(self):
                self.a = lambda: 0

        class Plain:
            def __init__(self):
                self.b = lambda: 0

        class Net(nn.Module):
            def __init__(self, c):
                self.c, self.d = c
                self.e = lambda: 0
        """
    )
    stores = [(item.cls.name, item.store.attr, item.consequence) for item in pickled_stores(ctx)]
    assert stores == [("Net", "e", "torch.save(model) and pickle fail")]


def test_a_visibly_pickled_plain_class_is_named_in_the_message():
    findings = lint_text(
        """\
import pickle


class Config:
    def __init__(self):
        self.hook = lambda step: step


pickle.dumps(Config())
"""
    )
    assert [(f.code, f.line, f.column + 1, f.message) for f in findings] == [
        (
            "SER201",
            6,
            9,
            "lambda stored on self.hook: pickling a Config (torch.save, pickle) fails "
            "(Can't pickle local object 'Config.__init__.<locals>.<lambda>')",
        )
    ]


def test_each_stored_value_is_reported_by_exactly_one_of_ser201_to_ser203():
    findings = lint_text(
        """\
import functools
import torch.nn as nn


def make(k):
    return lambda x: x * k


class Net(nn.Module):
    def __init__(self, act):
        super().__init__()

        def local(x):
            return x

        self.a = lambda x: x
        self.b = local
        self.c = make(2)
        self.d = {"a": lambda x: x, "b": local}
        self.e = [make(3)]
        self.f = functools.partial(lambda x, k: x, k=1)
        self.g = act or (lambda x: x) or [lambda x: x]
"""
    )
    assert [(f.line, f.code) for f in findings] == [
        (16, "SER201"),
        (17, "SER202"),
        (18, "SER202"),
        (19, "SER203"),
        (20, "SER203"),
        (21, "SER201"),
        (22, "SER201"),
        (22, "SER203"),  # two different values: the lambda, and the list holding another one
    ]
