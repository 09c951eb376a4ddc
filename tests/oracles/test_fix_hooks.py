"""The load_state_dict pre-hook fixes of SER101, SER102 and SER106: placement, composition on one
class, where they decline, and that the composed hook really works with torch."""

from __future__ import annotations

import pytest

torch = pytest.importorskip("torch")

from support import fix_text, lint_text, load_source  # noqa: E402

pytestmark = pytest.mark.oracle

BOTH = """\
import torch
import torch.nn as nn


class Tracker(nn.Module):
    def __init__(self, dim):
        super().__init__()
        self.dim = dim
        self.offset = torch.zeros(dim)
        self.register_buffer("peak", None)

    def forward(self, x):
        self.peak = x.abs().amax(0) if self.peak is None else torch.maximum(self.peak, x.abs().amax(0))
        return x - self.offset
"""

BOTH_FIXED = """\
import torch
import torch.nn as nn


def _serialint_load_compat_Tracker(module, state_dict, prefix, *args):
    state_dict.setdefault(prefix + "offset", module.offset)
    if prefix + "peak" in state_dict and module.peak is None:
        module.peak = torch.empty_like(state_dict[prefix + "peak"])


class Tracker(nn.Module):
    def __init__(self, dim):
        super().__init__()
        self.register_load_state_dict_pre_hook(_serialint_load_compat_Tracker)
        self.dim = dim
        self.register_buffer("offset", torch.zeros(dim))
        self.register_buffer("peak", None)

    def forward(self, x):
        self.peak = x.abs().amax(0) if self.peak is None else torch.maximum(self.peak, x.abs().amax(0))
        return x - self.offset
"""


def codes(text: str) -> list:
    return [(f.line, f.column + 1, f.code) for f in lint_text(text)]


def test_two_rules_share_one_hook_and_one_registration():
    # SER102 skips classes with extra state, so SER106 composes with SER101 only: see the
    # SER106 golden files and test_a_generated_hook_silences_only_what_it_handles
    assert codes(BOTH) == [(9, 9, "SER102"), (10, 9, "SER101")]
    outcome = fix_text(BOTH)
    assert outcome.broken_by is None
    assert outcome.fixed == BOTH_FIXED
    assert outcome.applied == {"SER101": 1, "SER102": 1}
    assert outcome.remaining == []
    assert fix_text(BOTH_FIXED).applied == {}


def test_the_composed_hook_loads_old_and_new_checkpoints(tmp_path):
    unfixed = load_source(BOTH, tmp_path)
    fixed = load_source(BOTH_FIXED, tmp_path)
    # checkpoints of the class before the fix: no "offset"; "peak" only after a batch
    calibrated = unfixed.Tracker(3)
    calibrated(torch.tensor([[1.0, -4.0, 2.0]]))
    for old in (unfixed.Tracker(3).state_dict(), calibrated.state_dict()):
        model = fixed.Tracker(3)
        model.load_state_dict(old)
        assert torch.equal(model.offset, torch.zeros(3))
        assert model.peak is None if not old else torch.equal(model.peak, torch.tensor([1.0, 4.0, 2.0]))
    # new checkpoints round trip both
    model = fixed.Tracker(3)
    model.offset.fill_(0.5)
    model(torch.tensor([[1.0, -4.0, 2.0]]))
    state = model.state_dict()
    assert list(state) == ["offset", "peak"]
    fresh = fixed.Tracker(3)
    fresh.load_state_dict(state)
    assert torch.equal(fresh.peak, torch.tensor([1.0, 4.0, 2.0]))
    assert torch.equal(fresh.offset, torch.full((3,), 0.5))
    assert fresh.double().peak.dtype == torch.float64 and fresh.offset.dtype == torch.float64
    # a submodule's keys carry its prefix; the hook reads the prefix it is given
    outer = torch.nn.Sequential(fixed.Tracker(3))
    outer.load_state_dict({f"0.{key}": value for key, value in state.items()})
    assert torch.equal(outer[0].peak, torch.tensor([1.0, 4.0, 2.0]))


def test_the_fixed_model_still_pickles_whole(tmp_path):
    import io

    fixed = load_source(BOTH_FIXED, tmp_path)
    model = fixed.Tracker(2)
    buffer = io.BytesIO()
    torch.save(model, buffer)
    buffer.seek(0)
    restored = torch.load(buffer, weights_only=False)
    # the hook came along: a checkpoint with "peak" and without "offset" loads into the copy
    restored.load_state_dict({"peak": torch.ones(2)})
    assert torch.equal(restored.peak, torch.ones(2)) and torch.equal(restored.offset, torch.zeros(2))


