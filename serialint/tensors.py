"""What an expression is, as far as torch state goes: a tensor, a Module, a Parameter.

Rules about state that `state_dict()` loses need to know whether the value stored on `self` is a
tensor, or a Module or Parameter construction. Nothing here guesses: an expression is classified
only when its kind is certain from the source (a torch factory resolved through the file's
imports, a tensor method on a value already known to be a tensor, a class known to the project
index). Everything else is unknown, and the rules stay silent on unknown values.

Entry points:

- `tensor_info` / `is_tensor`: is the expression certainly a tensor, and does it carry data read
  from a method argument or only a 0-dim constant;
- `construction`: the Module, Parameter or Buffer the expression certainly builds;
- `class_registrations` / `hierarchy_registrations`: the buffers and parameters a class (and its
  Module bases of the same file) registers by name, and whether it registers dynamic names;
- `saves_state_itself`, `looks_like_cache`: the rules' shared exemptions;
- `walk` / `method_nodes`: a cheap walk over a method body, done once per file.

A `Scope` carries the file and the method an expression sits in.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field, fields
from typing import Dict, FrozenSet, Iterator, List, Optional, Set, Tuple

import libcst as cst

from serialint.index import MODULE_ROOTS, is_torch_module_name
from serialint.model import ClassModel, FileContext, MethodModel, call_arg, dotted_name, is_name, is_none, string_value
from serialint.walk import NODE, SEQUENCE, TOKEN, WHITESPACE_NODE, node_kind

# torch functions that build a new tensor whatever their arguments are: the values do not come
# from another tensor's data (`zeros_like(x)` copies only the shape).
TORCH_FACTORIES: FrozenSet[str] = frozenset(
    f"torch.{name}"
    for name in (
        "zeros",
        "ones",
        "empty",
        "full",
        "rand",
        "randn",
        "randint",
        "randperm",
        "arange",
        "range",
        "linspace",
        "logspace",
        "eye",
        "zeros_like",
        "ones_like",
        "empty_like",
        "full_like",
        "rand_like",
        "randn_like",
        "randint_like",
        "empty_strided",
        "tril_indices",
        "triu_indices",
        "normal",
        "Tensor",
        "FloatTensor",
        "DoubleTensor",
        "HalfTensor",
        "LongTensor",
        "IntTensor",
        "BoolTensor",
        "ByteTensor",
    )
)

# torch functions that turn data into a tensor: the values are the data's.
TORCH_DATA_CONSTRUCTORS: FrozenSet[str] = frozenset(
    f"torch.{name}" for name in ("tensor", "as_tensor", "asarray", "from_numpy", "scalar_tensor", "frombuffer")
)

# torch functions that return one tensor (never a tuple) or raise: `torch.max` and friends are
# absent because `torch.max(x, dim)` returns a (values, indices) pair.
TORCH_TENSOR_FUNCTIONS: FrozenSet[str] = frozenset(
    [
        f"torch.{name}"
        for name in (
            "cat",
            "concat",
            "concatenate",
            "stack",
            "hstack",
            "vstack",
            "outer",
            "ger",
            "einsum",
            "matmul",
            "mm",
            "bmm",
            "exp",
            "log",
            "log2",
            "log10",
            "sin",
            "cos",
            "tan",
            "sqrt",
            "rsqrt",
            "sigmoid",
            "tanh",
            "softmax",
            "abs",
            "clamp",
            "clip",
            "tril",
            "triu",
            "cumsum",
            "cumprod",
            "flip",
            "roll",
            "mean",
            "sum",
            "std",
            "var",
            "prod",
            "amax",
            "amin",
            "logsumexp",
            "diag",
            "diag_embed",
            "kron",
            "cdist",
            "pow",
            "mul",
            "add",
            "sub",
            "div",
            "reciprocal",
            "neg",
            "polar",
            "complex",
            "square",
            "repeat_interleave",
            "reshape",
            "flatten",
            "transpose",
            "permute",
            "unsqueeze",
            "squeeze",
            "clone",
            "detach",
            "bernoulli",
            "multinomial",
            "poisson",
            "view_as_real",
            "view_as_complex",
            "masked_fill",
            "gather",
            "index_select",
        )
    ]
    + [
        f"torch.nn.functional.{name}"
        for name in ("normalize", "pad", "one_hot", "softmax", "log_softmax", "interpolate", "linear", "embedding")
    ]
)

# Methods that return a tensor when called on a tensor.
TENSOR_RESULT_METHODS: FrozenSet[str] = frozenset(
    (
        "float",
        "double",
        "half",
        "bfloat16",
        "long",
        "int",
        "short",
        "bool",
        "byte",
        "char",
        "to",
        "cuda",
        "cpu",
        "type_as",
        "contiguous",
        "clone",
        "detach",
        "detach_",
        "requires_grad_",
        "view",
        "view_as",
        "reshape",
        "reshape_as",
        "expand",
        "expand_as",
        "repeat",
        "repeat_interleave",
        "unsqueeze",
        "squeeze",
        "flatten",
        "unflatten",
        "t",
        "transpose",
        "permute",
        "flip",
        "roll",
        "narrow",
        "select",
        "index_select",
        "gather",
        "masked_fill",
        "masked_fill_",
        "fill_",
        "zero_",
        "normal_",
        "uniform_",
        "exponential_",
        "bernoulli_",
        "random_",
        "copy_",
        "add",
        "add_",
        "sub",
        "sub_",
        "mul",
        "mul_",
        "div",
        "div_",
        "pow",
        "exp",
        "log",
        "sqrt",
        "rsqrt",
        "sin",
        "cos",
        "tan",
        "tanh",
        "sigmoid",
        "softmax",
        "log_softmax",
        "abs",
        "neg",
        "reciprocal",
        "clamp",
        "clamp_",
        "clip",
        "sum",
        "mean",
        "std",
        "var",
        "prod",
        "cumsum",
        "cumprod",
        "norm",
        "amax",
        "amin",
        "argmax",
        "argmin",
        "logsumexp",
        "matmul",
        "mm",
        "bmm",
        "outer",
        "tril",
        "triu",
        "tril_",
        "triu_",
        "square",
        "sign",
        "round",
        "floor",
        "ceil",
        "new_zeros",
        "new_ones",
        "new_empty",
        "new_full",
        "new_tensor",
        "pin_memory",
        "share_memory_",
    )
)

# Methods whose result is a new tensor whose values do not come from the receiver's data.
_SHAPE_ONLY_METHODS: FrozenSet[str] = frozenset(
    ("new_zeros", "new_ones", "new_empty", "new_full", "new_tensor", "zero_", "fill_", "normal_", "uniform_")
)

# Methods that exist only on tensors: they prove a receiver of unknown type is a tensor.
# `clone` is not among them (yacs/detectron2 configs have `cfg.clone()`), nor are `to`, `float`,
# `cuda`, … (Modules have them and return themselves).
TENSOR_ONLY_METHODS: FrozenSet[str] = frozenset(
    (
        "detach",
        "detach_",
        "requires_grad_",
        "new_zeros",
        "new_ones",
        "new_empty",
        "new_full",
        "new_tensor",
        "type_as",
        "unsqueeze",
        "masked_fill",
        "expand_as",
        "view_as",
    )
)

# Reductions that prove an argument of a Module method is an array (a tensor in practice).
ARGUMENT_REDUCTIONS: FrozenSet[str] = frozenset(
    "mean std var sum prod amax amin norm logsumexp cumsum square sqrt exp log abs".split()
)

# Methods that keep an argument's (unknown) type and data: `x.float()`, `x.to(device)`, `x[0]`.
_ARGUMENT_PRESERVING_METHODS: FrozenSet[str] = frozenset(
    ("float", "double", "half", "bfloat16", "to", "cuda", "cpu", "contiguous", "flatten", "reshape", "view")
)

# Attributes that are tensors when read on a tensor.
_TENSOR_ATTRIBUTES: FrozenSet[str] = frozenset(("T", "mT", "H", "mH", "data", "real", "imag"))

PARAMETER_CLASSES: FrozenSet[str] = frozenset(
    (
        "torch.nn.Parameter",
        "torch.nn.parameter.Parameter",
        "torch.nn.UninitializedParameter",
        "torch.nn.parameter.UninitializedParameter",
    )
)
BUFFER_CLASSES: FrozenSet[str] = frozenset(
    (
        "torch.nn.Buffer",
        "torch.nn.parameter.Buffer",
        "torch.nn.UninitializedBuffer",
        "torch.nn.parameter.UninitializedBuffer",
    )
)

# torch Modules that hold no parameters and no buffers: nothing of theirs is lost when they are
# not registered.
STATELESS_TORCH_MODULES: FrozenSet[str] = frozenset(
    (
        "ReLU",
        "ReLU6",
        "GELU",
        "SiLU",
        "Mish",
        "Tanh",
        "Sigmoid",
        "Softmax",
        "Softmax2d",
        "LogSoftmax",
        "Softmin",
        "Softplus",
        "Softsign",
        "LeakyReLU",
        "ELU",
        "SELU",
        "CELU",
        "GLU",
        "Hardtanh",
        "Hardswish",
        "Hardsigmoid",
        "Hardshrink",
        "Softshrink",
        "Tanhshrink",
        "LogSigmoid",
        "Threshold",
        "Identity",
        "Dropout",
        "Dropout1d",
        "Dropout2d",
        "Dropout3d",
        "AlphaDropout",
        "FeatureAlphaDropout",
        "Flatten",
        "Unflatten",
        "MaxPool1d",
        "MaxPool2d",
        "MaxPool3d",
        "AvgPool1d",
        "AvgPool2d",
        "AvgPool3d",
        "AdaptiveAvgPool1d",
        "AdaptiveAvgPool2d",
        "AdaptiveAvgPool3d",
        "AdaptiveMaxPool1d",
        "AdaptiveMaxPool2d",
        "AdaptiveMaxPool3d",
        "Upsample",
        "UpsamplingNearest2d",
        "UpsamplingBilinear2d",
        "PixelShuffle",
        "PixelUnshuffle",
        "ChannelShuffle",
        "ZeroPad1d",
        "ZeroPad2d",
        "ZeroPad3d",
        "ConstantPad1d",
        "ConstantPad2d",
        "ConstantPad3d",
        "ReflectionPad1d",
        "ReflectionPad2d",
        "ReflectionPad3d",
        "ReplicationPad1d",
        "ReplicationPad2d",
        "ReplicationPad3d",
        "CircularPad1d",
        "CircularPad2d",
        "CircularPad3d",
        "Fold",
        "Unfold",
        "CosineSimilarity",
        "PairwiseDistance",
    )
)
# Losses: their only state is a `weight=` buffer, a constant rebuilt from the configuration.
_STATELESS_LOSSES: FrozenSet[str] = frozenset(
    (
        "CrossEntropyLoss",
        "NLLLoss",
        "BCELoss",
        "BCEWithLogitsLoss",
        "MultiLabelSoftMarginLoss",
        "MultiMarginLoss",
        "MSELoss",
        "L1Loss",
        "SmoothL1Loss",
        "HuberLoss",
        "KLDivLoss",
        "CosineEmbeddingLoss",
        "MarginRankingLoss",
        "TripletMarginLoss",
        "HingeEmbeddingLoss",
        "SoftMarginLoss",
        "PoissonNLLLoss",
        "GaussianNLLLoss",
        "CTCLoss",
    )
)

# torch's Module containers: they register what they hold, and nothing of their own.
_TORCH_CONTAINERS: FrozenSet[str] = frozenset(("Sequential", "ModuleList", "ModuleDict"))

# Methods of a Module that return the Module itself.
_MODULE_CHAIN_METHODS: FrozenSet[str] = frozenset(
    ("to", "cuda", "cpu", "float", "double", "half", "bfloat16", "train", "eval", "requires_grad_")
)

# Parameter annotations that say the argument is not a tensor.
_NON_TENSOR_ANNOTATIONS: FrozenSet[str] = frozenset(
    ("int", "float", "bool", "str", "bytes", "list", "dict", "tuple", "set", "List", "Dict", "Tuple", "Set")
)
_TENSOR_ANNOTATIONS: FrozenSet[str] = frozenset(("torch.Tensor", "torch.FloatTensor", "torch.LongTensor"))

_MAX_DEPTH = 12


@dataclass(frozen=True)
class TensorInfo:
    """A value certainly a tensor, and where its values come from."""

    # its values come from a method argument's data (`x.mean(0)`, `batch.detach()`, `torch.tensor(v)`)
    from_argument: bool = False
    # a 0-dim constant (`torch.tensor(0.5)`, `torch.ones(())`): behaves like a Python number on any device
    scalar_constant: bool = False


@dataclass(frozen=True)
class Construction:
    """A Module or Parameter built by the expression: `nn.Linear(2, 2)`, `Block(cfg)`, `nn.Parameter(t)`."""

    kind: str  # "module", "parameter" or "buffer"
    class_name: str  # the last part of the class's name: "Linear", "Block", "Parameter"
    # a Module known to hold nothing a checkpoint must carry: torch activations, pooling, dropout,
    # losses (a loss's `weight=` is a constant), empty `nn.Sequential()` placeholders, project
    # Modules of the file without `__init__`
    stateless: bool = False


@dataclass(frozen=True)
class _ArgumentValue:
    """A value of unknown type read from a method argument: `x`, `x.float()`, `batch[0]`."""


_ARGUMENT = _ArgumentValue()


class Scope:
    """Where an expression is evaluated: the file, and the method whose locals it may read."""

    def __init__(self, ctx: FileContext, method: Optional[MethodModel] = None) -> None:
        self.ctx = ctx
        self.method = method
        self._params: Optional[Dict[str, cst.Param]] = None

    def _param(self, name: str) -> Optional[cst.Param]:
        if self.method is None:
            return None
        if self._params is None:
            params = self.method.node.params
            self._params = {
                param.name.value: param for param in (*params.posonly_params, *params.params, *params.kwonly_params)
            }
        return self._params.get(name)

    def annotation(self, name: str) -> Optional[cst.BaseExpression]:
        """The annotation of a parameter of the method, if it has one."""
        param = self._param(name)
        return param.annotation.annotation if param is not None and param.annotation is not None else None

    def default(self, name: str) -> Optional[cst.BaseExpression]:
        """The default value of a parameter of the method, if it has one."""
        param = self._param(name)
        return param.default if param is not None else None

    def is_argument(self, name: str) -> bool:
        """A parameter of the method other than `self`, bound nowhere else in the body."""
        method = self.method
        if method is None or name == method.self_name or name not in method.params:
            return False
        return name not in method.bindings and name not in method.outer_names

    def local_values(self, name: str) -> Optional[List[cst.BaseExpression]]:
        """Every value a local (non-parameter) name is bound to, or None if any is unknown."""
        method = self.method
        if method is None or name in method.params or name in method.outer_names:
            return None
        values = method.bindings.get(name)
        if not values or any(v is None for v in values):
            return None
        return [v for v in values if v is not None]


def parameter_annotation(scope: Scope, name: str) -> Optional[str]:
    """The qualified (or plain) name of a method parameter's annotation, e.g. `torch.Tensor`."""
    ann = scope.annotation(name)
    if ann is None:
        return None
    if isinstance(ann, cst.SimpleString):
        text = string_value(ann)
        if text is None:
            return None
        return scope.ctx.summary.qualify_dotted(text) or text
    if isinstance(ann, cst.Subscript):
        ann = ann.value
    return scope.ctx.qualify(ann) or dotted_name(ann)


