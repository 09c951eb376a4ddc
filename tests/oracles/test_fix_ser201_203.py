"""The SER201-SER203 fix: local functions become module-level defs, captured values go through partial.

The golden pairs under test_corpus/fixes/ser201..ser203/ are fixed exactly; names, imports and
layout follow the file; every case the fix cannot prove equivalent keeps its finding without a
fix; and fixed code is run with torch to show it behaves as the original did.
"""

from __future__ import annotations

import copy
import os
import pickle
import textwrap
from typing import Dict, List

import pytest

torch = pytest.importorskip("torch")

from serialint.findings import Applicability  # noqa: E402
from support import CORPUS, fix_text, lint_text, load_source, positions  # noqa: E402

pytestmark = pytest.mark.oracle

CODES = ("SER201", "SER202", "SER203")


def _read(relpath: str) -> str:
    with open(os.path.join(CORPUS, "fixes", relpath), encoding="utf-8", newline="") as handle:
        return handle.read()


def _fixed(text: str) -> str:
    outcome = fix_text(textwrap.dedent(text))
    assert outcome.broken_by is None
    return outcome.fixed


# -- the golden pairs --------------------------------------------------------------------------

GOLDEN = [
    # (pair, fixes applied, what remains: the cases the fix leaves to a person)
    ("ser201/activations", {"SER201": 2}, [(50, 9, "SER201"), (52, 9, "SER201")]),
    ("ser202/initializers", {"SER202": 2}, [(48, 9, "SER202"), (66, 9, "SER202")]),
    ("ser203/losses", {"SER203": 3}, [(50, 13, "SER203")]),
]


@pytest.mark.parametrize("pair, applied, remaining", GOLDEN, ids=[g[0] for g in GOLDEN])
def test_golden_in_fixes_to_golden_out(pair: str, applied: Dict[str, int], remaining: list) -> None:
    outcome = fix_text(_read(f"{pair}.in.py"))
    assert outcome.broken_by is None
    assert outcome.fixed == _read(f"{pair}.out.py")
    assert outcome.applied == applied
    assert positions(outcome.remaining) == remaining
    assert all(f.fix is None for f in outcome.remaining)


@pytest.mark.parametrize("pair", [g[0] for g in GOLDEN])
def test_golden_out_is_stable(pair: str) -> None:
    again = fix_text(_read(f"{pair}.out.py"))
    assert again.applied == {} and again.fixed == _read(f"{pair}.out.py")


def test_the_fixes_are_safe_and_described() -> None:
    found = [
        (f.code, f.fix.applicability, f.fix.description)
        for pair, _, _ in GOLDEN
        for f in lint_text(_read(f"{pair}.in.py"))
        if f.fix is not None
    ]
    assert found == [
        ("SER201", Applicability.SAFE, "move the function to a module-level def"),
        ("SER201", Applicability.SAFE, "move the function to a module-level def"),
        ("SER202", Applicability.SAFE, "move the function to a module-level def"),
        ("SER202", Applicability.SAFE, "move the function to a module-level def"),
        ("SER203", Applicability.SAFE, "move the functions to module-level defs"),
        ("SER203", Applicability.SAFE, "move the functions to module-level defs"),
        ("SER203", Applicability.SAFE, "move the functions to module-level defs"),
    ]


# -- spelling, names and layout ------------------------------------------------------------------


@pytest.mark.parametrize(
    "imports, spelled, added",
    [
        ("import torch.nn as nn\n", "functools.partial", "import functools\n"),
        ("import functools\nimport torch.nn as nn\n", "functools.partial", ""),
        ("import functools as ft\nimport torch.nn as nn\n", "ft.partial", ""),
        ("from functools import partial\nimport torch.nn as nn\n", "partial", ""),
        ("from functools import partial as bind\nimport torch.nn as nn\n", "bind", ""),
    ],
)
def test_partial_is_spelled_as_the_file_imports_it(imports: str, spelled: str, added: str) -> None:
    body = (
        "\n\nclass Net(nn.Module):\n"
        "    def __init__(self, k):\n"
        "        super().__init__()\n"
        "        self.act = lambda x: x * k\n"
    )
    assert _fixed(imports + body) == (
        imports
        + added
        + "\n\ndef _net_act(x, *, k):\n    return x * k\n"
        + body.replace("lambda x: x * k", f"{spelled}(_net_act, k=k)")
    )


def test_a_function_without_captured_values_is_stored_by_name_and_needs_no_import() -> None:
    assert _fixed(
        """\
        import torch
        import torch.nn as nn


        class Net(nn.Module):
            def __init__(self, act=None):
                super().__init__()
                self.act = act or (lambda x: torch.relu(x))
        """
    ) == textwrap.dedent(
        """\
        import torch
        import torch.nn as nn


        def _net_act(x):
            return torch.relu(x)


        class Net(nn.Module):
            def __init__(self, act=None):
                super().__init__()
                self.act = act or _net_act
        """
    )


