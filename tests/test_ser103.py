"""SER103 edge cases beyond the rule's own examples: control flow, inheritance, key tables."""

from __future__ import annotations

from typing import Dict, List, Optional, Sequence, Tuple

import pytest

from support import lint_text

GATE = "create it unconditionally and gate its use in forward()"
SAME = "make every branch create the same parameters and buffers"
ONLY = "is created only under a condition"
IDENTITY = "is a parameter-free nn.Identity under another condition"


def message(kind: str, attr: str, situation: str, keys: Sequence[str], advice: str = GATE) -> str:
    quoted = ", ".join(f'"{k}"' for k in keys)
    subject = f"state_dict keys {quoted} exist" if len(keys) > 1 else f"state_dict key {quoted} exists"
    return (
        f'{kind} "{attr}" {situation}: {subject} under one configuration only, so a checkpoint saved under one '
        f"fails to load under the other (Missing key(s) / Unexpected key(s)); {advice}"
    )


def ser103(code: str, files: Optional[Dict[str, str]] = None) -> List[Tuple[int, int, str]]:
    return [(f.line, f.column + 1, f.message) for f in lint_text(code, files) if f.code == "SER103"]


HEADER = "import torch\nimport torch.nn as nn\n\n\n"


def init(body: str, bases: str = "nn.Module", extra: str = "") -> str:
    lines = "".join(f"        {line}\n" if line else "\n" for line in body.splitlines())
    return f"{HEADER}{extra}class M({bases}):\n    def __init__(self, d, flag):\n        super().__init__()\n{lines}"


LINEAR = ("proj.weight", "proj.bias")


def test_none_first_then_created_under_a_condition():
    code = init("self.proj = None\nif flag:\n    self.proj = nn.Linear(d, d)")
    assert ser103(code) == [(10, 13, message("submodule", "proj", "is None under another condition", LINEAR))]


def test_early_return_makes_later_creations_conditional():
    code = init("if not flag:\n    return\nself.proj = nn.Linear(d, d)")
    assert ser103(code) == [(10, 9, message("submodule", "proj", "is created only under a condition", LINEAR))]


def test_a_branch_that_raises_builds_no_model():
    code = init('if flag:\n    self.proj = nn.Linear(d, d)\nelse:\n    raise ValueError("flag is required")')
    assert ser103(code) == []


def test_elif_chain_without_else_leaves_the_attribute_out():
    code = init(
        'if flag == "a":\n    self.act = nn.PReLU()\nelif flag == "b":\n    self.act = nn.ReLU()'
    )
    assert ser103(code) == [(9, 13, message("submodule", "act", "is created only under a condition", ["act.weight"]))]


def test_elif_chain_with_the_same_keys_everywhere():
    code = init(
        'if flag == "a":\n    self.norm = nn.LayerNorm(d)\nelif flag == "b":\n    self.norm = nn.GroupNorm(1, d)\n'
        'else:\n    self.norm = nn.LayerNorm(d, eps=1e-6)'
    )
    assert ser103(code) == []


def test_try_else_and_handler_are_the_branches():
    code = init(
        "try:\n    import fused_ops\nexcept ImportError:\n    self.gate = None\n"
        "else:\n    self.gate = nn.Linear(d, 1)\n"
        "finally:\n    self.out = nn.Linear(d, d)"
    )
    assert ser103(code) == [
        (13, 13, message("submodule", "gate", "is None under another condition", ["gate.weight", "gate.bias"]))
    ]


def test_with_blocks_are_not_conditions():
    code = init("with torch.no_grad():\n    if flag:\n        self.proj = nn.Linear(d, d)")
    assert ser103(code) == [(10, 17, message("submodule", "proj", "is created only under a condition", LINEAR))]


def test_creations_inside_loops_and_match_are_left_alone():
    code = init(
        "for i in range(d):\n    if i == 0:\n        self.first = nn.Linear(d, d)\n"
        "self.blocks = nn.ModuleList()\nif flag:\n    self.blocks.append(nn.Linear(d, d))\n"
        "match flag:\n    case 1:\n        self.extra = nn.Linear(d, d)"
    )
    assert ser103(code) == []


