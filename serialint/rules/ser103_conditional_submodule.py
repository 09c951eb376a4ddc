from __future__ import annotations

from dataclasses import dataclass
from typing import Dict, FrozenSet, Iterator, List, Optional, Sequence, Set, Tuple

import libcst as cst

from serialint.index import MODULE_ROOTS, is_torch_module_name
from serialint.model import (
    ClassModel,
    FileContext,
    Frame,
    MethodModel,
    call_arg,
    dotted_name,
    is_name,
    is_none,
    string_value,
)
from serialint.rule import Bad, Expected, Good, Report, Rule
from serialint.walk import visit

# torch.nn modules that never hold a parameter or a persistent buffer, whatever their arguments.
PARAMETER_FREE_MODULES: FrozenSet[str] = frozenset(
    {
        # activations
        "ReLU", "ReLU6", "LeakyReLU", "RReLU", "ELU", "SELU", "CELU", "GELU", "SiLU", "Mish",
        "Hardswish", "Hardsigmoid", "Hardtanh", "Hardshrink", "Softshrink", "Tanhshrink",
        "Softplus", "Softsign", "Sigmoid", "LogSigmoid", "Tanh", "Threshold", "GLU",
        "Softmax", "Softmax2d", "LogSoftmax", "Softmin",
        # regularisation and plumbing
        "Dropout", "Dropout1d", "Dropout2d", "Dropout3d", "AlphaDropout", "FeatureAlphaDropout",
        "Identity", "Flatten", "Unflatten", "Fold", "Unfold",
        "CosineSimilarity", "PairwiseDistance", "LocalResponseNorm", "CrossMapLRN2d",
        # pooling
        "MaxPool1d", "MaxPool2d", "MaxPool3d", "AvgPool1d", "AvgPool2d", "AvgPool3d",
        "AdaptiveAvgPool1d", "AdaptiveAvgPool2d", "AdaptiveAvgPool3d",
        "AdaptiveMaxPool1d", "AdaptiveMaxPool2d", "AdaptiveMaxPool3d",
        "LPPool1d", "LPPool2d", "LPPool3d", "FractionalMaxPool2d", "FractionalMaxPool3d",
        "MaxUnpool1d", "MaxUnpool2d", "MaxUnpool3d",
        # resampling and padding
        "Upsample", "UpsamplingNearest2d", "UpsamplingBilinear2d",
        "PixelShuffle", "PixelUnshuffle", "ChannelShuffle",
        "ZeroPad1d", "ZeroPad2d", "ZeroPad3d", "ConstantPad1d", "ConstantPad2d", "ConstantPad3d",
        "ReflectionPad1d", "ReflectionPad2d", "ReflectionPad3d",
        "ReplicationPad1d", "ReplicationPad2d", "ReplicationPad3d",
        "CircularPad1d", "CircularPad2d", "CircularPad3d",
        # losses without a class-weight tensor
        "L1Loss", "MSELoss", "SmoothL1Loss", "HuberLoss", "KLDivLoss", "CosineEmbeddingLoss",
        "MarginRankingLoss", "HingeEmbeddingLoss", "SoftMarginLoss", "TripletMarginLoss",
        "TripletMarginWithDistanceLoss", "PoissonNLLLoss", "GaussianNLLLoss", "CTCLoss",
    }
)  # fmt: skip

# (position, keyword, default) of a boolean constructor argument; position None = keyword-only
_Flag = Tuple[Optional[int], str, bool]
# keys present when every flag of the group is true
_KeyGroup = Tuple[Tuple[str, ...], Tuple[_Flag, ...]]


def _conv(bias_position: int) -> Tuple[_KeyGroup, ...]:
    return ((("weight",), ()), (("bias",), ((bias_position, "bias", True),)))


def _batch_norm(affine: int, track: int, affine_default: bool, track_default: bool) -> Tuple[_KeyGroup, ...]:
    affine_flag: _Flag = (affine, "affine", affine_default)
    return (
        (("weight",), (affine_flag,)),
        (("bias",), (affine_flag, (None, "bias", True))),
        (("running_mean", "running_var", "num_batches_tracked"), ((track, "track_running_stats", track_default),)),
    )


def _cell() -> Tuple[_KeyGroup, ...]:
    return ((("weight_ih", "weight_hh"), ()), (("bias_ih", "bias_hh"), ((2, "bias", True),)))


# torch.nn modules whose state_dict keys follow from their boolean arguments alone.
KEYED_MODULES: Dict[str, Tuple[_KeyGroup, ...]] = {
    "Linear": _conv(2),
    "Bilinear": _conv(3),
    "LazyLinear": _conv(1),
    **{f"Conv{n}d": _conv(7) for n in (1, 2, 3)},
    **{f"ConvTranspose{n}d": _conv(7) for n in (1, 2, 3)},
    **{f"LazyConv{n}d": _conv(6) for n in (1, 2, 3)},
    **{f"LazyConvTranspose{n}d": _conv(6) for n in (1, 2, 3)},
    "LayerNorm": (
        (("weight",), ((2, "elementwise_affine", True),)),
        (("bias",), ((2, "elementwise_affine", True), (3, "bias", True))),
    ),
    "RMSNorm": ((("weight",), ((2, "elementwise_affine", True),)),),
    "GroupNorm": (
        (("weight",), ((3, "affine", True),)),
        (("bias",), ((3, "affine", True), (None, "bias", True))),
    ),
    **{f"BatchNorm{n}d": _batch_norm(3, 4, True, True) for n in (1, 2, 3)},
    "SyncBatchNorm": _batch_norm(3, 4, True, True),
    **{f"LazyBatchNorm{n}d": _batch_norm(2, 3, True, True) for n in (1, 2, 3)},
    **{f"InstanceNorm{n}d": _batch_norm(3, 4, False, False) for n in (1, 2, 3)},
    **{f"LazyInstanceNorm{n}d": _batch_norm(2, 3, True, True) for n in (1, 2, 3)},
    "Embedding": ((("weight",), ()),),
    "EmbeddingBag": ((("weight",), ()),),
    "PReLU": ((("weight",), ()),),
    "RNNCell": _cell(),
    "LSTMCell": _cell(),
    "GRUCell": _cell(),
}

# torch.nn modules whose full key set depends on more than flags: the keys they always have.
PARTIAL_KEYED_MODULES: Dict[str, Tuple[str, ...]] = {
    "RNN": ("weight_ih_l0", "weight_hh_l0"),
    "LSTM": ("weight_ih_l0", "weight_hh_l0"),
    "GRU": ("weight_ih_l0", "weight_hh_l0"),
    "MultiheadAttention": ("out_proj.weight",),
    "TransformerEncoderLayer": (
        "self_attn.out_proj.weight",
        "linear1.weight",
        "linear2.weight",
        "norm1.weight",
        "norm2.weight",
    ),
    "TransformerDecoderLayer": (
        "self_attn.out_proj.weight",
        "multihead_attn.out_proj.weight",
        "linear1.weight",
        "linear2.weight",
        "norm1.weight",
        "norm2.weight",
        "norm3.weight",
    ),
}