# -- tensors ---------------------------------------------------------------------------------


def is_tensor(expr: Optional[cst.BaseExpression], scope: Scope) -> bool:
    return tensor_info(expr, scope) is not None


def tensor_info(expr: Optional[cst.BaseExpression], scope: Scope) -> Optional[TensorInfo]:
    """A TensorInfo when `expr` certainly evaluates to a tensor (not a Parameter), else None."""
    result = _classify(expr, scope, 0, set())
    return result if isinstance(result, TensorInfo) else None


_Value = Optional[object]  # TensorInfo, _ARGUMENT or None


def _classify(expr: Optional[cst.BaseExpression], scope: Scope, depth: int, pending: Set[str]) -> _Value:
    if expr is None or depth > _MAX_DEPTH:
        return None
    if isinstance(expr, cst.Call):
        return _classify_call(expr, scope, depth, pending)
    if isinstance(expr, cst.Name):
        return _classify_name(expr.value, scope, depth, pending)
    if isinstance(expr, cst.Attribute):
        base = _classify(expr.value, scope, depth + 1, pending)
        if expr.attr.value in _TENSOR_ATTRIBUTES:
            if isinstance(base, TensorInfo):
                return TensorInfo(from_argument=base.from_argument, scalar_constant=base.scalar_constant)
            if base is _ARGUMENT and expr.attr.value == "data":
                return _ARGUMENT
        return None
    if isinstance(expr, cst.Subscript):
        base = _classify(expr.value, scope, depth + 1, pending)
        if isinstance(base, TensorInfo):
            return TensorInfo(from_argument=base.from_argument)
        return _ARGUMENT if base is _ARGUMENT else None
    if isinstance(expr, cst.BinaryOperation):
        left = _classify(expr.left, scope, depth + 1, pending)
        right = _classify(expr.right, scope, depth + 1, pending)
        tensors = [v for v in (left, right) if isinstance(v, TensorInfo)]
        if not tensors:
            return None
        return TensorInfo(
            from_argument=any(v is _ARGUMENT or (isinstance(v, TensorInfo) and v.from_argument) for v in (left, right)),
            # an operand of unknown kind is taken for a number: `torch.ones(()) * math.log(10)`
            scalar_constant=all(t.scalar_constant for t in tensors),
        )
    if isinstance(expr, cst.UnaryOperation) and not isinstance(expr.operator, cst.Not):
        operand = _classify(expr.expression, scope, depth + 1, pending)
        return operand if isinstance(operand, TensorInfo) else None
    return None