def test_names_taken_anywhere_in_the_file_get_a_suffix_and_defs_keep_finding_order() -> None:
    assert _fixed(
        """\
        import torch.nn as nn


        def _net_act(x):
            return x


        @some_registry.register("net")
        class Net(nn.Module):
            def __init__(self, fast):
                super().__init__()
                if fast:
                    self.act = lambda x: x * 2
                else:
                    self.act = lambda x: x * 3
                self.post = lambda y: _net_act_2(y)
        """
    ) == textwrap.dedent(
        """\
        import torch.nn as nn


        def _net_act(x):
            return x


        def _net_act_3(x):
            return x * 2


        def _net_act_4(x):
            return x * 3


        def _net_post(y):
            return _net_act_2(y)


        @some_registry.register("net")
        class Net(nn.Module):
            def __init__(self, fast):
                super().__init__()
                if fast:
                    self.act = _net_act_3
                else:
                    self.act = _net_act_4
                self.post = _net_post
        """
    )


def test_tabs_crlf_multi_line_bodies_and_parameter_kinds_keep_their_layout() -> None:
    text = (
        "import torch\r\n\r\n\r\n"
        "class Mixer(torch.nn.Module):\r\n"
        "\tdef __init__(self, w):\r\n"
        "\t\tsuper().__init__()\r\n"
        "\t\tself.mix = (lambda a, /, b, *rest, scale: w * a\r\n"
        "\t\t\t+ b * scale)  # weighted\r\n"
        "\r\n"
        "\t\tdef norm(t, *, eps):\r\n"
        '\t\t\t"""Unit length."""\r\n'
        "\t\t\treturn t / (t.norm() + eps)\r\n"
        "\r\n"
        "\t\tself.norm = norm\r\n"
    )
    assert fix_text(text).fixed == (
        "import torch\r\n"
        "import functools\r\n\r\n\r\n"
        "def _mixer_mix(a, /, b, *rest, scale, w):\r\n"
        "\treturn (w * a\r\n"
        "\t\t+ b * scale)\r\n\r\n\r\n"
        "def _mixer_norm(t, *, eps):\r\n"
        '\t"""Unit length."""\r\n'
        "\treturn t / (t.norm() + eps)\r\n\r\n\r\n"
        "class Mixer(torch.nn.Module):\r\n"
        "\tdef __init__(self, w):\r\n"
        "\t\tsuper().__init__()\r\n"
        "\t\tself.mix = functools.partial(_mixer_mix, w=w)  # weighted\r\n"
        "\r\n"
        "\t\tnorm = _mixer_norm\r\n"
        "\r\n"
        "\t\tself.norm = norm\r\n"
    )


def test_a_one_line_def_and_the_comments_closing_a_body_move_with_the_def() -> None:
    assert _fixed(
        """\
        import torch.nn as nn


        class Net(nn.Module):
            def __init__(self):
                super().__init__()

                def act(x): return x * 2

                def post(x):
                    return x
                    # identity for now

                self.act, self.post = act, post
                self.store = post
        """
    ) == textwrap.dedent(
        """\
        import torch.nn as nn


        def _net_act(x): return x * 2


        def _net_post(x):
            return x
            # identity for now


        class Net(nn.Module):
            def __init__(self):
                super().__init__()

                act = _net_act

                post = _net_post

                self.act, self.post = act, post
                self.store = post
        """
    )


def test_a_function_put_in_a_container_later_is_hoisted_in_place() -> None:
    assert _fixed(
        """\
        from collections import OrderedDict
        from functools import partial

        import torch.nn as nn


        class Hooks(nn.Module):
            def __init__(self):
                super().__init__()
                self.post = OrderedDict()
                self.pre = []

            def add(self, name, cap):
                self.post[name] = lambda x: x.clamp(max=cap)
                self.pre.insert(0, lambda x: x.float())
        """
    ) == textwrap.dedent(
        """\
        from collections import OrderedDict
        from functools import partial

        import torch.nn as nn


        def _hooks_post(x, *, cap):
            return x.clamp(max=cap)


        def _hooks_pre(x):
            return x.float()


        class Hooks(nn.Module):
            def __init__(self):
                super().__init__()
                self.post = OrderedDict()
                self.pre = []

            def add(self, name, cap):
                self.post[name] = partial(_hooks_post, cap=cap)
                self.pre.insert(0, _hooks_pre)
        """
    )


# -- where the fix declines ------------------------------------------------------------------