_CONTAINERS: FrozenSet[str] = frozenset({"Sequential", "ModuleList", "ModuleDict"})
_PARAMETERS: FrozenSet[str] = frozenset(
    {
        "torch.nn.Parameter",
        "torch.nn.parameter.Parameter",
        "torch.nn.UninitializedParameter",
        "torch.nn.parameter.UninitializedParameter",
    }
)
_BUFFERS: FrozenSet[str] = frozenset({"torch.nn.Buffer", "torch.nn.parameter.Buffer"})
# Module methods that return the module itself: `nn.Linear(2, 2).to(device)` is still that Linear
_RETURNS_SELF: FrozenSet[str] = frozenset(
    {"to", "cuda", "cpu", "float", "half", "double", "bfloat16", "type", "requires_grad_", "train", "eval", "apply"}
)
# bases that add no state of their own
_STATELESS_BASES: FrozenSet[str] = MODULE_ROOTS | frozenset(
    {"object", "abc.ABC", "typing.Generic", "typing.Protocol", "typing_extensions.Protocol"}
)
_REGISTRATIONS: FrozenSet[str] = frozenset({"register_buffer", "register_parameter", "add_module", "register_module"})
_MAX_DEPTH = 8
# the keyword of the value each registration takes
_REGISTERED_VALUE: Dict[str, str] = {
    "register_buffer": "tensor",
    "register_parameter": "param",
    "add_module": "module",
    "register_module": "module",
}

# What an assignment leaves in the attribute, as far as the state_dict is concerned.
ABSENT = "absent"  # nothing created on this path
NONE = "none"
DECLARED = "declared"  # `register_buffer(name, None)` / `register_parameter(name, None)`
FREE = "free"  # a module or buffer that contributes no key
PLAIN = "plain"  # a literal number, string or bool
SUBMODULE = "submodule"
PARAMETER = "parameter"
BUFFER = "buffer"
UNKNOWN = "unknown"


@dataclass(frozen=True)
class _Variant:
    """One value an attribute may end up holding after `__init__`."""

    kind: str
    keys: Tuple[str, ...] = ()  # keys it certainly adds, relative to the attribute ("" = the attribute)
    complete: bool = True  # whether `keys` is the whole set
    label: str = ""  # how a parameter-free value is spelled in the source
    node: Optional[cst.CSTNode] = None  # where to report; None for ABSENT


@dataclass
class _Event:
    """A statement in `__init__` that (re)creates an attribute."""

    attr: str
    variants: Tuple[int, ...]  # indices into the analysis' variant list