def _classify_name(name: str, scope: Scope, depth: int, pending: Set[str]) -> _Value:
    if name in pending:
        # `pe = torch.zeros(n); pe = pe.unsqueeze(0)`: the other bindings decide
        return TensorInfo()
    if scope.is_argument(name):
        annotation = parameter_annotation(scope, name)
        if annotation in _TENSOR_ANNOTATIONS or annotation == "Tensor":
            return TensorInfo(from_argument=True)
        if annotation is not None and (annotation in _NON_TENSOR_ANNOTATIONS or "." in annotation):
            return None
        return _ARGUMENT
    values = scope.local_values(name)
    if values is None:
        return None
    pending = pending | {name}
    results = [_classify(v, scope, depth + 1, pending) for v in values]
    if not all(isinstance(r, TensorInfo) for r in results):
        return None
    infos = [r for r in results if isinstance(r, TensorInfo)]
    return TensorInfo(
        from_argument=any(i.from_argument for i in infos),
        scalar_constant=all(i.scalar_constant for i in infos),
    )


def _classify_call(call: cst.Call, scope: Scope, depth: int, pending: Set[str]) -> _Value:
    func = call.func
    qualified = scope.ctx.qualify(func)
    if qualified is not None:
        if qualified in TORCH_FACTORIES:
            return TensorInfo(scalar_constant=_is_empty_shape(call_arg(call, 0, "size")))
        if qualified in TORCH_DATA_CONSTRUCTORS:
            data = call_arg(call, 0, "data")
            return TensorInfo(
                from_argument=_carries_argument(data, scope, depth, pending, any_argument=True),
                scalar_constant=_maybe_scalar_data(data, scope),
            )
        if qualified.startswith("torch.nn.init."):
            # in-place initialisers return the tensor they fill
            first = _classify(call_arg(call, 0, "tensor"), scope, depth + 1, pending)
            return first if isinstance(first, TensorInfo) else None
        if qualified in TORCH_TENSOR_FUNCTIONS:
            from_argument = any(_carries_argument(arg.value, scope, depth, pending) for arg in call.args)
            return TensorInfo(from_argument=from_argument)
    if isinstance(func, cst.Attribute):
        method = func.attr.value
        receiver = _classify(func.value, scope, depth + 1, pending)
        if isinstance(receiver, TensorInfo):
            if method == "type" and not call.args:
                return None  # `t.type()` is the type's name, a str
            if method in TENSOR_RESULT_METHODS or method == "type":
                if method in _SHAPE_ONLY_METHODS:
                    return TensorInfo()
                return TensorInfo(from_argument=receiver.from_argument, scalar_constant=receiver.scalar_constant)
            return None
        if method in TENSOR_ONLY_METHODS:
            from_argument = receiver is _ARGUMENT and method not in _SHAPE_ONLY_METHODS
            return TensorInfo(from_argument=from_argument)
        if receiver is _ARGUMENT:
            if method in ARGUMENT_REDUCTIONS:
                return TensorInfo(from_argument=True)
            if method in _ARGUMENT_PRESERVING_METHODS:
                return _ARGUMENT
    return None


