"""SER104's fix: plain containers of Modules / Parameters become nn.ModuleList and friends.

The golden pair under test_corpus/fixes/ser104/ is fixed exactly; the spelling of `nn` follows
the file's imports; every case the fix cannot prove equivalent keeps its finding without a fix;
and fixed code is run with torch to show the uses the fix allows behave the same.
"""

from __future__ import annotations

import os
import textwrap
from typing import List

import pytest

torch = pytest.importorskip("torch")

from serialint.findings import Applicability  # noqa: E402
from serialint.rules.ser104_unregistered_submodule_container import _RESERVED_KEYS  # noqa: E402
from support import CORPUS, fix_text, lint_text, load_source, positions  # noqa: E402

pytestmark = pytest.mark.oracle

GOLDEN = os.path.join(CORPUS, "fixes", "ser104")


def _read(name: str) -> str:
    with open(os.path.join(GOLDEN, name), encoding="utf-8", newline="") as handle:
        return handle.read()


def _fixed(text: str) -> str:
    outcome = fix_text(text, unsafe=True)
    assert outcome.broken_by is None
    return outcome.fixed


# -- the golden pair ---------------------------------------------------------------------------


def test_golden_in_fixes_to_golden_out() -> None:
    outcome = fix_text(_read("zoo_blocks.in.py"), unsafe=True)
    assert outcome.broken_by is None
    assert outcome.fixed == _read("zoo_blocks.out.py")
    assert outcome.applied == {"SER104": 5}
    # run-time keys, a list joined with another, Modules mixed with Parameters: left to a person
    assert positions(outcome.remaining) == [(63, 9, "SER104"), (75, 9, "SER104"), (88, 9, "SER104")]


def test_golden_out_is_stable() -> None:
    again = fix_text(_read("zoo_blocks.out.py"), unsafe=True)
    assert again.applied == {} and again.fixed == _read("zoo_blocks.out.py")


def test_the_fix_is_unsafe_and_not_applied_by_plain_fix() -> None:
    text = _read("zoo_blocks.in.py")
    fixes = [f.fix for f in lint_text(text) if f.code == "SER104" and f.fix is not None]
    assert [f.applicability for f in fixes] == [Applicability.UNSAFE] * 5
    assert [f.description for f in fixes] == [
        'hold "stages" in nn.ModuleList',
        'hold "heads" in nn.ModuleDict',
        'hold "gates" in nn.ParameterList',
        'hold "experts" in nn.ModuleList',
        'hold "blocks" in nn.ModuleList',
    ]
    outcome = fix_text(text, unsafe=False)
    assert outcome.applied == {} and outcome.fixed == text


# -- spelling and formatting -------------------------------------------------------------------

MLP = """\
{imports}


class MLP({module}):
    def __init__(self, d):
        super().__init__()
        self.layers = [{linear}(d, d) for _ in range(3)]
"""


@pytest.mark.parametrize(
    "imports, module, linear, container, added",
    [
        ("import torch.nn as nn", "nn.Module", "nn.Linear", "nn.ModuleList", None),
        ("from torch import nn as tnn", "tnn.Module", "tnn.Linear", "tnn.ModuleList", None),
        ("from torch.nn import Linear, Module, ModuleList", "Module", "Linear", "ModuleList", None),
        ("from torch.nn import Linear, Module", "Module", "Linear", "torch.nn.ModuleList", "import torch.nn"),
        ("import torch", "torch.nn.Module", "torch.nn.Linear", "torch.nn.ModuleList", "import torch.nn"),
    ],
)
def test_container_is_spelled_as_the_file_imports_it(imports, module, linear, container, added) -> None:
    text = MLP.format(imports=imports, module=module, linear=linear)
    new_imports = imports if added is None else f"{imports}\n{added}"
    want = MLP.format(imports=new_imports, module=module, linear=linear).replace(
        f"= [{linear}(d, d) for _ in range(3)]", f"= {container}([{linear}(d, d) for _ in range(3)])"
    )
    assert _fixed(text) == want