class ConditionalSubmodule(Rule):
    """
    ## What it does
    Flags a submodule, Parameter or buffer that a Module class's `__init__` creates under a
    condition (`if` / `else`, a conditional expression, `try` / `except ImportError`) so that the
    set of state_dict keys differs between configurations.

    That is: one branch creates it and another leaves it out, sets it to `None` or puts a
    parameter-free placeholder such as `nn.Identity()` there; or the branches create it with
    different keys (`bias=False` in one branch only).

    ## Why is this bad?
    A checkpoint saved under one configuration does not load into a model built under the other:
    `load_state_dict` fails with `Missing key(s) in state_dict` or `Unexpected key(s) in
    state_dict`. An `nn.Identity()` placeholder does not keep the keys stable: it has no
    parameters. Branches that build the same keys are fine: two `Conv2d` of different kernel size,
    `GELU` or `ReLU`, `Dropout` or `Identity`, conditions that only change sizes, and config-sized
    `nn.ModuleList`s are not reported. Nor is a layer that exists only when sizes differ, when
    those sizes also shape a layer built in every configuration (`if in_ch != out_ch:` beside an
    unconditional `nn.Conv2d(in_ch, out_ch, 3)`): configurations on either side of such a test
    already disagree on that layer's shape (`size mismatch for conv1.weight`), so no checkpoint
    moves between them whatever the optional layer does, and building it always would not make
    the keys portable. Neither is a slot that the other branch registers as None
    (`self.register_parameter("bias", None)`, `self.register_buffer("running_mean", None)`): the
    key is absent there too, but that is torch's own idiom for optional state, used by
    `nn.Linear(bias=False)` and `nn.BatchNorm2d(track_running_stats=False)` themselves, and the
    configuration it declares is left to the author (see "Known limits").

    ## Example
    ```python
    class Block(nn.Module):
        def __init__(self, dim, use_norm):
            super().__init__()
            self.proj = nn.Linear(dim, dim)
            if use_norm:
                self.norm = nn.LayerNorm(dim)
            else:
                self.norm = nn.Identity()
    ```

    ## Use instead
    Build the submodule in every configuration and gate its use in `forward`, so that every
    configuration has the same keys:
    ```python
    class Block(nn.Module):
        def __init__(self, dim, use_norm):
            super().__init__()
            self.proj = nn.Linear(dim, dim)
            self.norm = nn.LayerNorm(dim)
            self.use_norm = use_norm

        def forward(self, x):
            x = self.proj(x)
            return self.norm(x) if self.use_norm else x
    ```

    ## Fix safety
    No automatic fix is offered by this rule yet.

    ## Known limits
    Only `__init__` is read: an attribute that a method called from `__init__` also sets is not
    judged, nor are conditions inside that method. Only values whose keys are known are compared:
    torch.nn layers, `nn.Parameter`, `register_buffer` / `register_parameter` / `add_module`,
    literal `nn.Sequential` / `nn.ModuleList` / `nn.ModuleDict` contents, and Module classes
    defined in the same file. Two branches building modules of other classes (another file's
    class, a factory call) are never reported, nor is a module of unknown keys built in one branch
    only. A branch that leaves the attribute out is not compared when a base class from another
    file or library may create it. Creations inside loops and `match` statements, and values
    chosen through a local name bound in several branches (`norm = ...` in each branch, then
    `self.norm = norm`), are not followed. Every branch is taken as reachable: conditions that
    exclude each other (`if kind == "a":` then `if kind == "b":`, with no path creating neither)
    can still be reported as leaving the attribute out. The finding is placed on the first
    assignment, in source order, whose keys another configuration lacks, and names those keys as
    the layer has them when built (a parametrization such as `weight_norm` applied later renames
    them).

    A test counts as a size test when it is `==` / `!=` (combined with `and`, `or`, `not`, or
    reached through a local or `self.x` bound once to it) and every side that is not a literal
    is, directly or through a plain alias (`self.in_channels = in_channels`), a size of a layer
    built by a statement of `__init__` that runs in every configuration: itself, or a name it is
    computed from by arithmetic (`wide = ch * ratio` makes `ratio` a size). Sizes are read from
    the arguments that shape torch layers' parameters (`in_features`, `out_channels`,
    `num_embeddings`, `normalized_shape`, GroupNorm's `num_channels`, …; never `stride`,
    `kernel_size`, `padding`, `groups` or `bias`, so `if stride != 1:` stays reported), from the
    sizes of a torch factory inside `nn.Parameter(...)` or a registered buffer, and, for the
    project's own Module classes, from the first two positional arguments and keywords named like
    sizes (`in_channels`, `out_channels`, `in_dim`, `out_dim`, `dim`, `hidden_size`, `channels`,
    …), whatever those classes do with them. Any other test between the two variants (`>`, a
    flag, `try` / `except`) keeps the finding, and a class whose `__init__` returns early is
    judged without this exemption. Two configurations whose sizes differ in several places at
    once can in principle compensate (`ch * ratio` equal on both sides); that is not looked for.

    A slot registered as None is not compared, while the same layout written `self.bias = None`
    is reported, although torch leaves the key out of `state_dict()` in both cases: the
    registration is taken as the author declaring the optional state the way torch's own layers
    do.
    """

    code = "SER103"
    name = "conditional-submodule"
    needs_class = True
    summary = "build submodules, parameters and buffers in every configuration and gate their use in forward()"

    bad = (
        # the Identity placeholder has no parameters
        Bad(
            """\
import torch.nn as nn


class Block(nn.Module):
    def __init__(self, dim, use_norm):
        super().__init__()
        self.proj = nn.Linear(dim, dim)
        if use_norm:
            self.norm = nn.LayerNorm(dim)
        else:
            self.norm = nn.Identity()
""",
            (
                Expected(
                    9,
                    13,
                    'submodule "norm" is a parameter-free nn.Identity under another condition: state_dict keys '
                    '"norm.weight", "norm.bias" exist under one configuration only, so a checkpoint saved under one '
                    "fails to load under the other (Missing key(s) / Unexpected key(s)); create it unconditionally "
                    "and gate its use in forward()",
                ),
            ),
        ),
        # created in one branch of an elif chain only, and a conditional expression
        Bad(
            """\
import torch
from torch import nn


class Head(nn.Module):
    def __init__(self, dim, classes, kind="linear"):
        super().__init__()
        if kind == "mlp":
            self.hidden = nn.Linear(dim, dim)
            self.act = nn.GELU()
        elif kind == "linear":
            self.act = nn.ReLU()
        self.out = nn.Linear(dim, classes)
        self.scale = nn.Parameter(torch.ones(1)) if kind != "linear" else None
""",
            (
                Expected(
                    9,
                    13,
                    'submodule "hidden" is created only under a condition: state_dict keys "hidden.weight", '
                    '"hidden.bias" exist under one configuration only, so a checkpoint saved under one fails to load '
                    "under the other (Missing key(s) / Unexpected key(s)); create it unconditionally and gate its "
                    "use in forward()",
                ),
                Expected(
                    14,
                    9,
                    'parameter "scale" is None under another condition: state_dict key "scale" exists under one '
                    "configuration only, so a checkpoint saved under one fails to load under the other (Missing "
                    "key(s) / Unexpected key(s)); create it unconditionally and gate its use in forward()",
                ),
            ),
        ),
        # try/except ImportError with a fallback whose keys differ
        Bad(
            """\
import torch.nn as nn


class Encoder(nn.Module):
    def __init__(self, dim):
        super().__init__()
        try:
            from torch.nn import RMSNorm
            self.norm = RMSNorm(dim)
        except ImportError:
            self.norm = nn.LayerNorm(dim)
""",
            (
                Expected(
                    11,
                    13,
                    'submodule "norm" has different state_dict keys under another condition: state_dict key '
                    '"norm.bias" exists under one configuration only, so a checkpoint saved under one fails to load '
                    "under the other (Missing key(s) / Unexpected key(s)); make every branch create the same "
                    "parameters and buffers",
                ),
            ),
        ),
        # bias=False in one branch only, and a buffer registered under a condition
        Bad(
            """\
import torch
from torch.nn import Conv2d, Module


class Stem(Module):
    def __init__(self, channels, batch_norm, normalize):
        super().__init__()
        if batch_norm:
            self.conv = Conv2d(3, channels, 3, bias=False)
        else:
            self.conv = Conv2d(3, channels, 3)
        if normalize:
            self.register_buffer("mean", torch.zeros(3))
""",
            (
                Expected(
                    11,
                    13,
                    'submodule "conv" has different state_dict keys under another condition: state_dict key '
                    '"conv.bias" exists under one configuration only, so a checkpoint saved under one fails to load '
                    "under the other (Missing key(s) / Unexpected key(s)); make every branch create the same "
                    "parameters and buffers",
                ),
                Expected(
                    13,
                    13,
                    'buffer "mean" is created only under a condition: state_dict key "mean" exists under one '
                    "configuration only, so a checkpoint saved under one fails to load under the other (Missing "
                    "key(s) / Unexpected key(s)); create it unconditionally and gate its use in forward()",
                ),
            ),
        ),
    )
    good = (
        # parameter-free alternatives: GELU or ReLU, Dropout or Identity
        Good(
            """\
import torch.nn as nn


class Mlp(nn.Module):
    def __init__(self, dim, act="gelu", dropout=0.0):
        super().__init__()
        self.fc = nn.Linear(dim, dim)
        if act == "gelu":
            self.act = nn.GELU()
        else:
            self.act = nn.ReLU()
        self.drop = nn.Dropout(dropout) if dropout > 0 else nn.Identity()
"""
        ),
        # same keys in every branch: only the kernel size changes
        Good(
            """\
from torch import nn


class Stem(nn.Module):
    def __init__(self, large):
        super().__init__()
        if large:
            self.conv = nn.Conv2d(3, 64, kernel_size=5, padding=2)
        else:
            self.conv = nn.Conv2d(3, 64, kernel_size=3, padding=1)
"""
        ),
        # try/except ImportError with a fallback that has the same keys
        Good(
            """\
import torch.nn as nn


class Encoder(nn.Module):
    def __init__(self, dim):
        super().__init__()
        try:
            from torch.nn import RMSNorm
            self.norm = RMSNorm(dim)
        except ImportError:
            self.norm = nn.LayerNorm(dim, bias=False)
"""
        ),
        # always built, gated in forward
        Good(
            """\
import torch.nn as nn


class Block(nn.Module):
    def __init__(self, dim, use_norm):
        super().__init__()
        self.norm = nn.LayerNorm(dim)
        self.use_norm = use_norm
        if use_norm:
            self.eps = 1e-5
        else:
            self.eps = 0.0

    def forward(self, x):
        return self.norm(x) if self.use_norm else x
"""
        ),
        # config-sized ModuleList, and branches building classes whose keys are unknown
        Good(
            """\
import torch.nn as nn
from blocks import FusedNorm, SimpleNorm


class Tower(nn.Module):
    def __init__(self, dim, depth, fused):
        super().__init__()
        self.layers = nn.ModuleList([nn.Linear(dim, dim) for _ in range(depth)])
        if fused:
            self.norm = FusedNorm(dim)
        else:
            self.norm = SimpleNorm(dim)
"""
        ),
        # torch's own idiom for optional state: the slot is registered as None
        Good(
            """\
import torch
import torch.nn as nn


class ScaledLinear(nn.Module):
    def __init__(self, features, bias=True):
        super().__init__()
        self.weight = nn.Parameter(torch.empty(features, features))
        if bias:
            self.bias = nn.Parameter(torch.zeros(features))
        else:
            self.register_parameter("bias", None)
"""
        ),
        # a shortcut only when the widths differ, which also shape the always-built layers:
        # configurations on either side of the test never share a checkpoint anyway
        Good(
            """\
from torch import nn


class ResBlock(nn.Module):
    def __init__(self, in_ch, out_ch):
        super().__init__()
        self.conv1 = nn.Conv2d(in_ch, out_ch, 3, padding=1)
        self.conv2 = nn.Conv2d(out_ch, out_ch, 3, padding=1)
        self.use_shortcut = in_ch != out_ch
        self.shortcut = None
        if self.use_shortcut:
            self.shortcut = nn.Conv2d(in_ch, out_ch, 1)


class Expand(nn.Module):
    def __init__(self, channels, ratio):
        super().__init__()
        wide = channels * ratio
        self.expand = nn.Conv2d(channels, wide, 1) if ratio != 1 else nn.Identity()
        self.depthwise = nn.Conv2d(wide, wide, 3, groups=wide)
"""
        ),
        # also assigned unconditionally afterwards: the last assignment wins in every configuration
        Good(
            """\
import torch.nn as nn


class Head(nn.Module):
    def __init__(self, dim, tied):
        super().__init__()
        if tied:
            self.out = None
        self.out = nn.Linear(dim, dim)
"""
        ),
    )

    def check(self, ctx: FileContext) -> Iterator[Report]:
        known_keys = _ClassKeys(ctx)
        for cls in ctx.module_classes():
            init = cls.methods.get("__init__")
            if init is None or init.self_name is None:
                continue
            analysis = _InitAnalysis(ctx, cls, init, known_keys, _scan_init(init.node).has_return)
            for attr in analysis.attributes():
                report = analysis.finding(attr)
                if report is not None:
                    yield report