def _carries_argument(
    expr: Optional[cst.BaseExpression], scope: Scope, depth: int, pending: Set[str], any_argument: bool = False
) -> bool:
    """Whether `expr` (or an element of a list/tuple display) holds data read from an argument.

    With `any_argument`, an argument of any type counts (`torch.tensor(n)` with `n: int`).
    """
    if isinstance(expr, (cst.List, cst.Tuple)):
        return any(
            _carries_argument(e.value, scope, depth, pending, any_argument)
            for e in expr.elements
            if not isinstance(e, cst.StarredElement)
        )
    if any_argument and isinstance(expr, cst.Name) and scope.is_argument(expr.value):
        return True
    value = _classify(expr, scope, depth + 1, pending)
    return value is _ARGUMENT or (isinstance(value, TensorInfo) and value.from_argument)


def _is_number(node: Optional[cst.BaseExpression]) -> bool:
    if isinstance(node, (cst.Integer, cst.Float)):
        return True
    if isinstance(node, cst.UnaryOperation) and isinstance(node.operator, (cst.Minus, cst.Plus)):
        return _is_number(node.expression)
    return False


def _is_empty_shape(node: Optional[cst.BaseExpression]) -> bool:
    return isinstance(node, (cst.Tuple, cst.List)) and not node.elements