def test_local_names_and_add_module():
    code = init(
        "norm = nn.LayerNorm(d) if flag else nn.Identity()\nself.norm = norm\n"
        'self.add_module("head", nn.Linear(d, 2) if flag else None)'
    )
    assert ser103(code) == [
        (9, 9, message("submodule", "norm", IDENTITY, ["norm.weight", "norm.bias"])),
        (10, 9, message("submodule", "head", "is None under another condition", ["head.weight", "head.bias"])),
    ]


def test_a_local_name_bound_in_each_branch_is_not_followed():
    code = init("if flag:\n    norm = nn.LayerNorm(d)\nelse:\n    norm = nn.Identity()\nself.norm = norm")
    assert ser103(code) == []


def test_registered_parameter_and_buffer_slots():
    code = init(
        'if flag:\n    self.register_parameter("scale", nn.Parameter(torch.ones(d)))\n'
        '    self.register_buffer("count", torch.zeros(()), True)\n'
        '    self.register_buffer("cache", torch.zeros(d), persistent=False)\n'
        '    self.register_buffer("maybe", torch.zeros(d), persistent=flag)\n'
        'else:\n    self.register_parameter("scale", None)\n'
        "self.w = nn.Buffer(torch.zeros(d)) if flag else nn.Buffer(torch.zeros(d), persistent=False)"
    )
    assert ser103(code) == [
        (10, 13, message("buffer", "count", "is created only under a condition", ["count"])),
        (15, 9, message("buffer", "w", "is a parameter-free non-persistent buffer under another condition", ["w"])),
    ]


@pytest.mark.parametrize(
    "first, second",
    [
        ("nn.LSTM(d, d, 2)", "nn.GRU(d, d)"),  # both partially known
        ("nn.BatchNorm2d(d, affine=flag)", "nn.BatchNorm2d(d)"),  # a flag that is not a literal
        ("nn.Linear(d, d, bias=flag)", "nn.Linear(d, d)"),
        ("nn.Linear(d, d, **kwargs)", "nn.Linear(d, d, bias=False)"),
        ("nn.LayerNorm(d, elementwise_affine=False)", "nn.Identity()"),
        ("nn.Sequential(nn.Dropout(0.1), nn.Linear(d, d))", "nn.Sequential(nn.Dropout(0.1))"),
        ("nn.ModuleList([nn.Linear(d, d) for _ in range(flag)])", "None"),
        ("build_norm(d)", "None"),  # unknown factory
        ("torch.zeros(d)", "None"),  # a plain tensor attribute is another rule's business
        ("nn.Dropout(0.1)", "nn.Identity()"),
        ("nn.Linear(d, d).cuda()", "nn.Linear(d, 2 * d)"),
    ],
)
def test_branches_not_proven_to_differ(first, second):
    code = init(f"kwargs = {{}}\nself.x = {first} if flag else {second}")
    assert ser103(code) == []


def test_partial_modules_name_the_keys_they_always_have():
    code = init("self.attn = nn.MultiheadAttention(d, 2) if flag else None")
    assert ser103(code) == [
        (8, 9, message("submodule", "attn", "is None under another condition", ["attn.out_proj.weight"]))
    ]


def test_plain_value_in_the_other_branch():
    code = init("self.temperature = nn.Parameter(torch.ones(())) if flag else 1.0")
    assert ser103(code) == [
        (8, 9, message("parameter", "temperature", "is a plain value under another condition", ["temperature"]))
    ]


def test_classes_of_the_same_file_contribute_the_keys_they_always_have():
    extra = (
        "class Adapter(nn.Module):\n"
        "    def __init__(self, d):\n"
        "        super().__init__()\n"
        "        self.down = nn.Linear(d, 4, bias=False)\n"
        "        self.up = nn.Linear(4, d)\n"
        "        self.gate = nn.Linear(1, 1) if d > 3 else None\n\n\n"
        "class Scrubbed(nn.Module):\n"
        "    def __init__(self, d):\n"
        "        super().__init__()\n"
        "        self.fc = nn.Linear(d, d)\n"
        "        del self.fc\n\n\n"
    )
    body = "self.adapter = Adapter(d) if flag else nn.Identity()\nself.s = Scrubbed(d) if flag else None"
    code = init(body, extra=extra)
    assert ser103(code) == [
        (10, 9, message("submodule", "gate", "is None under another condition", ["gate.weight", "gate.bias"])),
        (
            23,
            9,
            message(
                "submodule",
                "adapter",
                IDENTITY,
                ["adapter.down.weight", "adapter.up.weight", "adapter.up.bias"],
            ),
        ),
    ]