def _literal_flag(node: Optional[cst.BaseExpression]) -> Optional[bool]:
    if is_name(node, "True"):
        return True
    if is_name(node, "False"):
        return False
    return None


def _has_star_args(call: cst.Call) -> bool:
    return any(arg.star for arg in call.args)


def _flag(call: cst.Call, flag: _Flag) -> Optional[bool]:
    """The value of a boolean argument: its literal, its default when absent, None when unknown."""
    position, keyword, default = flag
    if position is None:
        value = next((a.value for a in call.args if a.keyword is not None and a.keyword.value == keyword), None)
    else:
        value = call_arg(call, position, keyword)
    if value is None:
        return None if _has_star_args(call) else default
    return _literal_flag(value)


def _torch_nn_name(qualname: str) -> Optional[str]:
    """`Linear` for `torch.nn.Linear` / `torch.nn.modules.linear.Linear`, else None."""
    if qualname.startswith("torch.nn.") and is_torch_module_name(qualname):
        return qualname.rsplit(".", 1)[1]
    return None


def _is_literal(node: cst.BaseExpression) -> bool:
    if isinstance(node, (cst.Integer, cst.Float, cst.Imaginary, cst.SimpleString, cst.ConcatenatedString)):
        return True
    if isinstance(node, cst.FormattedString):
        return True
    if isinstance(node, cst.UnaryOperation) and isinstance(node.expression, (cst.Integer, cst.Float)):
        return True
    return is_name(node, "True") or is_name(node, "False")


class _InitStatements(cst.CSTVisitor):
    """Whether `__init__` deletes anything, and whether it returns early (nested scopes excluded)."""

    def __init__(self) -> None:
        super().__init__()
        self.has_del = False
        self.has_return = False

    def visit_Del(self, node: cst.Del) -> bool:
        self.has_del = True
        return False

    def visit_Return(self, node: cst.Return) -> bool:
        self.has_return = True
        return False

    def visit_FunctionDef(self, node: cst.FunctionDef) -> bool:
        return False

    def visit_Lambda(self, node: cst.Lambda) -> bool:
        return False

    def visit_ClassDef(self, node: cst.ClassDef) -> bool:
        return False


def _scan_init(init: cst.FunctionDef) -> _InitStatements:
    # a plain visitor: libcst.matchers costs most of a second to import
    scan = _InitStatements()
    visit(init.body, scan)
    return scan


def _prefixed(prefix: str, keys: Sequence[str]) -> Tuple[str, ...]:
    return tuple(f"{prefix}.{k}" if k else prefix for k in keys)


class _ClassKeys:
    """Keys that Module classes of the linted file certainly have once constructed."""

    def __init__(self, ctx: FileContext) -> None:
        self.ctx = ctx
        self.cache: Dict[str, Tuple[str, ...]] = {}
        self.in_progress: Set[str] = set()

    def model(self, qualname: str) -> Optional[ClassModel]:
        """The class model of a class defined in the linted file; other files' classes are not read."""
        canonical = self.ctx.index.canonical(qualname, self.ctx.summary)
        return next((c for c in self.ctx.classes if c.qualname in (qualname, canonical)), None)

    def keys(self, cls: ClassModel) -> Tuple[str, ...]:
        cached = self.cache.get(cls.qualname)
        if cached is not None:
            return cached
        if cls.qualname in self.in_progress or len(self.in_progress) > _MAX_DEPTH:
            return ()
        self.in_progress.add(cls.qualname)
        try:
            keys = self._compute(cls)
        finally:
            self.in_progress.discard(cls.qualname)
        self.cache[cls.qualname] = keys
        return keys

    def _compute(self, cls: ClassModel) -> Tuple[str, ...]:
        init = cls.methods.get("__init__")
        if init is None or init.self_name is None or not self.ctx.is_module_class(cls):
            return ()
        scan = _scan_init(init.node)
        if scan.has_del:
            return ()  # a deleted attribute drops its keys
        analysis = _InitAnalysis(self.ctx, cls, init, self, scan.has_return)
        keys: List[str] = []
        for attr in analysis.attributes():
            variants = analysis.outcomes(attr)
            if variants is None:
                continue
            common = [k for k in variants[0].keys if all(k in v.keys for v in variants[1:])]
            keys.extend(_prefixed(attr, common))
        return tuple(keys)