def _maybe_scalar_data(data: Optional[cst.BaseExpression], scope: Scope) -> bool:
    """Data that may be a single number: a literal, an arithmetic of them, a plain name or call.

    Only data visibly holding several values (a list, tuple, comprehension, tensor) is not.
    """
    if data is None:
        return False
    if _is_number(data) or isinstance(data, cst.Name) and data.value in ("True", "False"):
        return True
    if isinstance(data, (cst.List, cst.Tuple, cst.ListComp, cst.GeneratorExp, cst.Set)):
        return False
    if isinstance(data, cst.BinaryOperation):
        return _maybe_scalar_data(data.left, scope) and _maybe_scalar_data(data.right, scope)
    if is_tensor(data, scope):
        return False
    if isinstance(data, cst.Name):
        if scope.is_argument(data.value):
            default = scope.default(data.value)
            if default is not None and not is_none(default):
                return _maybe_scalar_data(default, scope)
            annotation = parameter_annotation(scope, data.value)
            return annotation is None or annotation in ("int", "float", "bool", "complex")
        values = scope.local_values(data.value)
        if values is None and scope.method is not None and data.value not in scope.method.params:
            values = _module_constant(scope.ctx, data.value)
        if values is not None:
            return all(_maybe_scalar_data(v, scope) for v in values)
        return True
    return isinstance(data, (cst.Call, cst.Attribute))