def test_placement_keeps_decorators_comments_and_crlf():
    text = (
        "import functools\r\n"
        "from torch import nn\r\n"
        "\r\n"
        "\r\n"
        "# keeps the first batch's maximum\r\n"
        "@functools.total_ordering\r\n"
        "class Peak(nn.Module):\r\n"
        "    def __init__(self):\r\n"
        "        super().__init__()\r\n"
        '        self.register_buffer("peak", None)  # set by forward\r\n'
        "\r\n"
        "    def forward(self, x):\r\n"
        "        self.peak = x.amax(0)\r\n"
        "        return x\r\n"
    )
    assert fix_text(text).fixed == (
        "import functools\r\n"
        "from torch import nn\r\n"
        "import torch\r\n"
        "\r\n"
        "\r\n"
        "def _serialint_load_compat_Peak(module, state_dict, prefix, *args):\r\n"
        '    if prefix + "peak" in state_dict and module.peak is None:\r\n'
        '        module.peak = torch.empty_like(state_dict[prefix + "peak"])\r\n'
        "\r\n"
        "\r\n"
        "# keeps the first batch's maximum\r\n"
        "@functools.total_ordering\r\n"
        "class Peak(nn.Module):\r\n"
        "    def __init__(self):\r\n"
        "        super().__init__()\r\n"
        '        self.register_buffer("peak", None)  # set by forward\r\n'
        "        self.register_load_state_dict_pre_hook(_serialint_load_compat_Peak)\r\n"
        "\r\n"
        "    def forward(self, x):\r\n"
        "        self.peak = x.amax(0)\r\n"
        "        return x\r\n"
    )


def test_torch_is_spelled_as_the_file_imports_it():
    text = """\
import torch as th
from torch import nn


class Peak(nn.Module):
  def __init__(me):
    super().__init__()
    me.register_buffer("peak", None)

  def forward(me, x):
    me.peak = th.amax(x, 0)
    return x
"""
    assert fix_text(text).fixed == """\
import torch as th
from torch import nn


def _serialint_load_compat_Peak(module, state_dict, prefix, *args):
  if prefix + "peak" in state_dict and module.peak is None:
    module.peak = th.empty_like(state_dict[prefix + "peak"])


class Peak(nn.Module):
  def __init__(me):
    super().__init__()
    me.register_buffer("peak", None)
    me.register_load_state_dict_pre_hook(_serialint_load_compat_Peak)

  def forward(me, x):
    me.peak = th.amax(x, 0)
    return x
"""


DECLINED = """\
import torch
import torch.nn as nn


def _serialint_load_compat_Taken(module, state_dict, prefix, *args):
    pass


class Taken(nn.Module):
    def __init__(self):
        super().__init__()
        self.register_buffer("m", None)

    def fill(self, x):
        self.m = x


class Branch(nn.Module):
    def __init__(self, flag):
        super().__init__()
        if flag:
            self.register_buffer("m", None)

    def fill(self, x):
        self.m = x


class NoSuperCall(nn.Module):
    def __init__(self):
        nn.Module.__init__(self)
        self.table = torch.zeros(3)


class NoInit(nn.Module):
    def get_extra_state(self):
        return 1

    def set_extra_state(self, state):
        pass


class BeforeInit(nn.Module):
    def __init__(self):
        self.table = torch.zeros(3)
        super().__init__()


class Annotated(nn.Module):
    def __init__(self):
        super().__init__()
        self.table: torch.Tensor = torch.zeros(3)


class Chained(nn.Module):
    def __init__(self):
        super().__init__()
        self.a = self.b = torch.zeros(3)
"""


def test_fixes_decline_where_the_hook_or_the_registration_cannot_be_placed():
    assert codes(DECLINED) == [
        (12, 9, "SER101"),
        (22, 13, "SER101"),
        (31, 9, "SER102"),
        (35, 9, "SER106"),
        (44, 9, "SER102"),
        (51, 9, "SER102"),
        (57, 9, "SER102"),
        (57, 18, "SER102"),
    ]
    assert all(f.fix is None for f in lint_text(DECLINED))
    outcome = fix_text(DECLINED, unsafe=True)
    assert outcome.fixed == DECLINED and outcome.applied == {}