class _InitAnalysis:
    """What each attribute of one class may hold when `__init__` returns."""

    def __init__(
        self, ctx: FileContext, cls: ClassModel, init: MethodModel, class_keys: _ClassKeys, has_return: bool
    ) -> None:
        self.ctx = ctx
        self.cls = cls
        self.init = init
        self.class_keys = class_keys
        self.variants: List[_Variant] = []
        self.events: Dict[int, List[_Event]] = {}  # id of the small statement or call -> events
        self.order: Dict[str, None] = {}  # attributes in source order (a dict: O(1) membership)
        # attributes whose every creation is unconditional with one possible value: their outcome
        # is the last creation, no walk needed (see `outcomes`); (event key, value index) pairs,
        # or None once an attribute has a conditional or many-valued creation
        self.straight: Dict[str, Optional[List[Tuple[int, int]]]] = {}
        self._top_order: Optional[Dict[int, int]] = None
        self.has_return = has_return
        self.in_loop: Set[str] = set()
        # a method that __init__ calls may create or replace attributes too: those are not judged
        called = {c.name for c in cls.self_calls if c.method is init and c.name in cls.methods}
        self.set_elsewhere: Set[str] = {s.attr for s in cls.stores if s.method.name in called}
        for call in cls.self_calls:
            if call.method.name in called and call.name in _REGISTRATIONS:
                self.set_elsewhere.add(string_value(call_arg(call.call, 0, "name")) or "")
        # where each creation sits, and the value it stores: for telling which tests separate variants
        self.frames_of: Dict[int, Tuple[Frame, ...]] = {}
        self.value_of: Dict[int, Optional[cst.BaseExpression]] = {}
        self._sizes: Optional[_SizeTests] = None
        for store in cls.stores:
            if store.method is init:
                variants = self._value_variants(store.value, store.node, 0)
                self._add(store.attr, id(store.statement), variants, store.frames)
                self.frames_of[id(store.node)] = store.frames
                self.value_of[id(store.node)] = store.value
        for call in cls.self_calls:
            if call.method is init and call.name in _REGISTRATIONS:
                attr = string_value(call_arg(call.call, 0, "name"))
                if attr is not None:
                    self._add(attr, id(call.call), self._registration(call.name, call.call), call.frames)
                    self.frames_of[id(call.call)] = call.frames
                    self.value_of[id(call.call)] = call_arg(call.call, 1, _REGISTERED_VALUE[call.name])

    def _add(self, attr: str, key: int, variants: List[_Variant], frames: Sequence[Frame]) -> None:
        if any(isinstance(f.node, (cst.For, cst.While, cst.Match)) for f in frames):
            self.in_loop.add(attr)
        indices = []
        for variant in variants:
            indices.append(len(self.variants))
            self.variants.append(variant)
        self.order[attr] = None
        simple = len(indices) == 1 and not frames
        if attr not in self.straight:
            self.straight[attr] = [(key, indices[0])] if simple else None
        elif self.straight[attr] is not None:
            if simple:
                self.straight[attr].append((key, indices[0]))  # type: ignore[union-attr]
            else:
                self.straight[attr] = None
        self.events.setdefault(key, []).append(_Event(attr, tuple(indices)))

    def attributes(self) -> List[str]:
        return list(self.order)

    def _top_level_order(self) -> Dict[int, int]:
        """Source position of each top-level small statement of `__init__` (the keys `_apply` uses)."""
        if self._top_order is None:
            self._top_order = {}
            position = 0
            for stmt in self.init.node.body.body:
                if isinstance(stmt, cst.SimpleStatementLine):
                    for small in stmt.body:
                        self._top_order[id(small)] = position
                        if isinstance(small, cst.Expr):
                            self._top_order[id(small.value)] = position
                        position += 1
        return self._top_order

    # -- values ------------------------------------------------------------------------------
    def _registration(self, name: str, call: cst.Call) -> List[_Variant]:
        if name == "register_buffer":
            tensor = call_arg(call, 1, "tensor")
            if tensor is None:
                return [_Variant(UNKNOWN, complete=False, node=call)]
            if is_none(tensor):
                return [_Variant(DECLARED, node=call)]
            persistent = _flag(call, (2, "persistent", True))
            if persistent is None:
                return [_Variant(UNKNOWN, complete=False, node=call)]
            if not persistent:
                return [_Variant(FREE, label="non-persistent buffer", node=call)]
            return [_Variant(BUFFER, ("",), node=call)]
        if name == "register_parameter":
            param = call_arg(call, 1, "param")
            if param is None:
                return [_Variant(UNKNOWN, complete=False, node=call)]
            if is_none(param):
                return [_Variant(DECLARED, node=call)]
            return [_Variant(PARAMETER, ("",), node=call)]
        return self._value_variants(call_arg(call, 1, "module"), call, 0)

    def _value_variants(self, value: Optional[cst.BaseExpression], node: cst.CSTNode, depth: int) -> List[_Variant]:
        unknown = [_Variant(UNKNOWN, complete=False, node=node)]
        if value is None or depth > _MAX_DEPTH:
            return unknown
        if isinstance(value, cst.IfExp):
            body = self._value_variants(value.body, node, depth + 1)
            return body + self._value_variants(value.orelse, node, depth + 1)
        if is_none(value):
            return [_Variant(NONE, node=node)]
        if _is_literal(value):
            return [_Variant(PLAIN, node=node)]
        if isinstance(value, cst.Name):
            bound = self.init.single_binding(value.value)
            if isinstance(bound, cst.BaseExpression):
                return self._value_variants(bound, node, depth + 1)
            return unknown
        if isinstance(value, cst.Call):
            return [self._call_variant(value, node, depth)]
        return unknown

    def _call_variant(self, call: cst.Call, node: cst.CSTNode, depth: int) -> _Variant:
        unknown = _Variant(UNKNOWN, complete=False, node=node)
        func = call.func
        if isinstance(func, cst.Attribute) and func.attr.value in _RETURNS_SELF and isinstance(func.value, cst.Call):
            inner = self._call_variant(func.value, node, depth + 1)
            return inner if inner.kind in (SUBMODULE, FREE) else unknown
        qualname = self.ctx.qualify(func)
        if qualname is None:
            return unknown
        if qualname in _PARAMETERS:
            return _Variant(PARAMETER, ("",), node=node)
        if qualname in _BUFFERS:
            persistent = _flag(call, (None, "persistent", True))
            if persistent is None:
                return unknown
            if not persistent:
                return _Variant(FREE, label="non-persistent buffer", node=node)
            return _Variant(BUFFER, ("",), node=node)
        short = _torch_nn_name(qualname)
        if short is None:
            model = self.class_keys.model(qualname)
            if model is None or not self.ctx.is_module_class(model):
                return unknown
            return _Variant(SUBMODULE, self.class_keys.keys(model), complete=False, node=node)
        label = dotted_name(func) or short
        if short in PARAMETER_FREE_MODULES:
            return _Variant(FREE, label=label, node=node)
        if short in PARTIAL_KEYED_MODULES:
            return _Variant(SUBMODULE, PARTIAL_KEYED_MODULES[short], complete=False, node=node)
        if short in _CONTAINERS:
            return _Variant(SUBMODULE, self._container_keys(short, call, node, depth), complete=False, node=node)
        groups = KEYED_MODULES.get(short)
        if groups is None:
            return unknown
        keys: List[str] = []
        complete = True
        for group_keys, flags in groups:
            values = [_flag(call, flag) for flag in flags]
            if all(v is True for v in values):
                keys.extend(group_keys)
            elif not any(v is False for v in values):
                complete = False  # some flag is not a literal: the group may or may not be there
        if not keys and complete:
            return _Variant(FREE, label=label, node=node)
        return _Variant(SUBMODULE, tuple(keys), complete=complete, node=node)

    def _container_keys(self, kind: str, call: cst.Call, node: cst.CSTNode, depth: int) -> Tuple[str, ...]:
        """Keys of a container's literal contents; appends made later are not counted."""
        items: List[Tuple[str, cst.BaseExpression]] = []
        if kind == "Sequential":
            for index, arg in enumerate(call.args):
                if arg.star or arg.keyword is not None:
                    return ()
                items.append((str(index), arg.value))
        else:
            content = call_arg(call, 0, "modules")
            if kind == "ModuleList" and isinstance(content, (cst.List, cst.Tuple)):
                for index, element in enumerate(content.elements):
                    if isinstance(element, cst.StarredElement):
                        return tuple(self._flatten(items, node, depth))
                    items.append((str(index), element.value))
            elif kind == "ModuleDict" and isinstance(content, cst.Dict):
                for element in content.elements:
                    key = string_value(element.key) if isinstance(element, cst.DictElement) else None
                    if key is None:
                        continue  # unknown names cannot be listed; the others still hold
                    items.append((key, element.value))
        return tuple(self._flatten(items, node, depth))

    def _flatten(self, items: Sequence[Tuple[str, cst.BaseExpression]], node: cst.CSTNode, depth: int) -> List[str]:
        keys: List[str] = []
        for name, value in items:
            variants = self._value_variants(value, node, depth + 1)
            common = [k for k in variants[0].keys if all(k in v.keys for v in variants[1:])]
            keys.extend(_prefixed(name, common))
        return keys

    # -- control flow ------------------------------------------------------------------------
    def outcomes(self, attr: str) -> Optional[List[_Variant]]:
        """Every value the attribute may hold when `__init__` returns, in source order; None if unknown."""
        if attr in self.in_loop or attr in self.set_elsewhere:
            return None
        straight = self.straight.get(attr)
        if straight is not None and not self.has_return:
            # every creation runs on every path that builds a model (a `raise` only drops paths):
            # the last one in source order wins
            order = self._top_level_order()
            if all(key in order for key, _ in straight):
                last = max(straight, key=lambda event: order[event[0]])
                return [self.variants[last[1]]]
        fallthrough, returned = self._walk(attr, self.init.node.body.body, frozenset({-1}))
        final = fallthrough | returned
        variants: List[_Variant] = []
        if -1 in final:
            if self._may_inherit(self.cls, attr, set()):
                return None
            variants.append(_Variant(ABSENT))
        variants.extend(self.variants[i] for i in sorted(final - {-1}))
        return variants

    def _walk(
        self, attr: str, body: Sequence[cst.CSTNode], incoming: FrozenSet[int]
    ) -> Tuple[FrozenSet[int], FrozenSet[int]]:
        """States reaching the end of `body`, and states leaving through `return`.

        A state is the variant the attribute holds (-1: not created yet). `raise` ends a path:
        no model is built on it.
        """
        current = incoming
        returned: FrozenSet[int] = frozenset()
        for stmt in body:
            if not current:
                break
            if isinstance(stmt, cst.SimpleStatementLine):
                for small in stmt.body:
                    if isinstance(small, cst.Return):
                        returned |= current
                        current = frozenset()
                        break
                    if isinstance(small, (cst.Raise, cst.Break, cst.Continue)):
                        current = frozenset()
                        break
                    current = self._apply(attr, small, current)
            elif isinstance(stmt, cst.If):
                current, more = self._walk_if(attr, stmt, current)
                returned |= more
            elif isinstance(stmt, (cst.Try, cst.TryStar)):
                body_end, more = self._walk(attr, stmt.body.body, current)
                returned |= more
                # a handler starts from the state before the `try`: what fails is usually its
                # first statement (the import), and fewer paths mean fewer guessed differences
                ends: FrozenSet[int] = frozenset()
                for handler in stmt.handlers:
                    handler_end, more = self._walk(attr, handler.body.body, current)
                    ends |= handler_end
                    returned |= more
                if stmt.orelse is not None:
                    body_end, more = self._walk(attr, stmt.orelse.body.body, body_end)
                    returned |= more
                current = ends | body_end
                if stmt.finalbody is not None:
                    current, more = self._walk(attr, stmt.finalbody.body.body, current)
                    returned |= more
            elif isinstance(stmt, (cst.For, cst.While)):
                # creations inside loops are left alone (see `in_loop`): a loop only passes states on
                loop_end, more = self._walk(attr, stmt.body.body, current)
                returned |= more
                current = current | loop_end
                if stmt.orelse is not None:
                    current, more = self._walk(attr, stmt.orelse.body.body, current)
                    returned |= more
            elif isinstance(stmt, cst.With):
                current, more = self._walk(attr, stmt.body.body, current)
                returned |= more
            elif isinstance(stmt, cst.Match):
                ends = current
                for case in stmt.cases:
                    case_end, more = self._walk(attr, case.body.body, current)
                    ends |= case_end
                    returned |= more
                current = ends
        return current, returned

    def _walk_if(self, attr: str, stmt: cst.If, incoming: FrozenSet[int]) -> Tuple[FrozenSet[int], FrozenSet[int]]:
        body_end, returned = self._walk(attr, stmt.body.body, incoming)
        orelse = stmt.orelse
        if isinstance(orelse, cst.If):
            else_end, more = self._walk_if(attr, orelse, incoming)
        elif isinstance(orelse, cst.Else):
            else_end, more = self._walk(attr, orelse.body.body, incoming)
        else:
            else_end, more = incoming, frozenset()
        return body_end | else_end, returned | more

    def _apply(self, attr: str, small: cst.BaseSmallStatement, current: FrozenSet[int]) -> FrozenSet[int]:
        keys = [id(small)]
        if isinstance(small, cst.Expr):
            keys.append(id(small.value))
        for key in keys:
            for event in self.events.get(key, ()):
                if event.attr == attr:
                    current = frozenset(event.variants)
        return current

    def _may_inherit(self, cls: ClassModel, attr: str, seen: Set[str]) -> bool:
        """Whether a base class may create `attr` itself, so that leaving it out is not known to drop keys."""
        if cls.qualname in seen:
            return False
        seen.add(cls.qualname)
        for base in self.ctx.index.bases_of(self.ctx.summary, cls.name):
            if base.qualname is None:
                return True  # a base nothing resolves may create anything
            if base.qualname in _STATELESS_BASES:
                continue
            if base.summary is None:
                # torch.nn.Linear and the like create state of their own, and other libraries'
                # classes are not read; torch's other classes are no layers
                if is_torch_module_name(base.qualname) or not base.qualname.startswith("torch."):
                    return True
                continue
            if base.summary is not self.ctx.summary or base.cls is None:
                return True  # another file's class: its __init__ is not read here
            model = next((c for c in self.ctx.classes if c.name == base.cls.name), None)
            if model is None:
                return True
            if any(s.attr == attr for s in model.stores) or any(
                c.name in _REGISTRATIONS and string_value(call_arg(c.call, 0, "name")) == attr
                for c in model.self_calls
            ):
                return True
            if self._may_inherit(model, attr, seen):
                return True
        return False

    # -- findings ----------------------------------------------------------------------------
    def finding(self, attr: str) -> Optional[Report]:
        variants = self.outcomes(attr)
        if variants is None or len(variants) < 2:
            return None
        for variant in variants:
            if not variant.keys or variant.node is None:
                continue
            differing: List[_Variant] = []
            missing: List[str] = []
            for other in variants:
                if other is variant or not other.complete or other.kind == DECLARED:
                    # a slot registered as None is torch's own idiom for optional state (batch
                    # norm's running stats, a layer's bias): the configuration is explicit there
                    continue
                lacking = [k for k in variant.keys if k not in other.keys]
                if lacking:
                    differing.append(other)
                    missing.extend(k for k in lacking if k not in missing)
            if differing and not self._sized_apart(variant, differing):
                ordered = [k for k in variant.keys if k in missing]
                return Report(variant.node, _message(attr, variant, differing, ordered))
        return None

    # -- conditions on sizes -----------------------------------------------------------------
    def _sized_apart(self, variant: _Variant, differing: Sequence[_Variant]) -> bool:
        """Whether only size tests separate `variant` from every differing one.

        A size test compares sizes that also shape a layer built in every configuration
        (`in_ch != out_ch` beside an unconditional `Conv2d(in_ch, out_ch, 3)`): configurations on
        either side already differ in that layer's shape, so no checkpoint moves between them
        whatever the optional layer does, and building it always would not make keys portable.
        """
        if self.has_return:
            return False  # an early return leaves attributes out under tests not seen here
        if self._sizes is None:
            self._sizes = _SizeTests(self.ctx, self.cls, self.init)
        for other in differing:
            tests = self._separating_tests(variant, other)
            if not tests or not all(self._sizes.is_size_test(test) for test in tests):
                return False
        return True

    def _separating_tests(self, variant: _Variant, other: _Variant) -> List[cst.BaseExpression]:
        """The `if` and conditional-expression tests that decide between two variants; [] when unknown."""
        tests: List[cst.BaseExpression] = []
        nodes = [n for n in (variant.node, other.node) if n is not None]
        for node in nodes:
            if id(node) not in self.frames_of:
                return []
            tests.extend(_conditional_expression_tests(self.init, self.value_of.get(id(node))))
        frames_a = self.frames_of[id(variant.node)] if variant.node is not None else ()
        frames_b = self.frames_of[id(other.node)] if other.node is not None else ()
        shared = 0
        while shared < min(len(frames_a), len(frames_b)) and frames_a[shared] == frames_b[shared]:
            shared += 1
        seen: Set[int] = set()
        for frame in (*frames_a[shared:], *frames_b[shared:]):
            if isinstance(frame.node, cst.With):
                continue
            if not isinstance(frame.node, cst.If):
                return []  # try/except, loops, match: not a test of sizes
            if id(frame.node) not in seen:
                seen.add(id(frame.node))
                tests.append(frame.node.test)
        return tests