DECLINED = {
    "self is captured": """\
        class Net(nn.Module):
            def __init__(self):
                super().__init__()
                self.scale = 2.0
                self.act = lambda x: x * self.scale
        """,
    "a captured value read from self": """\
        class Net(nn.Module):
            def __init__(self):
                super().__init__()
                self.fc = nn.Linear(2, 2)
                fc = self.fc
                self.act = lambda x: fc(x).relu()
        """,
    "annotations on a nested def": """\
        class Net(nn.Module):
            def __init__(self):
                super().__init__()

                def act(x: "torch.Tensor") -> "torch.Tensor":
                    return x.relu()

                self.act = act
        """,
    "a default-argument trick": """\
        class Net(nn.Module):
            def __init__(self, k):
                super().__init__()
                self.act = lambda x, k=k: x * k
        """,
    "the captured name is reassigned later": """\
        class Net(nn.Module):
            def __init__(self):
                super().__init__()
                k = 1.0
                self.act = lambda x: x * k
                k = 2.0
        """,
    "a captured parameter is rebound": """\
        class Net(nn.Module):
            def __init__(self, k):
                super().__init__()
                k = float(k)
                self.act = lambda x: x * k
        """,
    "the captured name is bound in a branch": """\
        class Net(nn.Module):
            def __init__(self, big):
                super().__init__()
                if big:
                    k = 2.0
                else:
                    k = 1.0
                self.act = lambda x: x * k
        """,
    "the captured name is a loop target": """\
        class Net(nn.Module):
            def __init__(self):
                super().__init__()
                for k in range(1):
                    pass
                self.act = lambda x: x * k
        """,
    "the captured name is bound by a walrus": """\
        class Net(nn.Module):
            def __init__(self, cfg):
                super().__init__()
                if (k := cfg.k) > 0:
                    pass
                self.act = lambda x: x * k
        """,
    "the captured name is declared global": """\
        class Net(nn.Module):
            def __init__(self):
                super().__init__()
                global K
                K = 2.0
                self.act = lambda x: x * K
        """,
    "the captured name is bound after the lambda is created": """\
        class Net(nn.Module):
            def __init__(self):
                super().__init__()
                self.act = lambda x: x * k
                k = 2.0
        """,
    "the captured value is a local function": """\
        class Net(nn.Module):
            def __init__(self):
                super().__init__()

                def helper(x):
                    return x + 1

                self.act = lambda x: helper(x) * 2
        """,
    "a comprehension inside": """\
        class Net(nn.Module):
            def __init__(self, k):
                super().__init__()
                self.act = lambda xs: [x * k for x in xs]
        """,
    "a nested lambda inside": """\
        class Net(nn.Module):
            def __init__(self):
                super().__init__()
                self.act = lambda x: (lambda y: y)(x)
        """,
    "a private name the class mangles": """\
        class Net(nn.Module):
            def __init__(self):
                super().__init__()
                self.act = lambda other: other.__secret
        """,
    "**kwargs with a captured value": """\
        class Net(nn.Module):
            def __init__(self, k):
                super().__init__()
                self.act = lambda x, **kw: x * k
        """,
    "super() without arguments in a nested def": """\
        class Net(nn.Linear):
            def __init__(self):
                super().__init__(2, 2)

                def base(x):
                    return super().forward(x)

                self.base = base
        """,
    "nonlocal in a nested def": """\
        class Net(nn.Module):
            def __init__(self):
                super().__init__()
                calls = 0

                def count(x):
                    nonlocal calls
                    calls += 1
                    return x

                self.count = count
        """,
    "a generator": """\
        class Net(nn.Module):
            def __init__(self):
                super().__init__()

                def chunks(x):
                    yield from x.split(2)

                self.chunks = chunks
        """,
    "recursion through its own local name": """\
        class Net(nn.Module):
            def __init__(self):
                super().__init__()

                def walk(m):
                    return [m] + [c for c in m.children() for c in walk(c)]

                self.walk = walk
        """,
    "a nested def not at the method's top level": """\
        class Net(nn.Module):
            def __init__(self, fancy):
                super().__init__()
                if fancy:
                    def act(x):
                        return x * 2

                    self.act = act
        """,
    "a closure returned by a factory": """\
        def make(k):
            return lambda x: x * k


        class Net(nn.Module):
            def __init__(self):
                super().__init__()
                self.act = make(2)
        """,
    "a module-level lambda": """\
        ACT = lambda x: x  # noqa: E731


        class Net(nn.Module):
            def __init__(self):
                super().__init__()
                self.act = ACT
        """,
    "a container also holding a factory's closure": """\
        def make(k):
            return lambda x: x * k


        class Net(nn.Module):
            def __init__(self):
                super().__init__()
                self.acts = [lambda x: x, make(2)]
        """,
    "an alternative that cannot be hoisted": """\
        class Net(nn.Module):
            def __init__(self, k, fast):
                super().__init__()
                self.act = (lambda x: x) if fast else (lambda x, k=k: x * k)
        """,
}