def test_a_generated_hook_silences_only_what_it_handles():
    # the SER101 hook exists; SER106 still needs its line, and then finds the hook to extend
    text = """\
import torch
from torch import nn


def _serialint_load_compat_Obs(module, state_dict, prefix, *args):
    if prefix + "scale" in state_dict and module.scale is None:
        module.scale = torch.empty_like(state_dict[prefix + "scale"])


class Obs(nn.Module):
    def __init__(self):
        super().__init__()
        self.register_buffer("scale", None)
        self.register_load_state_dict_pre_hook(_serialint_load_compat_Obs)

    def forward(self, x):
        self.scale = x.abs().amax()
        return x

    def get_extra_state(self):
        return {"v": 2}

    def set_extra_state(self, state):
        self.v = state["v"]
"""
    assert codes(text) == [(20, 9, "SER106")]
    outcome = fix_text(text)
    assert outcome.fixed == text.replace(
        '        module.scale = torch.empty_like(state_dict[prefix + "scale"])\n',
        '        module.scale = torch.empty_like(state_dict[prefix + "scale"])\n'
        '    if prefix + "_extra_state" not in state_dict:\n'
        '        state_dict[prefix + "_extra_state"] = module.get_extra_state()\n',
    )
    assert outcome.remaining == []


def test_a_generated_hook_that_is_not_registered_is_not_extended():
    text = """\
import torch
from torch import nn


def _serialint_load_compat_Obs(module, state_dict, prefix, *args):
    pass


class Obs(nn.Module):
    def __init__(self):
        super().__init__()

    def get_extra_state(self):
        return {"v": 2}

    def set_extra_state(self, state):
        self.v = state["v"]
"""
    assert codes(text) == [(13, 9, "SER106")]
    assert lint_text(text)[0].fix is None


def test_a_hand_written_hook_silences_ser101():
    text = """\
import torch
from torch import nn


def _fill(module, state_dict, prefix, *args):
    if prefix + "scale" in state_dict:
        module.scale = torch.empty_like(state_dict[prefix + "scale"])


class Obs(nn.Module):
    def __init__(self):
        super().__init__()
        self.register_buffer("scale", None)
        self.register_load_state_dict_pre_hook(_fill)

    def forward(self, x):
        self.scale = x.abs().amax()
        return x
"""
    assert codes(text) == []


def test_ser102_declines_values_that_may_share_memory_or_stop_being_tensors():
    text = """\
import torch
from torch import nn

TABLE = torch.arange(4.0)


class Shared(nn.Module):
    def __init__(self, weight: torch.Tensor, values):
        super().__init__()
        self.w = weight.t()
        self.g = TABLE.view(2, 2)
        self.n = torch.as_tensor(values)
        self.k = torch.zeros(3)
        self.c = torch.tensor(values)
        self.s = TABLE * 2
        self.z = torch.zeros(3)
        self.e = torch.ones(3).t()

    def reset(self):
        self.k = 0
"""
    assert codes(text) == [(10, 9, "SER102"), (13, 9, "SER102"), (16, 9, "SER102"), (17, 9, "SER102")]
    fixable = [f.line for f in lint_text(text) if f.fix is not None]
    assert fixable == [16, 17]


LAZY_DECLINED = """\
import torch
import torch.nn as nn


def _serialint_load_compat_Taken(module, state_dict, prefix, *args):
    pass


class Taken(nn.Module):
    def __init__(self):
        super().__init__()
        self.p = None

    def fit(self, x):
        self.p = x.mean(0)


class Early(nn.Module):
    def __init__(self):
        self.p = None
        super().__init__()

    def fit(self, x):
        self.p = x.mean(0)


class Branch(nn.Module):
    def __init__(self, flag):
        super().__init__()
        if flag:
            self.p = None

    def fit(self, x):
        self.p = x.mean(0)


class Chained(nn.Module):
    def __init__(self):
        super().__init__()
        self.p = self.q = None

    def fit(self, x):
        self.p = x.mean(0)


class NotATensor(nn.Module):
    def __init__(self):
        super().__init__()
        self.p = None

    def fit(self, x):
        self.p = x.mean(0)

    def load(self, values):
        self.p = values


class Deleted(nn.Module):
    def __init__(self):
        super().__init__()
        self.p = None

    def fit(self, x):
        self.p = x.mean(0)

    def clear(self):
        del self.p


class Aliased(nn.Module):
    def __init__(self):
        super().__init__()
        self.lin = nn.Linear(2, 2)
        self.p = None
        self.q = None

    def fit(self, x):
        self.p = x.detach()
        self.q = x.mean(0)

    def tie(self):
        self.q = self.lin.weight.detach()


class Nested(nn.Module):
    class Inner(nn.Module):
        def __init__(self):
            super().__init__()
            self.p = None

        def fit(self, x):
            self.p = x.mean(0)
"""