def test_two_fixes_add_the_import_once() -> None:
    text = (
        "from torch.nn import Linear, Module, Parameter\nimport torch\n\n\n"
        "class Net(Module):\n"
        "    def __init__(self, d):\n"
        "        super().__init__()\n"
        "        self.layers = [Linear(d, d)]\n"
        "        self.ws = [Parameter(torch.ones(d))]\n"
    )
    assert _fixed(text) == (
        "from torch.nn import Linear, Module, Parameter\nimport torch\nimport torch.nn\n\n\n"
        "class Net(Module):\n"
        "    def __init__(self, d):\n"
        "        super().__init__()\n"
        "        self.layers = torch.nn.ModuleList([Linear(d, d)])\n"
        "        self.ws = torch.nn.ParameterList([Parameter(torch.ones(d))])\n"
    )


def test_tabs_crlf_and_a_multi_line_tuple_keep_their_layout() -> None:
    text = (
        "from torch import nn\r\n\r\n\r\n"
        "class Stem(nn.Module):\r\n"
        "\tdef __init__(self, c):\r\n"
        "\t\tsuper().__init__()\r\n"
        "\t\tself.stages = (  # conv, then norm\r\n"
        "\t\t\tnn.Conv2d(3, c, 3),\r\n"
        "\t\t\tnn.BatchNorm2d(c),\r\n"
        "\t\t)\r\n"
    )
    assert _fixed(text) == (
        "from torch import nn\r\n\r\n\r\n"
        "class Stem(nn.Module):\r\n"
        "\tdef __init__(self, c):\r\n"
        "\t\tsuper().__init__()\r\n"
        "\t\tself.stages = nn.ModuleList([  # conv, then norm\r\n"
        "\t\t\tnn.Conv2d(3, c, 3),\r\n"
        "\t\t\tnn.BatchNorm2d(c),\r\n"
        "\t\t])\r\n"
    )


def test_parenthesised_list_and_explicit_base_init() -> None:
    text = (
        "from torch import nn\n\n\n"
        "class Net(nn.Module):\n"
        "    def __init__(self, d):\n"
        "        nn.Module.__init__(self)\n"
        "        self.layers = ( [nn.Linear(d, d)] )\n"
        "        self.heads = dict()\n"
        '        self.heads["cls"] = nn.Linear(d, 2)\n'
    )
    assert _fixed(text) == (
        "from torch import nn\n\n\n"
        "class Net(nn.Module):\n"
        "    def __init__(self, d):\n"
        "        nn.Module.__init__(self)\n"
        "        self.layers = nn.ModuleList([nn.Linear(d, d)])\n"
        "        self.heads = nn.ModuleDict()\n"
        '        self.heads["cls"] = nn.Linear(d, 2)\n'
    )


# -- fixed code behaves the same ---------------------------------------------------------------

SUPPORTED_USES = """\
import torch
from torch import nn


class Tower(nn.Module):
    def __init__(self, d):
        super().__init__()
        self.layers = [nn.Linear(d, d), nn.Linear(d, d)]
        self.layers.insert(0, nn.Linear(d, d))
        self.layers.extend([nn.Linear(d, d)])
        self.heads = {"cls": nn.Linear(d, 2)}
        self.heads["reg"] = nn.Linear(d, 1)
        self.bias = {"cls": nn.Parameter(torch.zeros(2)), "reg": nn.Parameter(torch.zeros(1))}

    def forward(self, x):
        for i, layer in enumerate(reversed(self.layers)):
            x = layer(x) + i
        x = self.layers[-1](x) + len(self.layers)
        for layer in self.layers[1:3]:
            x = layer(x)
        out = {}
        for name in sorted(self.heads):
            if name in self.heads and name in self.bias:
                out[name] = self.heads[name](x) + self.bias[name]
        assert list(self.heads.keys()) == list(self.bias.keys())
        assert len(self.heads) == len([v for v in self.heads.values()])
        assert len(self.heads) == len(list(zip(self.heads, self.bias.items())))
        return out
"""