@pytest.mark.parametrize("why", list(DECLINED))
def test_the_fix_declines_what_it_cannot_prove(why: str) -> None:
    text = "import torch.nn as nn\n\n\n" + textwrap.dedent(DECLINED[why])
    findings = [f for f in lint_text(text) if f.code in CODES]
    assert len(findings) == 1, findings
    assert findings[0].fix is None
    outcome = fix_text(text)
    assert outcome.fixed == text and outcome.applied == {}


def test_a_class_nested_in_a_function_is_not_fixed() -> None:
    text = textwrap.dedent(
        """\
        import torch.nn as nn


        def build():
            class Net(nn.Module):
                def __init__(self):
                    super().__init__()
                    self.act = lambda x: x

            return Net()
        """
    )
    assert all(f.fix is None for f in lint_text(text))
    assert fix_text(text).fixed == text


# -- fixed code behaves as the original did ------------------------------------------------------

BEHAVIOUR = """\
import functools
import torch
import torch.nn as nn

SHIFT = 0.25


class Net(nn.Module):
    def __init__(self, k, table):
        super().__init__()
        self.fc = nn.Linear(4, 4)
        scale = k * 2
        self.act = lambda x, *rest, bias: torch.tanh(scale * x + SHIFT + bias) + sum(rest)
        self.table = table
        self.lookup = lambda key: table[key]
        self.losses = {"l1": lambda a, b: (a - b).abs().mean() * k, "id": lambda a, b: a.sum()}
        self.acts = [torch.relu, functools.partial(lambda x, p: x ** p, p=2)]

        def init(m):
            if isinstance(m, nn.Linear):
                nn.init.constant_(m.weight, 1.0 / scale)

        self.init = init
        self.apply(init)

    def forward(self, x):
        y = self.act(self.fc(x), 1.0, bias=0.5)
        for fn in self.acts:
            y = fn(y)
        return y + self.losses["l1"](y, x) + self.losses["id"](y, x)
"""


def _outputs(model) -> List:  # type: ignore[no-untyped-def]
    x = torch.linspace(-1.0, 1.0, 8).reshape(2, 4)
    return [model(x), model.act(x, 2.0, bias=1.0), model.lookup("a"), model.table]


def test_fixed_code_gives_the_same_results_and_pickles(tmp_path) -> None:
    fixed = fix_text(BEHAVIOUR)
    assert fixed.applied == {"SER201": 2, "SER202": 1, "SER203": 2}
    assert fixed.remaining == []
    original = load_source(BEHAVIOUR, tmp_path)
    rewritten = load_source(fixed.fixed, tmp_path)
    torch.manual_seed(0)
    before = original.Net(0.5, {"a": 3})
    torch.manual_seed(0)
    after = rewritten.Net(0.5, {"a": 3})
    assert after.state_dict().keys() == before.state_dict().keys()
    assert all(torch.equal(before.state_dict()[k], v) for k, v in after.state_dict().items())
    want, got = _outputs(before), _outputs(after)
    assert torch.equal(want[0], got[0]) and torch.equal(want[1], got[1]) and want[2:] == got[2:]
    # the captured object is the very one the closure held, not a copy
    assert after.lookup.keywords["table"] is after.table
    with pytest.raises((AttributeError, pickle.PicklingError), match="local object"):
        pickle.dumps(before)
    loaded = pickle.loads(pickle.dumps(after))
    assert torch.equal(loaded(torch.ones(2, 4)), after(torch.ones(2, 4)))
    # a checkpoint written by the unfixed class loads into the fixed one
    after.load_state_dict(before.state_dict())


def test_a_partial_of_self_would_pickle_but_change_what_a_deep_copy_reads(tmp_path) -> None:
    """Why a lambda reading `self` is left alone: the copy's function would read the copy."""
    module = load_source(
        textwrap.dedent(
            """\
            import functools
            import torch.nn as nn


            def _net_act(self, x):
                return x * self.scale


            class Original(nn.Module):
                def __init__(self):
                    super().__init__()
                    self.scale = 2.0
                    self.act = lambda x: x * self.scale


            class Rewritten(nn.Module):
                def __init__(self):
                    super().__init__()
                    self.scale = 2.0
                    self.act = functools.partial(_net_act, self)
            """
        ),
        tmp_path,
    )
    rewritten = pickle.loads(pickle.dumps(module.Rewritten()))
    assert rewritten.act.args[0] is rewritten and rewritten.act(1.0) == 2.0
    copies = []
    for cls in (module.Original, module.Rewritten):
        clone = copy.deepcopy(cls())
        clone.scale = 5.0
        copies.append(clone.act(1.0))
    assert copies == [2.0, 5.0]