def test_a_base_class_that_creates_the_attribute():
    extra = (
        "class Base(nn.Module):\n"
        "    def __init__(self):\n"
        "        super().__init__()\n"
        "        self.head = nn.Linear(2, 2)\n\n\n"
    )
    body = "if flag:\n    self.head = nn.Linear(d, 2)\nif flag:\n    self.tail = nn.Linear(d, 2)"
    code = init(body, bases="Base", extra=extra)
    assert ser103(code) == [
        (17, 13, message("submodule", "tail", "is created only under a condition", ["tail.weight", "tail.bias"]))
    ]


def test_a_base_class_of_another_file_may_create_the_attribute():
    files = {"base.py": "import torch.nn as nn\n\n\nclass Base(nn.Module):\n    pass\n"}
    code = "from base import Base\n" + init(
        "if flag:\n    self.head = nn.Linear(d, 2)\nself.norm = nn.LayerNorm(d) if flag else nn.Identity()",
        bases="Base",
    )
    # leaving `head` out is not compared; an explicit placeholder still is
    assert ser103(code, files) == [(11, 9, message("submodule", "norm", IDENTITY, ["norm.weight", "norm.bias"]))]


def test_an_unknown_base_class_may_create_the_attribute():
    body = "if flag:\n    self.head = nn.Linear(d, 2)"
    code = "from hub import ModelMixin\n" + init(body, bases="nn.Module, ModelMixin")
    assert ser103(code) == []


def test_a_typing_base_adds_no_state():
    code = "from typing import Generic, TypeVar\nT = TypeVar('T')\n" + init(
        "if flag:\n    self.head = nn.Linear(d, 2)", bases="nn.Module, Generic[T]"
    )
    assert ser103(code) == [(11, 13, message("submodule", "head", ONLY, ["head.weight", "head.bias"]))]


def test_only_init_of_module_classes():
    code = (
        HEADER
        + "class Config:\n    def __init__(self, flag):\n"
        + "        if flag:\n            self.proj = nn.Linear(2, 2)\n\n\n"
        + "class M(nn.Module):\n    def build(self, flag):\n        if flag:\n            self.proj = nn.Linear(2, 2)\n"
    )
    assert ser103(code) == []


def test_spelling_of_the_import_does_not_matter():
    code = (
        "from torch.nn import Linear as Dense, Module\nimport torch.nn.modules.normalization as norms\n\n\n"
        "class M(Module):\n    def __init__(self, flag):\n        super().__init__()\n"
        "        if flag:\n            self.fc = Dense(2, 2, False)\n"
        "        self.norm = norms.LayerNorm(2) if flag else None\n"
    )
    assert ser103(code) == [
        (9, 13, message("submodule", "fc", "is created only under a condition", ["fc.weight"])),
        (10, 9, message("submodule", "norm", "is None under another condition", ["norm.weight", "norm.bias"])),
    ]


def test_suppression_comment_on_the_reported_line():
    code = init("if flag:\n    self.proj = nn.Linear(d, d)  # noqa: SER103 - checkpoints are per configuration")
    assert ser103(code) == []


def test_modules_of_one_class_with_other_keys():
    code = init("self.bn = nn.BatchNorm2d(d) if flag else nn.BatchNorm2d(d, track_running_stats=False)")
    keys = ["bn.running_mean", "bn.running_var", "bn.num_batches_tracked"]
    assert ser103(code) == [
        (8, 9, message("submodule", "bn", "has different state_dict keys under another condition", keys, SAME))
    ]


def test_attributes_a_called_method_sets_are_not_judged():
    body = "self.head = None\nif flag:\n    self.head = nn.Linear(d, 2)\n"
    body += 'if flag:\n    self.register_buffer("scale", torch.ones(d))\nself._build(d)\n'
    build = "\n    def _build(self, d):\n        self.head = nn.Linear(d, 2)\n"
    build += '        self.register_buffer("scale", None)\n'
    assert ser103(init(body) + build) == []