def test_supported_uses_are_fixed_and_behave_the_same(tmp_path) -> None:
    fixed = _fixed(SUPPORTED_USES)
    assert fixed == (
        SUPPORTED_USES.replace(
            "self.layers = [nn.Linear(d, d), nn.Linear(d, d)]",
            "self.layers = nn.ModuleList([nn.Linear(d, d), nn.Linear(d, d)])",
        )
        .replace('self.heads = {"cls": nn.Linear(d, 2)}', 'self.heads = nn.ModuleDict({"cls": nn.Linear(d, 2)})')
        .replace(
            'self.bias = {"cls": nn.Parameter(torch.zeros(2)), "reg": nn.Parameter(torch.zeros(1))}',
            'self.bias = nn.ParameterDict({"cls": nn.Parameter(torch.zeros(2)), '
            '"reg": nn.Parameter(torch.zeros(1))})',
        )
    )
    plain, registered = load_source(SUPPORTED_USES, tmp_path), load_source(fixed, tmp_path)
    torch.manual_seed(0)
    before = plain.Tower(3)
    torch.manual_seed(0)
    after = registered.Tower(3)
    x = torch.randn(4, 3)
    want, got = before(x), after(x)
    assert list(got) == list(want) == ["cls", "reg"]
    for name in want:
        assert torch.equal(got[name], want[name])
    assert len(list(after.parameters())) == 2 * 4 + 2 * 2 + 2
    assert list(before.parameters()) == []


# -- where the fix declines --------------------------------------------------------------------

NET = """\
import torch
from torch import nn


def make_layer(d):
    return nn.Linear(d, d)


class Net(nn.Module):
    def __init__(self, d):
        super().__init__()
{init}
{methods}"""


def _net(init: str, methods: str = "") -> str:
    """The class above with `init` (lines after super().__init__()) and more methods, unindented."""
    return NET.format(init=textwrap.indent(init, " " * 8), methods=textwrap.indent(methods, " " * 4))


def _case(case_id: str, init: str, methods: str = "") -> object:
    return pytest.param(_net(init, methods), id=case_id)


LAYERS = "self.layers = [nn.Linear(d, d)]"
HEADS = 'self.heads = {"a": nn.Linear(d, 1)}'