def _conditional_expression_tests(
    init: MethodModel, value: Optional[cst.BaseExpression], depth: int = 0
) -> List[cst.BaseExpression]:
    """Tests of the conditional expressions choosing a stored value (through a local bound once)."""
    if value is None or depth > _MAX_DEPTH:
        return []
    if isinstance(value, cst.IfExp):
        return [
            value.test,
            *_conditional_expression_tests(init, value.body, depth + 1),
            *_conditional_expression_tests(init, value.orelse, depth + 1),
        ]
    if isinstance(value, cst.Name):
        bound = init.single_binding(value.value)
        if isinstance(bound, cst.BaseExpression):
            return _conditional_expression_tests(init, bound, depth + 1)
    return []


# Arguments that set the shape of a torch layer's parameters: (position, keyword). Not stride,
# kernel size, padding, groups or bias: two layers differing only in those keep their shapes (or
# their keys), so a test on them does not keep configurations apart.
_CONV_SHAPE = ((0, "in_channels"), (1, "out_channels"))
_NORM_SHAPE = ((0, "num_features"),)
_RNN_SHAPE = ((0, "input_size"), (1, "hidden_size"), (None, "proj_size"))
SHAPE_ARGUMENTS: Dict[str, Tuple[Tuple[Optional[int], str], ...]] = {
    "Linear": ((0, "in_features"), (1, "out_features")),
    "Bilinear": ((0, "in1_features"), (1, "in2_features"), (2, "out_features")),
    "LazyLinear": ((0, "out_features"),),
    **{f"Conv{n}d": _CONV_SHAPE for n in (1, 2, 3)},
    **{f"ConvTranspose{n}d": _CONV_SHAPE for n in (1, 2, 3)},
    **{f"LazyConv{n}d": ((0, "out_channels"),) for n in (1, 2, 3)},
    **{f"LazyConvTranspose{n}d": ((0, "out_channels"),) for n in (1, 2, 3)},
    "Embedding": ((0, "num_embeddings"), (1, "embedding_dim")),
    "EmbeddingBag": ((0, "num_embeddings"), (1, "embedding_dim")),
    **{f"BatchNorm{n}d": _NORM_SHAPE for n in (1, 2, 3)},
    **{f"InstanceNorm{n}d": _NORM_SHAPE for n in (1, 2, 3)},
    "SyncBatchNorm": _NORM_SHAPE,
    "LayerNorm": ((0, "normalized_shape"),),
    "RMSNorm": ((0, "normalized_shape"),),
    "GroupNorm": ((1, "num_channels"),),
    "PReLU": ((0, "num_parameters"),),
    **{name: _RNN_SHAPE for name in ("RNN", "LSTM", "GRU", "RNNCell", "LSTMCell", "GRUCell")},
    "MultiheadAttention": ((0, "embed_dim"), (None, "kdim"), (None, "vdim")),
    "TransformerEncoderLayer": ((0, "d_model"), (2, "dim_feedforward")),
    "TransformerDecoderLayer": ((0, "d_model"), (2, "dim_feedforward")),
}
# For the project's own Module classes, whose parameters are not read: the first two positional
# arguments and keywords whose names say they are sizes.
_PROJECT_SHAPE_POSITIONS = (0, 1)
_PROJECT_SHAPE_KEYWORDS: FrozenSet[str] = frozenset(
    (
        "in_channels out_channels in_dim out_dim dim hidden_size channels in_features out_features "
        "embed_dim embedding_dim num_features num_channels"
    ).split()
)
# torch factories whose positional arguments are all sizes (inside `nn.Parameter(...)` or a buffer)
_SIZE_FACTORIES: FrozenSet[str] = frozenset(f"torch.{name}" for name in ("zeros", "ones", "empty", "randn", "rand"))
# calls that keep a size a size: `int(dim * ratio)`
_SIZE_FUNCTIONS: FrozenSet[str] = frozenset(("int", "round", "max", "min", "abs"))