def _module_constant(ctx: FileContext, name: str) -> Optional[List[cst.BaseExpression]]:
    """The value of a module-level name assigned exactly once at the top of the file."""
    values: List[cst.BaseExpression] = []
    for stmt in ctx.module.body:
        if isinstance(stmt, cst.SimpleStatementLine):
            for small in stmt.body:
                if isinstance(small, cst.Assign) and any(is_name(t.target, name) for t in small.targets):
                    values.append(small.value)
                elif isinstance(small, cst.AnnAssign) and is_name(small.target, name) and small.value is not None:
                    values.append(small.value)
    return values if len(values) == 1 else None


# -- Modules and Parameters -------------------------------------------------------------------


def construction(expr: Optional[cst.BaseExpression], scope: Scope, _depth: int = 0) -> Optional[Construction]:
    """The Module or Parameter `expr` certainly builds, directly or through a local bound once."""
    if expr is None or _depth > _MAX_DEPTH:
        return None
    ctx = scope.ctx
    # Arguments are not followed, even when annotated `nn.Module`: a Module handed in was built
    # elsewhere, and keeping it out of this module's registry (`self._teacher = [teacher]`) is a
    # deliberate idiom.
    if isinstance(expr, cst.Call):
        func = expr.func
        qualified = ctx.qualify(func)
        if qualified is not None:
            last = qualified.rsplit(".", 1)[-1]
            if qualified in PARAMETER_CLASSES:
                return Construction("parameter", "Parameter")
            if qualified in BUFFER_CLASSES:
                return Construction("buffer", "Buffer")
            if qualified == "copy.deepcopy":
                return construction(call_arg(expr, 0, "x"), scope, _depth + 1)
            if is_torch_module_name(qualified):
                # an empty `nn.Sequential()` is a placeholder that holds nothing
                empty_container = last in _TORCH_CONTAINERS and not expr.args
                return Construction("module", last, _is_stateless_torch_module(last) or empty_container)
            if ctx.index.is_module_class(qualified):
                return Construction("module", last, _is_stateless_project_module(ctx, qualified))
        if isinstance(func, cst.Attribute) and func.attr.value in _MODULE_CHAIN_METHODS:
            inner = construction(func.value, scope, _depth + 1)
            if inner is not None and inner.kind == "module":
                return inner
        return None
    if isinstance(expr, cst.Name):
        values = scope.local_values(expr.value)
        if values is None or len(values) != 1:
            return None
        return construction(values[0], scope, _depth + 1)
    return None


def _is_stateless_torch_module(name: str) -> bool:
    return name in STATELESS_TORCH_MODULES or name in _STATELESS_LOSSES


def _is_stateless_project_module(ctx: FileContext, qualified: str) -> bool:
    """A project Module of this file with no `__init__` and only torch's Module as base."""
    module = ctx.summary.module
    prefix = f"{module}." if module else ""
    if not qualified.startswith(prefix):
        return False
    name = qualified[len(prefix):]
    summary = ctx.summary.classes.get(name)
    if summary is None or "__init__" in summary.methods:
        return False
    bases = ctx.index.bases_of(ctx.summary, name)
    return bool(bases) and all(base.qualname in _MODULE_BASE_NAMES for base in bases)


_MODULE_BASE_NAMES: FrozenSet[str] = frozenset(
    ("torch.nn.Module", "torch.nn.modules.Module", "torch.nn.modules.module.Module")
)


# -- what a class registers -------------------------------------------------------------------