DECLINED = [
    _case("dict-comprehension", 'self.heads = {k: nn.Linear(d, 1) for k in ("a", "b")}'),
    _case("non-string-key", "self.heads = {0: nn.Linear(d, 1)}"),
    _case("key-naming-a-module-method", 'self.heads = {"train": nn.Linear(d, 1)}'),
    _case("dotted-key", 'self.heads = {"a.b": nn.Linear(d, 1)}'),
    _case("private-key", 'self.heads = {"_modules": nn.Linear(d, 1)}'),
    _case("dict-call-with-arguments", "self.heads = dict(a=nn.Linear(d, 1))"),
    _case("unknown-item-key", "self.heads = {}\nself.heads[str(d)] = nn.Linear(d, 1)"),
    _case("modules-and-parameters", "self.parts = [nn.Linear(d, d), nn.Parameter(torch.ones(d))]"),
    _case("unknown-member", "self.layers = [nn.Linear(d, d), make_layer(d)]"),
    _case("starred-member", "extra = [nn.Linear(d, d)]\nself.layers = [nn.Linear(d, d), *extra]"),
    _case(
        "member-registered-under-its-own-name",
        "first = nn.Linear(d, d)\nself.first = first\nself.layers = [first, nn.Linear(d, d)]",
    ),
    _case("repeated-list", "self.layers = [nn.Linear(d, d)] * 3"),
    _case(
        "list-concatenated",
        f"{LAYERS}\nself.extra = nn.Linear(d, d)",
        "def forward(self, x):\n    for m in self.layers + [self.extra]:\n        x = m(x)\n    return x\n",
    ),
    _case(
        "tuple-concatenated",
        "self.stem = (nn.Linear(d, d),)",
        "def forward(self, x):\n    for m in self.stem + (nn.Identity(),):\n        x = m(x)\n    return x\n",
    ),
    _case("slice-assignment", LAYERS, "def trim(self):\n    self.layers[1:] = []\n"),
    _case("list-item-assignment", LAYERS, "def reset(self):\n    self.layers[0] = nn.Linear(2, 2)\n"),
    _case("sort", LAYERS, "def order(self):\n    self.layers.sort(key=id)\n"),
    _case("dict-get", HEADS, 'def head(self):\n    return self.heads.get("a")\n'),
    _case("del-item", HEADS, 'def drop(self):\n    del self.heads["a"]\n'),
    _case(
        "truth-test",
        LAYERS,
        "def forward(self, x):\n    if self.layers:\n        x = self.layers[0](x)\n    return x\n",
    ),
    _case("returned", LAYERS, "def all_layers(self):\n    return self.layers\n"),
    _case("isinstance", f"{LAYERS}\nassert isinstance(self.layers, list)"),
    _case("extend-with-unknown-members", f"{LAYERS}\nself.layers.extend(make_layer(d) for _ in range(2))"),
    _case(
        "insert-on-parameter-list",
        "self.ws = [nn.Parameter(torch.ones(d))]\nself.ws.insert(0, nn.Parameter(torch.zeros(d)))",
    ),
    _case("append-result-used", f"{LAYERS}\nadded = self.layers.append(nn.Linear(d, d))"),
    _case("store-in-a-branch", f"if d > 1:\n    {LAYERS}"),
    _case("annotated-store", "self.layers: list = [nn.Linear(d, d)]"),
    _case(
        "local-list-used-after-store",
        "blocks = [nn.Linear(d, d)]\nself.blocks = blocks\nblocks.append(nn.Linear(d, d))",
    ),
    _case("stored-twice", LAYERS, f"def rebuild(self, d):\n    {LAYERS}\n"),
    _case("store-outside-init", "pass", f"def build(self, d):\n    {LAYERS}\n"),
    _case("subclassed-in-the-file", LAYERS, "\n\nclass Wide(Net):\n    pass\n"),
    pytest.param(
        "from torch import nn\n\n\nclass Net(nn.Module):\n    def __init__(self, d):\n"
        "        self.layers = [nn.Linear(d, d)]\n        super().__init__()\n",
        id="store-before-super-init",
    ),
]


@pytest.mark.parametrize("text", DECLINED)
def test_no_fix_where_the_rewrite_is_not_proven_equivalent(text: str) -> None:
    findings = [f for f in lint_text(text) if f.code == "SER104"]
    assert findings, "the case must be reported for the decline to mean anything"
    assert [f.fix for f in findings] == [None] * len(findings)
    outcome = fix_text(text, unsafe=True)
    assert outcome.fixed == text and outcome.applied == {}


def test_declined_store_before_super_init_would_really_break(tmp_path) -> None:
    """torch refuses a Module container before Module.__init__; the plain list is accepted."""
    text = (
        "from torch import nn\n\n\nclass Net(nn.Module):\n    def __init__(self, d):\n"
        "        self.layers = {container}\n        super().__init__()\n"
    )
    load_source(text.format(container="[nn.Linear(d, d)]"), tmp_path).Net(2)
    module = load_source(text.format(container="nn.ModuleList([nn.Linear(d, d)])"), tmp_path)
    with pytest.raises(AttributeError, match=r"cannot assign module before Module.__init__\(\) call"):
        module.Net(2)


def test_declined_container_methods_really_differ() -> None:
    assert not hasattr(torch.nn.ParameterList(), "insert")
    assert not hasattr(torch.nn.ModuleDict(), "get")
    assert not hasattr(torch.nn.ModuleList(), "sort")
    with pytest.raises(KeyError, match="attribute 'train' already exists"):
        torch.nn.ModuleDict({"train": torch.nn.Linear(2, 2)})
    with pytest.raises(KeyError, match=r'contain "\.", got: a\.b'):
        torch.nn.ModuleDict({"a.b": torch.nn.Linear(2, 2)})


def test_reserved_keys_cover_every_public_attribute_of_the_dict_containers() -> None:
    public: List[str] = [
        name
        for container in (torch.nn.ModuleDict(), torch.nn.ParameterDict())
        for name in dir(container)
        if not name.startswith("_")
    ]
    assert set(public) <= _RESERVED_KEYS