class _SizeTests:
    """Which tests of `__init__` compare sizes that also shape layers built in every configuration."""

    def __init__(self, ctx: FileContext, cls: ClassModel, init: MethodModel) -> None:
        self.ctx = ctx
        self.cls = cls
        self.init = init
        self.shape_atoms: Set[str] = set()
        body = init.node.body
        if isinstance(body, cst.IndentedBlock):
            for stmt in body.body:
                if isinstance(stmt, cst.SimpleStatementLine):
                    for small in stmt.body:
                        self._collect(small)

    # -- what always-built layers are shaped by ---------------------------------------------------
    def _collect(self, node: cst.CSTNode) -> None:
        """Shape arguments of every layer built by a statement that runs in every configuration."""
        if isinstance(node, (cst.IfExp, cst.BooleanOperation, cst.Lambda, cst.FunctionDef, cst.ClassDef)):
            return  # may not run, or runs later
        if isinstance(node, cst.Call):
            for argument in self._shape_arguments(node):
                self.shape_atoms |= self._atoms(argument, 0)
        for child in node.children:
            self._collect(child)

    def _shape_arguments(self, call: cst.Call) -> List[cst.BaseExpression]:
        func = call.func
        if (
            isinstance(func, cst.Attribute)
            and isinstance(func.value, cst.Name)
            and func.value.value == self.init.self_name
            and func.attr.value in ("register_buffer", "register_parameter")
        ):
            return self._factory_sizes(call_arg(call, 1, _REGISTERED_VALUE[func.attr.value]))
        qualname = self.ctx.qualify(func)
        if qualname is None:
            return []
        if qualname in _PARAMETERS or qualname in _BUFFERS:
            return self._factory_sizes(call_arg(call, 0, "data"))
        short = _torch_nn_name(qualname)
        if short is not None:
            found = [
                call_arg(call, position, keyword) if position is not None else _keyword(call, keyword)
                for position, keyword in SHAPE_ARGUMENTS.get(short, ())
            ]
            return [a for a in found if a is not None]
        if _has_star_args(call) or not self.ctx.index.is_module_class(qualname, self.ctx.summary):
            return []
        positional = [a.value for a in call.args if a.keyword is None]
        sizes = [value for i, value in enumerate(positional) if i in _PROJECT_SHAPE_POSITIONS]
        sizes.extend(a.value for a in call.args if a.keyword is not None and a.keyword.value in _PROJECT_SHAPE_KEYWORDS)
        return sizes

    def _factory_sizes(self, tensor: Optional[cst.BaseExpression]) -> List[cst.BaseExpression]:
        if isinstance(tensor, cst.Call) and self.ctx.qualify(tensor.func) in _SIZE_FACTORIES:
            return [a.value for a in tensor.args if a.keyword is None and not a.star]
        if isinstance(tensor, cst.Name):
            bound = self.init.single_binding(tensor.value)
            if isinstance(bound, cst.Call):
                return self._factory_sizes(bound)
        return []

    def _atoms(self, node: cst.BaseExpression, depth: int) -> Set[str]:
        """The names a size is computed from: `wide` with `wide = ch * ratio` gives wide, ch, ratio."""
        if depth > _MAX_DEPTH:
            return set()
        if isinstance(node, cst.BinaryOperation):
            return self._atoms(node.left, depth + 1) | self._atoms(node.right, depth + 1)
        if isinstance(node, cst.UnaryOperation):
            return self._atoms(node.expression, depth + 1)
        if isinstance(node, cst.IfExp):
            return self._atoms(node.body, depth + 1) | self._atoms(node.orelse, depth + 1)
        if isinstance(node, (cst.Tuple, cst.List)):
            atoms: Set[str] = set()
            for element in node.elements:
                atoms |= self._atoms(element.value, depth + 1)
            return atoms
        if isinstance(node, cst.Call):
            if isinstance(node.func, cst.Name) and node.func.value in _SIZE_FUNCTIONS:
                atoms = set()
                for arg in node.args:
                    atoms |= self._atoms(arg.value, depth + 1)
                return atoms
            return set()
        text = _text(node)
        if text is None:
            return set()
        atoms = {text}
        bound = self._single_value(node)
        if bound is not None:
            atoms |= self._atoms(bound, depth + 1)
        return atoms

    def _single_value(self, node: cst.BaseExpression) -> Optional[cst.BaseExpression]:
        """The value of a local bound once, or of `self.x` set once, in `__init__` and nowhere else."""
        if isinstance(node, cst.Name):
            bound = self.init.single_binding(node.value)
            return bound if isinstance(bound, cst.BaseExpression) else None
        if (
            isinstance(node, cst.Attribute)
            and isinstance(node.value, cst.Name)
            and node.value.value == self.init.self_name
        ):
            stores = self.cls.stores_of(node.attr.value)
            if len(stores) == 1 and stores[0].method is self.init and not stores[0].frames:
                return stores[0].value
        return None

    # -- the tests --------------------------------------------------------------------------------
    def is_size_test(self, test: cst.BaseExpression, depth: int = 0) -> bool:
        """`a != b` / `a == b` whose every non-literal side shapes an always-built layer, possibly
        combined with `and` / `or` / `not`, or a name or `self.x` bound once to such a test."""
        if depth > _MAX_DEPTH:
            return False
        if isinstance(test, cst.BooleanOperation):
            return self.is_size_test(test.left, depth + 1) and self.is_size_test(test.right, depth + 1)
        if isinstance(test, cst.UnaryOperation) and isinstance(test.operator, cst.Not):
            return self.is_size_test(test.expression, depth + 1)
        if isinstance(test, cst.Comparison):
            if not all(isinstance(c.operator, (cst.Equal, cst.NotEqual)) for c in test.comparisons):
                return False
            operands = [test.left, *(c.comparator for c in test.comparisons)]
            sides = [o for o in operands if not _is_literal(o) and not is_none(o)]
            return bool(sides) and all(self._shapes_a_layer(o) for o in sides)
        bound = self._single_value(test)
        return bound is not None and self.is_size_test(bound, depth + 1)

    def _shapes_a_layer(self, operand: cst.BaseExpression) -> bool:
        """Whether the operand, or what it stands for, is a size of an always-built layer."""
        node: Optional[cst.BaseExpression] = operand
        for _ in range(_MAX_DEPTH):
            if node is None:
                return False
            text = _text(node)
            if text is None:
                return False
            if text in self.shape_atoms:
                return True
            # follow plain aliases only (`self.in_channels = in_channels`): arithmetic would change the size
            node = self._single_value(node)
            if node is not None and not isinstance(node, (cst.Name, cst.Attribute)):
                return False
        return False