_REGISTER_TENSOR_CALLS: FrozenSet[str] = frozenset(("register_buffer", "register_parameter"))
_REGISTER_ANY_CALLS: FrozenSet[str] = _REGISTER_TENSOR_CALLS | {"register_module", "add_module"}


@dataclass
class Registrations:
    """Names a class registers as buffers or parameters, and whether some names are dynamic."""

    tensor_names: Set[str] = field(default_factory=set)  # buffers and parameters
    # a registration whose name is not a literal (`register_buffer(name, t)`, `setattr(self, n, v)`):
    # any attribute may be a buffer or parameter
    dynamic_tensors: bool = False
    # `add_module(f"layer{i}", m)`, `register_parameter(name, p)`, `setattr(self, n, v)`: Modules or
    # Parameters held elsewhere may be registered under names not visible in the source
    dynamic_members: bool = False


def class_registrations(ctx: FileContext, cls: ClassModel) -> Registrations:
    """Buffers and parameters `cls` registers in its own methods, by name."""
    cache = _file_cache(ctx).registrations
    cached = cache.get(id(cls))
    if cached is None:
        cached = cache[id(cls)] = _class_registrations(ctx, cls)
    return cached


def _class_registrations(ctx: FileContext, cls: ClassModel) -> Registrations:
    result = Registrations()
    for call in cls.calls_named(*_REGISTER_ANY_CALLS):
        name = string_value(call_arg(call.call, 0, "name"))
        if name is None:
            result.dynamic_members = True
            if call.name in _REGISTER_TENSOR_CALLS:
                result.dynamic_tensors = True
        elif call.name in _REGISTER_TENSOR_CALLS:
            result.tensor_names.add(name)
    for store in cls.stores:
        made = construction(store.value, Scope(ctx, store.method))
        if made is not None and made.kind in ("parameter", "buffer"):
            result.tensor_names.add(store.attr)
    for method in cls.methods.values():
        if method.self_name is not None and _has_dynamic_setattr(ctx, method):
            result.dynamic_tensors = result.dynamic_members = True
    return result


def _has_dynamic_setattr(ctx: FileContext, method: MethodModel) -> bool:
    """`setattr(self, <not a literal>, value)`: the model records only literal names."""
    for node, _, _ in method_nodes(ctx, method):
        if (
            isinstance(node, cst.Call)
            and isinstance(node.func, cst.Name)
            and node.func.value == "setattr"
            and len(node.args) == 3
            and isinstance(node.args[0].value, cst.Name)
            and node.args[0].value.value == method.self_name
            and string_value(node.args[1].value) is None
        ):
            return True
    return False


# torch Modules (other than Module itself and the containers) register parameters and buffers
# under these names; an assignment of a tensor to one of them updates the registered value.
_TORCH_REGISTERED_NAMES: FrozenSet[str] = frozenset(
    (
        "weight",
        "bias",
        "running_mean",
        "running_var",
        "num_batches_tracked",
        "in_proj_weight",
        "in_proj_bias",
        "q_proj_weight",
        "k_proj_weight",
        "v_proj_weight",
        "bias_k",
        "bias_v",
    )
)


def _torch_registered_name(name: str) -> bool:
    return name in _TORCH_REGISTERED_NAMES or name.startswith(("weight_", "bias_"))


@dataclass
class HierarchyRegistrations:
    """What a class and its Module base classes register, as far as the source shows."""

    own: Registrations
    bases: List[Registrations] = field(default_factory=list)  # project base classes of this file
    torch_base: bool = False  # derives from a torch Module that registers its own tensors (Linear, …)

    @property
    def dynamic_tensors(self) -> bool:
        return self.own.dynamic_tensors or any(b.dynamic_tensors for b in self.bases)

    def registers_tensor(self, name: str) -> bool:
        if self.torch_base and _torch_registered_name(name):
            return True
        return any(name in r.tensor_names for r in (self.own, *self.bases))


def hierarchy_registrations(ctx: FileContext, cls: ClassModel) -> Optional[HierarchyRegistrations]:
    """Registrations of `cls` and its Module base classes; None when a base cannot be read.

    Base classes of this file are read through their class models. A project base class in
    another file is not parsed here, so its registrations are unknown: the answer is None.
    """
    result = HierarchyRegistrations(class_registrations(ctx, cls))
    models = {model.name: model for model in ctx.classes}
    seen: Set[str] = {cls.name}
    stack: List[str] = [cls.name]
    while stack:
        for base in ctx.index.bases_of(ctx.summary, stack.pop()):
            if base.summary is not None and base.cls is not None:
                if not ctx.index.is_module_class_in(base.summary, base.cls.name):
                    continue  # a mixin: registers nothing on the Module
                if base.summary is not ctx.summary:
                    return None
                model = models.get(base.cls.name)
                if model is None:
                    return None
                if base.cls.name not in seen:
                    seen.add(base.cls.name)
                    result.bases.append(class_registrations(ctx, model))
                    stack.append(base.cls.name)
            elif base.qualname is not None and is_torch_module_name(base.qualname):
                last = base.qualname.rsplit(".", 1)[-1]
                if base.qualname not in MODULE_ROOTS and last not in _TORCH_CONTAINERS:
                    result.torch_base = True
            # configured Module bases and names outside the project: nothing known to be registered
    return result