def test_lazy_fix_declines_where_the_buffer_or_the_hook_cannot_be_proved_safe():
    assert codes(LAZY_DECLINED) == [
        (15, 9, "SER102"),
        (24, 9, "SER102"),
        (34, 9, "SER102"),
        (43, 9, "SER102"),
        (52, 9, "SER102"),
        (64, 9, "SER102"),
        (78, 9, "SER102"),
        (79, 9, "SER102"),
        (92, 13, "SER102"),
    ]
    assert all(f.fix is None for f in lint_text(LAZY_DECLINED))
    outcome = fix_text(LAZY_DECLINED, unsafe=True)
    assert outcome.fixed == LAZY_DECLINED and outcome.applied == {}


def test_a_value_guarded_by_a_fixed_buffer_stays_reported_until_fixed():
    # once "mean" is a buffer set to None, `if self.mean is None:` still marks lazy initialisation
    text = """\
import torch
from torch import nn


def _serialint_load_compat_Std(module, state_dict, prefix, *args):
    if prefix + "mean" in state_dict and module.mean is None:
        module.mean = torch.empty_like(state_dict[prefix + "mean"])
    if prefix + "mean" not in state_dict and module.mean is not None:
        state_dict[prefix + "mean"] = module.mean


class Std(nn.Module):
    def __init__(self):
        super().__init__()
        self.register_load_state_dict_pre_hook(_serialint_load_compat_Std)
        self.register_buffer("mean", None)
        self.std = None

    def forward(self, x):
        if self.mean is None:
            self.mean = x.mean(0)
            self.std = x.std(0)
        return (x - self.mean) / self.std
"""
    assert codes(text) == [(22, 13, "SER102")]
    outcome = fix_text(text)
    assert outcome.fixed == text.replace(
        '        state_dict[prefix + "mean"] = module.mean\n',
        '        state_dict[prefix + "mean"] = module.mean\n'
        '    if prefix + "std" in state_dict and module.std is None:\n'
        '        module.std = torch.empty_like(state_dict[prefix + "std"])\n'
        '    if prefix + "std" not in state_dict and module.std is not None:\n'
        '        state_dict[prefix + "std"] = module.std\n',
    ).replace("        self.std = None\n", '        self.register_buffer("std", None)\n')
    assert outcome.remaining == []


def test_the_lazy_hook_keeps_tabs_and_sits_after_an_existing_eager_line():
    text = (
        "import torch\n"
        "from torch import nn\n"
        "\n"
        "\n"
        "class Scaler(nn.Module):\n"
        "\tdef __init__(self, d):\n"
        "\t\tsuper().__init__()\n"
        "\t\tself.offset = torch.zeros(d)\n"
        "\t\tself.scale = None  # set by fit()\n"
        "\n"
        "\tdef fit(self, x):\n"
        "\t\tself.scale = x.abs().amax(0)\n"
    )
    outcome = fix_text(text)
    assert outcome.applied == {"SER102": 2}
    assert outcome.fixed == (
        "import torch\n"
        "from torch import nn\n"
        "\n"
        "\n"
        "def _serialint_load_compat_Scaler(module, state_dict, prefix, *args):\n"
        '\tstate_dict.setdefault(prefix + "offset", module.offset)\n'
        '\tif prefix + "scale" in state_dict and module.scale is None:\n'
        '\t\tmodule.scale = torch.empty_like(state_dict[prefix + "scale"])\n'
        '\tif prefix + "scale" not in state_dict and module.scale is not None:\n'
        '\t\tstate_dict[prefix + "scale"] = module.scale\n'
        "\n"
        "\n"
        "class Scaler(nn.Module):\n"
        "\tdef __init__(self, d):\n"
        "\t\tsuper().__init__()\n"
        "\t\tself.register_load_state_dict_pre_hook(_serialint_load_compat_Scaler)\n"
        '\t\tself.register_buffer("offset", torch.zeros(d))\n'
        '\t\tself.register_buffer("scale", None)  # set by fit()\n'
        "\n"
        "\tdef fit(self, x):\n"
        "\t\tself.scale = x.abs().amax(0)\n"
    )