def _keyword(call: cst.Call, keyword: str) -> Optional[cst.BaseExpression]:
    return next((a.value for a in call.args if a.keyword is not None and a.keyword.value == keyword), None)


def _text(node: cst.BaseExpression) -> Optional[str]:
    """`in_ch`, `self.in_channels`, `config.hidden_size`; None for anything else."""
    return dotted_name(node) if isinstance(node, (cst.Name, cst.Attribute)) else None


_SITUATION_ORDER = (ABSENT, NONE, FREE, PLAIN)


def _message(attr: str, variant: _Variant, differing: Sequence[_Variant], keys: Sequence[str]) -> str:
    other = min(differing, key=lambda v: _SITUATION_ORDER.index(v.kind) if v.kind in _SITUATION_ORDER else 99)
    if other.kind == ABSENT:
        situation = "is created only under a condition"
    elif other.kind == NONE:
        situation = "is None under another condition"
    elif other.kind == FREE:
        situation = f"is a parameter-free {other.label} under another condition"
    elif other.kind == PLAIN:
        situation = "is a plain value under another condition"
    else:
        situation = "has different state_dict keys under another condition"
    if other.kind in _SITUATION_ORDER:
        advice = "create it unconditionally and gate its use in forward()"
    else:
        advice = "make every branch create the same parameters and buffers"
    full = ", ".join(f'"{k}"' for k in _prefixed(attr, keys))
    subject = f"state_dict keys {full} exist" if len(keys) > 1 else f"state_dict key {full} exists"
    return (
        f'{variant.kind} "{attr}" {situation}: {subject} under one configuration only, so a checkpoint saved '
        "under one fails to load under the other (Missing key(s) / Unexpected key(s)); "
        f"{advice}"
    )