# Methods through which a class may save plain attributes itself.
CUSTOM_SERIALIZATION_METHODS: Tuple[str, ...] = (
    "_save_to_state_dict",
    "_load_from_state_dict",
    "state_dict",
    "load_state_dict",
    "get_extra_state",
)


def saves_state_itself(ctx: FileContext, cls: ClassModel) -> bool:
    """The class or a base overrides how its state is saved: plain attributes may be saved there."""
    return ctx.defines_in_hierarchy(cls, *CUSTOM_SERIALIZATION_METHODS)


# -- names ------------------------------------------------------------------------------------

_CACHE_WORDS: FrozenSet[str] = frozenset(
    ("cache", "cached", "caches", "caching", "tmp", "scratch", "workspace", "memo", "memoized", "memoised")
)


def name_words(name: str) -> Tuple[str, ...]:
    """`cos_cached` -> ("cos", "cached"); `posCache` -> ("pos", "cache")."""
    spaced = re.sub(r"([a-z0-9])([A-Z])", r"\1_\2", name)
    return tuple(word.lower() for word in spaced.split("_") if word)


def looks_like_cache(name: str) -> bool:
    """Attribute names that say the value is a recomputable cache: `cos_cached`, `_mask_cache`, `tmp`."""
    return any(word in _CACHE_WORDS for word in name_words(name))


# -- walking method bodies --------------------------------------------------------------------

# Fields that hold only whitespace and punctuation: never worth descending into.
_SKIPPED_FIELDS: FrozenSet[str] = frozenset(
    (
        "lpar",
        "rpar",
        "comma",
        "leading_lines",
        "lines_after_decorators",
        "header",
        "footer",
        "semicolon",
        "equal",
        "colon",
        "dot",
        "operator",
        "newline",
        "trailing_whitespace",
        "first_line",
        "empty_lines",
        "indent",
        "asynchronous",
    )
)
_FIELD_NAMES: Dict[type, Tuple[str, ...]] = {}

Walked = Tuple[cst.CSTNode, Optional[cst.CSTNode], str]  # node, parent, the parent's field holding it


def walk(root: cst.CSTNode) -> Iterator[Walked]:
    """Every node under `root` (nested functions included), parents before children.

    Reads the nodes' fields directly: libcst's own visitors rebuild every node they pass, which
    costs several times more on a large class.
    """
    stack: List[Walked] = [(root, None, "")]
    while stack:
        node, parent, name = stack.pop()
        yield node, parent, name
        kind = type(node)
        names = _FIELD_NAMES.get(kind)
        if names is None:
            names = _FIELD_NAMES[kind] = tuple(
                f.name for f in fields(node) if f.name not in _SKIPPED_FIELDS and not f.name.startswith("whitespace")
            )
        children: List[Walked] = []
        for field_name in names:
            value = getattr(node, field_name)
            found = node_kind(value)
            if found in (NODE, TOKEN, WHITESPACE_NODE):
                children.append((value, node, field_name))
            elif found == SEQUENCE:
                children.extend((item, node, field_name) for item in value if node_kind(item) in (NODE, TOKEN, WHITESPACE_NODE))
        stack.extend(reversed(children))


@dataclass
class _FileCache:
    nodes: Dict[int, List[Walked]] = field(default_factory=dict)
    registrations: Dict[int, Registrations] = field(default_factory=dict)


def _file_cache(ctx: FileContext) -> _FileCache:
    cache = ctx.memo.get("tensors")
    if cache is None:
        cache = ctx.memo["tensors"] = _FileCache()
    return cache  # type: ignore[return-value]


def method_nodes(ctx: FileContext, method: MethodModel) -> List[Walked]:
    """Every node of a method's body with its parent, walked once per file and shared by rules."""
    cache = _file_cache(ctx).nodes
    nodes = cache.get(id(method.node))
    if nodes is None:
        nodes = cache[id(method.node)] = list(walk(method.node.body))
    return nodes
