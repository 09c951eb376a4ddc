"""Project index: which classes exist in the linted files and what they derive from.

Built before any rule runs, from a cheap `ast` pass over every file (about a tenth of a libcst
parse), so that `class Net(Base)` is known to be a Module class when `Base` lives in another
file and derives from `torch.nn.Module` under any spelling. Nothing is imported or executed.

Names are resolved the way Python binds them, as far as the text shows:

- each file's module-level bindings are read in source order (the last one wins), including
  those under module-level `if` / `try` / `with` (`if TYPE_CHECKING:`, `try: ... except ImportError:`);
- absolute imports find project modules by dotted name; when two files claim one name, the one
  beside the importing file (same import root) wins, otherwise the name is ambiguous and resolves
  to nothing; namespace packages (directories without `__init__.py`) are found by path;
- relative imports are resolved by path from the importing file, so they work whatever the
  package layout around them;
- package re-exports, chains of them and `from .x import *` (honouring a literal `__all__`) are
  followed; `Base = nn.Module` style aliases too;
- a class's bases mean what their names meant when the class statement ran, so
  `class Linear(Linear)` extends the imported Linear; names bound only inside functions do not
  count at module level;
- torch's own classes are known from an allow-list (`nn.Parameter` and `nn.Buffer` are not
  Modules); cycles and absurd depths end the search with "not a Module class".

Whatever cannot be resolved (a call, a name from an unknown library) is not a Module class:
rules stay silent rather than guess.
"""

from __future__ import annotations

import ast
import os
import posixpath
from dataclasses import dataclass, field
from typing import Dict, FrozenSet, Iterable, Iterator, List, NamedTuple, Optional, Sequence, Set, Tuple, Union

# Qualified names that are torch.nn.Module (or a framework subclass of it) by definition.
MODULE_ROOTS: FrozenSet[str] = frozenset(
    {
        "torch.nn.Module",
        "torch.nn.modules.Module",
        "torch.nn.modules.module.Module",
        "torch.jit.ScriptModule",
        "torch.jit._script.ScriptModule",
        "torch.fx.GraphModule",
        "torch.fx.graph_module.GraphModule",
        "lightning.LightningModule",
        "lightning.pytorch.LightningModule",
        "lightning.pytorch.core.LightningModule",
        "lightning.pytorch.core.module.LightningModule",
        "pytorch_lightning.LightningModule",
        "pytorch_lightning.core.LightningModule",
        "pytorch_lightning.core.module.LightningModule",
        "pytorch_lightning.core.lightning.LightningModule",
    }
)

# Packages whose names a directory without `__init__.py` never stands in for.
_FRAMEWORKS: FrozenSet[str] = frozenset(name.split(".", 1)[0] for name in MODULE_ROOTS)

# The Module subclasses torch 2.13 exports from `torch.nn` (and `torch.nn.modules`). An allow-list
# rather than "anything capitalised": torch.nn also exports Parameter, Buffer,
# UninitializedParameter, UninitializedBuffer and LinearCrossEntropyOptions, none of them Modules,
# and a name added by a later torch is better missed than guessed.
TORCH_NN_MODULES: FrozenSet[str] = frozenset(
    """
    AdaptiveAvgPool1d AdaptiveAvgPool2d AdaptiveAvgPool3d AdaptiveLogSoftmaxWithLoss AdaptiveMaxPool1d
    AdaptiveMaxPool2d AdaptiveMaxPool3d AlphaDropout AvgPool1d AvgPool2d AvgPool3d BCELoss
    BCEWithLogitsLoss BatchNorm1d BatchNorm2d BatchNorm3d Bilinear CELU CTCLoss ChannelShuffle
    CircularPad1d CircularPad2d CircularPad3d ConstantPad1d ConstantPad2d ConstantPad3d Container
    Conv1d Conv2d Conv3d ConvTranspose1d ConvTranspose2d ConvTranspose3d CosineEmbeddingLoss
    CosineSimilarity CrossEntropyLoss CrossMapLRN2d DataParallel Dropout Dropout1d Dropout2d Dropout3d
    ELU Embedding EmbeddingBag FeatureAlphaDropout Flatten Fold FractionalMaxPool2d FractionalMaxPool3d
    GELU GLU GRU GRUCell GaussianNLLLoss GroupNorm Hardshrink Hardsigmoid Hardswish Hardtanh
    HingeEmbeddingLoss HuberLoss Identity InstanceNorm1d InstanceNorm2d InstanceNorm3d KLDivLoss L1Loss
    LPPool1d LPPool2d LPPool3d LSTM LSTMCell LayerNorm LazyBatchNorm1d LazyBatchNorm2d LazyBatchNorm3d
    LazyConv1d LazyConv2d LazyConv3d LazyConvTranspose1d LazyConvTranspose2d LazyConvTranspose3d
    LazyInstanceNorm1d LazyInstanceNorm2d LazyInstanceNorm3d LazyLinear LeakyReLU Linear
    LinearCrossEntropyLoss LocalResponseNorm LogSigmoid LogSoftmax MSELoss MarginRankingLoss MaxPool1d
    MaxPool2d MaxPool3d MaxUnpool1d MaxUnpool2d MaxUnpool3d Mish Module ModuleDict ModuleList
    MultiLabelMarginLoss MultiLabelSoftMarginLoss MultiMarginLoss MultiheadAttention NLLLoss NLLLoss2d
    PReLU PairwiseDistance ParameterDict ParameterList PixelShuffle PixelUnshuffle PoissonNLLLoss
    RMSNorm RNN RNNBase RNNCell RNNCellBase RReLU ReLU ReLU6 ReflectionPad1d ReflectionPad2d
    ReflectionPad3d ReplicationPad1d ReplicationPad2d ReplicationPad3d SELU Sequential SiLU Sigmoid
    SmoothL1Loss SoftMarginLoss Softmax Softmax2d Softmin Softplus Softshrink Softsign SyncBatchNorm Tanh
    Tanhshrink Threshold Transformer TransformerDecoder TransformerDecoderLayer TransformerEncoder
    TransformerEncoderLayer TripletMarginLoss TripletMarginWithDistanceLoss Unflatten Unfold Upsample
    UpsamplingBilinear2d UpsamplingNearest2d ZeroPad1d ZeroPad2d ZeroPad3d
    """.split()
)

# Module subclasses reachable only through their defining submodule, `torch.nn.modules.<file>`:
# the private bases people do subclass (`_BatchNorm`, `_Loss`, …) and one unexported class.
_TORCH_NN_SUBMODULE_ONLY: FrozenSet[str] = frozenset(
    """
    _AdaptiveAvgPoolNd _AdaptiveMaxPoolNd _AvgPoolNd _BatchNorm _CircularPadNd _ConstantPadNd _ConvNd
    _ConvTransposeMixin _ConvTransposeNd _DropoutNd _InstanceNorm _LPPoolNd _LazyNormBase _Loss
    _MaxPoolNd _MaxUnpoolNd _NormBase _ReflectionPadNd _ReplicationPadNd _WeightedLoss
    NonDynamicallyQuantizableLinear
    """.split()
)

_TORCH_PARALLEL_MODULES: FrozenSet[str] = frozenset(
    {"DataParallel", "DistributedDataParallel", "DistributedDataParallelCPU"}
)


def is_torch_module_name(qualname: str) -> bool:
    """True for torch's own Module classes (`torch.nn.Linear`, `torch.nn.modules.conv.Conv2d`, …)
    and the framework roots in MODULE_ROOTS; False for `torch.nn.Parameter`, `torch.nn.Buffer`."""
    if qualname in MODULE_ROOTS:
        return True
    parts = qualname.split(".")
    if len(parts) < 3 or parts[0] != "torch" or parts[1] != "nn":
        return False
    last = parts[-1]
    if len(parts) == 3:
        return last in TORCH_NN_MODULES
    if parts[2] == "modules":
        if len(parts) == 4:
            return last in TORCH_NN_MODULES
        if len(parts) != 5 or parts[3].startswith("_"):  # `_functions` holds autograd Functions
            return False
        return last in TORCH_NN_MODULES or last in _TORCH_NN_SUBMODULE_ONLY
    if parts[2] == "parallel":
        return len(parts) in (4, 5) and last in _TORCH_PARALLEL_MODULES
    return False


# -- per-file summaries ----------------------------------------------------------------------

# Binding kinds: what a module-level name is bound to at the end of the module.
CLASS = "class"  # target: the class's dotted name in this module
IMPORT = "import"  # target: an absolute dotted name
RELATIVE = "relative"  # target: dotted name below the directory `level` steps up ("" = the directory)
ALIAS = "alias"  # target: a dotted expression evaluated in this module (`Base = nn.Module`)
FUNCTION = "function"  # a def: not a class
OPAQUE = "opaque"  # a value that cannot be known statically


@dataclass(frozen=True)
class Binding:
    kind: str
    target: str = ""
    level: int = 0


@dataclass(frozen=True)
class ClassSummary:
    name: str  # dotted within its module: "Net", "Outer.Inner"
    bases: Tuple[str, ...]  # qualified where resolvable, else the dotted source text
    methods: FrozenSet[str]
    # each base as a dotted name to look up in this module's namespace (a base naming a sibling
    # nested class is spelled from the module level: "Outer.Sibling")
    base_refs: Tuple[str, ...] = ()


@dataclass(frozen=True)
class FileSummary:
    path: str
    module: str  # dotted module name derived from the package layout
    is_package: bool
    imports: Dict[str, str]  # local name -> qualified target (module level first, then nested imports)
    star_imports: Tuple[str, ...]  # qualified module names of `from x import *`
    classes: Dict[str, ClassSummary]
    top_level: FrozenSet[str]  # module-level names bound last to a class or function
    # module-level names as the module ends; a key with "@" (`Linear@4:0`) keeps what a base name
    # meant when a class statement ran, where the module rebinds that name later
    bindings: Dict[str, Binding] = field(default_factory=dict)
    stars: Tuple[Binding, ...] = ()  # the `from x import *` sources, IMPORT or RELATIVE
    exports: Optional[FrozenSet[str]] = None  # a literal `__all__`, if any

    def qualify_dotted(self, dotted: str) -> Optional[str]:
        """Resolve `nn.Module`, `Module`, `models.Base` through this file's imports."""
        head, _, rest = dotted.partition(".")
        target = self.imports.get(head)
        if target is not None:
            return f"{target}.{rest}" if rest else target
        if head in self.top_level:
            prefix = f"{self.module}." if self.module else ""
            return f"{prefix}{dotted}"
        return None


def module_name_for_path(path: str) -> Tuple[str, bool]:
    """Dotted module name of a file from its package layout (walk up while `__init__.py` exists)."""
    abspath = os.path.abspath(path)
    directory, filename = os.path.split(abspath)
    stem = filename[:-3] if filename.endswith(".py") else filename.rsplit(".", 1)[0]
    is_package = stem == "__init__"
    parts: List[str] = [] if is_package else [stem]
    while os.path.isfile(os.path.join(directory, "__init__.py")):
        directory, pkg = os.path.split(directory)
        parts.insert(0, pkg)
        if not pkg:
            break
    return ".".join(p for p in parts if p), is_package


def module_name_in_memory(path: str, all_paths: Iterable[str]) -> Tuple[str, bool]:
    """Like module_name_for_path, for files given as text: packages are judged from `all_paths`."""
    known = {posixpath.normpath(p.replace(os.sep, "/")) for p in all_paths}
    parts = posixpath.normpath(path.replace(os.sep, "/")).split("/")
    stem = parts[-1][:-3] if parts[-1].endswith(".py") else parts[-1]
    is_package = stem == "__init__"
    dirs = parts[:-1]
    names: List[str] = [] if is_package else [stem]
    while dirs and "/".join(dirs + ["__init__.py"]) in known:
        names.insert(0, dirs.pop())
    return ".".join(names), is_package


def dotted_ast_name(node: ast.expr) -> Optional[str]:
    parts: List[str] = []
    while isinstance(node, ast.Attribute):
        parts.append(node.attr)
        node = node.value
    if isinstance(node, ast.Name):
        parts.append(node.id)
        return ".".join(reversed(parts))
    if isinstance(node, ast.Subscript) and not parts:  # Generic[T], LightningModule[...] style bases
        return dotted_ast_name(node.value)
    return None


def _resolve_relative(module: str, is_package: bool, level: int, target: Optional[str]) -> str:
    """The dotted name a relative import denotes, judged from the module name alone."""
    parts = module.split(".") if module else []
    if not is_package:
        parts = parts[:-1]
    if level > 1:
        parts = parts[: len(parts) - (level - 1)] if level - 1 <= len(parts) else []
    base = ".".join(parts)
    if target:
        return f"{base}.{target}" if base else target
    return base


_TRY_TYPES: Tuple[type, ...] = tuple(t for t in (ast.Try, getattr(ast, "TryStar", None)) if t is not None)
_FUNCTION_TYPES = (ast.FunctionDef, ast.AsyncFunctionDef)


def _module_level_statements(body: Sequence[ast.stmt]) -> Iterator[ast.stmt]:
    """Statements that bind module-level names, in source order: into `if` / `try` / `with`,
    not into functions, classes or loops."""
    for stmt in body:
        yield stmt
        if isinstance(stmt, ast.If):
            yield from _module_level_statements(stmt.body)
            yield from _module_level_statements(stmt.orelse)
        elif isinstance(stmt, _TRY_TYPES):
            yield from _module_level_statements(stmt.body)  # type: ignore[attr-defined]
            for handler in stmt.handlers:  # type: ignore[attr-defined]
                yield from _module_level_statements(handler.body)
            yield from _module_level_statements(stmt.orelse)  # type: ignore[attr-defined]
            yield from _module_level_statements(stmt.finalbody)  # type: ignore[attr-defined]
        elif isinstance(stmt, (ast.With, ast.AsyncWith)):
            yield from _module_level_statements(stmt.body)


def _all_statements(body: Sequence[ast.stmt]) -> Iterator[ast.stmt]:
    """Every statement, nested ones too; expressions are not walked (an import is a statement),
    which makes this several times cheaper than `ast.walk`."""
    stack = list(reversed(body))
    while stack:
        stmt = stack.pop()
        yield stmt
        for name in ("body", "orelse", "finalbody", "handlers", "cases"):
            children = getattr(stmt, name, None)
            if isinstance(children, list):
                for child in reversed(children):
                    if isinstance(child, ast.stmt):
                        stack.append(child)
                    else:  # an except handler or a match case holds statements of its own
                        stack.extend(reversed(getattr(child, "body", [])))


def _base_heads(stmt: ast.ClassDef) -> Set[str]:
    """First names of the dotted bases of a class and of the classes nested in its body."""
    heads: Set[str] = set()
    for base in stmt.bases:
        dotted = dotted_ast_name(base)
        if dotted is not None:
            heads.add(dotted.split(".", 1)[0])
    for inner in stmt.body:
        if isinstance(inner, ast.ClassDef):
            heads |= _base_heads(inner)
    return heads


def _string_list(node: ast.expr) -> Optional[List[str]]:
    if isinstance(node, (ast.List, ast.Tuple)) and all(
        isinstance(e, ast.Constant) and isinstance(e.value, str) for e in node.elts
    ):
        return [e.value for e in node.elts]  # type: ignore[attr-defined]
    return None


class _Summarizer:
    """One pass over the module level for bindings, one walk for nested imports, one for classes."""

    def __init__(self, module: str, is_package: bool) -> None:
        self.module = module
        self.is_package = is_package
        self.bindings: Dict[str, Binding] = {}
        self.stars: List[Binding] = []
        self.exports: Optional[List[str]] = None
        self.exports_known = True
        self.snapshots: Dict[int, Dict[str, Binding]] = {}  # id(class statement) -> base name bindings

    def bind_import(self, node: Union[ast.Import, ast.ImportFrom]) -> None:
        if isinstance(node, ast.Import):
            for alias in node.names:
                if alias.asname:
                    self.bindings[alias.asname] = Binding(IMPORT, alias.name)
                else:
                    head = alias.name.split(".", 1)[0]
                    self.bindings[head] = Binding(IMPORT, head)
            return
        for alias in node.names:
            if node.level:
                target = ".".join(p for p in (node.module, alias.name) if p and p != "*")
                binding = Binding(RELATIVE, target, node.level)
            else:
                target = f"{node.module}.{alias.name}" if alias.name != "*" else (node.module or "")
                binding = Binding(IMPORT, target)
            if alias.name == "*":
                self.stars.append(binding)
            else:
                self.bindings[alias.asname or alias.name] = binding

    def bind_assign(self, targets: Sequence[ast.expr], value: ast.expr) -> None:
        for target in targets:
            if isinstance(target, ast.Name):
                self.bind_value(target.id, value)
            elif isinstance(target, (ast.Tuple, ast.List)):
                values: List[Optional[ast.expr]] = [None] * len(target.elts)
                if isinstance(value, (ast.Tuple, ast.List)) and len(value.elts) == len(target.elts):
                    values = list(value.elts)
                for element, element_value in zip(target.elts, values):
                    if isinstance(element, ast.Starred):
                        element = element.value
                    if isinstance(element, ast.Name):
                        if element_value is None:
                            self.bindings[element.id] = Binding(OPAQUE)
                        else:
                            self.bind_value(element.id, element_value)

    def bind_value(self, name: str, value: ast.expr) -> None:
        if name == "__all__":
            listed = _string_list(value)
            if listed is None:
                self.exports_known = False
            else:
                self.exports = listed
            return
        if isinstance(value, ast.Constant):
            # `pl = None` in an `except ImportError:` cannot be a base class: the import stands
            return
        dotted = dotted_ast_name(value) if isinstance(value, (ast.Name, ast.Attribute, ast.Subscript)) else None
        if dotted == name:
            return  # `Module = Module` rebinds nothing
        self.bindings[name] = Binding(ALIAS, dotted) if dotted else Binding(OPAQUE)

    def bind_statement(self, stmt: ast.stmt) -> None:
        if isinstance(stmt, (ast.Import, ast.ImportFrom)):
            self.bind_import(stmt)
        elif isinstance(stmt, ast.ClassDef):
            # bases are evaluated before the class name is bound: `class Linear(Linear)` extends
            # the imported Linear, so remember what each base name meant at this point
            bound = {head: self.bindings.get(head) for head in _base_heads(stmt)}
            self.snapshots[id(stmt)] = {head: b for head, b in bound.items() if b is not None}
            self.bindings[stmt.name] = Binding(CLASS, stmt.name)
        elif isinstance(stmt, _FUNCTION_TYPES):
            self.bindings[stmt.name] = Binding(FUNCTION)
        elif isinstance(stmt, ast.Assign):
            self.bind_assign(stmt.targets, stmt.value)
        elif isinstance(stmt, ast.AnnAssign) and stmt.value is not None:
            self.bind_assign([stmt.target], stmt.value)
        elif isinstance(stmt, ast.AugAssign) and isinstance(stmt.target, ast.Name):
            if stmt.target.id == "__all__":
                listed = _string_list(stmt.value)
                if listed is None or self.exports is None:
                    self.exports_known = False
                else:
                    self.exports.extend(listed)
            else:
                self.bindings[stmt.target.id] = Binding(OPAQUE)
        elif (
            isinstance(stmt, ast.Expr)
            and isinstance(stmt.value, ast.Call)
            and isinstance(stmt.value.func, ast.Attribute)
            and isinstance(stmt.value.func.value, ast.Name)
            and stmt.value.func.value.id == "__all__"
        ):
            # __all__.extend([...]) / __all__.append("x")
            call = stmt.value
            method = call.func.attr  # type: ignore[attr-defined]
            listed = None
            if method == "extend" and len(call.args) == 1:
                listed = _string_list(call.args[0])
            elif method == "append" and len(call.args) == 1:
                arg = call.args[0]
                listed = [arg.value] if isinstance(arg, ast.Constant) and isinstance(arg.value, str) else None
            if listed is None or self.exports is None:
                self.exports_known = False
            else:
                self.exports.extend(listed)

    def qualified(self, binding: Binding) -> Optional[str]:
        """A binding as the dotted name `FileSummary.imports` records (relative ones judged by
        module name), for callers that qualify expressions."""
        if binding.kind == IMPORT:
            return binding.target
        if binding.kind == RELATIVE:
            return _resolve_relative(self.module, self.is_package, binding.level, binding.target or None)
        return None


StatementLines = Dict[Tuple[int, ...], Tuple[int, ...]]


def statement_lines(tree: ast.Module) -> StatementLines:
    """The first line (decorators included) of each statement of the module body, and of each
    class and function body reached through classes and functions, keyed by the path of
    statement indices that leads to the body: what positions are resolved from."""
    table: StatementLines = {}
    pending: List[Tuple[Tuple[int, ...], List[ast.stmt]]] = [((), tree.body)]
    while pending:
        path, body = pending.pop()
        lines = []
        for index, stmt in enumerate(body):
            decorators = getattr(stmt, "decorator_list", None)
            lines.append(decorators[0].lineno if decorators else stmt.lineno)
            if isinstance(stmt, (ast.ClassDef, *_FUNCTION_TYPES)):
                pending.append(((*path, index), stmt.body))
        table[path] = tuple(lines)
    return table


def summarize(
    path: str, tree: ast.Module, module: Optional[str] = None, is_package: Optional[bool] = None
) -> FileSummary:
    """Collect module-level bindings, imports (anywhere in the file), classes (nested too)."""
    if module is None or is_package is None:
        module, is_package = module_name_for_path(path)
    state = _Summarizer(module, is_package)
    module_level: Set[int] = set()
    for stmt in _module_level_statements(tree.body):
        module_level.add(id(stmt))
        state.bind_statement(stmt)

    imports: Dict[str, str] = {}
    aliases: List[Tuple[str, str]] = []
    for name, binding in state.bindings.items():
        if binding.kind == ALIAS:
            aliases.append((name, binding.target))
            continue
        qualified = state.qualified(binding)
        if qualified is not None:
            imports[name] = qualified
    # imports inside functions and class bodies qualify names used there, unless the module binds them
    for node in _all_statements(tree.body):
        if isinstance(node, (ast.Import, ast.ImportFrom)) and id(node) not in module_level:
            nested = _Summarizer(module, is_package)
            nested.bind_import(node)
            for name, binding in nested.bindings.items():
                qualified = nested.qualified(binding)
                if qualified is not None and name not in state.bindings:
                    imports.setdefault(name, qualified)

    top_level = frozenset(name for name, b in state.bindings.items() if b.kind in (CLASS, FUNCTION))
    star_names = tuple(q for q in (state.qualified(b) for b in state.stars) if q is not None)
    exports = frozenset(state.exports) if state.exports is not None and state.exports_known else None
    summary = FileSummary(
        path, module, is_package, imports, star_names, {}, top_level, dict(state.bindings), tuple(state.stars), exports
    )
    # `Base = nn.Module`: recorded for qualify_dotted too, in order, so an alias of an alias works
    for name, target in aliases:
        qualified = summary.qualify_dotted(target)
        if qualified is not None:
            imports[name] = qualified

    def base_ref(dotted: str, prefix: str, siblings: Set[str], top: ast.ClassDef) -> Tuple[str, str]:
        """(name to look up in the module namespace, qualified name for `ClassSummary.bases`)."""
        head, dot, rest = dotted.partition(".")
        if head in siblings:
            # a class body sees the names its enclosing class body bound before it
            dotted = f"{prefix}{dotted}"
            return dotted, summary.qualify_dotted(dotted) or dotted
        prior = state.snapshots.get(id(top), {}).get(head)
        if prior is None or prior == summary.bindings.get(head):
            return dotted, summary.qualify_dotted(dotted) or dotted
        # the name was rebound after this class statement: keep what the base meant
        key = f"{head}@{top.lineno}:{top.col_offset}"
        summary.bindings[key] = prior
        if prior.kind == CLASS:
            qualified: Optional[str] = f"{module}.{prior.target}" if module else prior.target
        elif prior.kind == ALIAS:
            qualified = summary.qualify_dotted(prior.target)
        else:
            qualified = state.qualified(prior)
        return f"{key}{dot}{rest}", f"{qualified}{dot}{rest}" if qualified else dotted

    def visit(body: Sequence[ast.stmt], prefix: str, top: Optional[ast.ClassDef]) -> None:
        siblings = {s.name for s in body if isinstance(s, ast.ClassDef)} if prefix else set()
        for stmt in body:
            if isinstance(stmt, ast.ClassDef):
                name = f"{prefix}{stmt.name}"
                outermost = top or stmt
                bases: List[str] = []
                refs: List[str] = []
                for base in stmt.bases:
                    dotted = dotted_ast_name(base)
                    if dotted is not None:
                        ref, qualified = base_ref(dotted, prefix, siblings, outermost)
                        refs.append(ref)
                        bases.append(qualified)
                methods = frozenset(s.name for s in stmt.body if isinstance(s, _FUNCTION_TYPES))
                summary.classes[name] = ClassSummary(name, tuple(bases), methods, tuple(refs))
                visit(stmt.body, f"{name}.", outermost)
            elif isinstance(stmt, (ast.If, ast.With, ast.AsyncWith, *_TRY_TYPES)) and not prefix:
                # classes defined under `if TYPE_CHECKING:` / `try:` at module level still count
                for sub in _child_bodies(stmt):
                    visit(sub, prefix, None)

    visit(tree.body, "", None)
    return summary


def _child_bodies(stmt: ast.stmt) -> Iterable[Sequence[ast.stmt]]:
    if isinstance(stmt, ast.If):
        yield stmt.body
        yield stmt.orelse
    elif isinstance(stmt, _TRY_TYPES):
        yield stmt.body  # type: ignore[attr-defined]
        for handler in stmt.handlers:  # type: ignore[attr-defined]
            yield handler.body
        yield stmt.orelse  # type: ignore[attr-defined]
        yield stmt.finalbody  # type: ignore[attr-defined]
    elif isinstance(stmt, (ast.With, ast.AsyncWith)):
        yield stmt.body


# -- the project index -----------------------------------------------------------------------


class _Class(NamedTuple):
    file: int  # position of the file's summary in ProjectIndex.summaries
    name: str


class _Module(NamedTuple):
    file: int


class _External(NamedTuple):
    qualname: str  # a name outside the linted files, e.g. torch.nn.Linear


_Target = Union[_Class, _Module, _External, None]

# Re-export hops and inheritance levels followed before giving up; real projects need a handful.
_MAX_DEPTH = 100


@dataclass(frozen=True)
class BaseClass:
    """One base of a class as the index resolves it.

    `qualname` is the canonical dotted name (`pkg.layers.base.Base`, `torch.nn.Linear`), or None
    when the base cannot be resolved (a call, a name the linted files do not define).
    `summary` and `cls` are set when the base is a class of the linted project.
    """

    qualname: Optional[str]
    summary: Optional[FileSummary] = None
    cls: Optional[ClassSummary] = None


def _norm(path: str) -> str:
    return os.path.normcase(os.path.normpath(os.path.abspath(path)))


class ProjectIndex:
    """Classes of every linted file, resolvable by qualified name across files."""

    def __init__(self, summaries: Iterable[FileSummary], module_bases: Sequence[str] = ()) -> None:
        self.summaries: List[FileSummary] = list(summaries)
        # first file wins here; resolution itself tells ambiguous module names apart
        self.modules: Dict[str, FileSummary] = {}
        self._by_name: Dict[str, List[int]] = {}
        self._by_path: Dict[str, int] = {}
        self._by_id: Dict[int, int] = {}
        self._stand_ins: List[FileSummary] = []
        self._roots: List[str] = []
        self._dirs: List[str] = []
        self._path_names: Set[str] = set()  # directory and module names present, to skip path lookups
        for position, summary in enumerate(self.summaries):
            self.modules.setdefault(summary.module, summary)
            self._by_name.setdefault(summary.module, []).append(position)
            path = _norm(summary.path)
            self._by_path.setdefault(path, position)
            self._by_id[id(summary)] = position
            directory = os.path.dirname(path)
            self._dirs.append(directory)
            self._roots.append(_import_root(directory, summary))
            names = path.split(os.sep)
            self._path_names.update(names)
            self._path_names.add(os.path.splitext(names[-1])[0])
        self.extra_bases: FrozenSet[str] = frozenset(module_bases)
        self._extra_classes: Optional[FrozenSet[_Class]] = None
        self._lookups: Dict[Tuple[int, Tuple[str, ...]], _Target] = {}
        self._active: Set[Tuple[int, Tuple[str, ...]]] = set()
        self._is_module: Dict[_Class, bool] = {}
        self._cuts = 0  # bumped whenever a cycle or the depth limit cuts a search short

    # -- public queries --------------------------------------------------------------------------
    def is_module_class(self, qualname: str, context: Optional[FileSummary] = None) -> bool:
        """Whether the class named `qualname` derives from torch.nn.Module (or a configured base).

        `context` is the file asking: it settles which file a module name means when two files
        share one. Without it, an ambiguous class counts only if every candidate agrees.
        """
        targets = self._targets(qualname, context)
        return bool(targets) and all(self._target_is_module(t) for t in targets)

    def stand_in(self, summary: FileSummary, original: FileSummary) -> None:
        """Let a re-parsed version of an indexed file (after a fix pass) be asked about like the original.

        What its classes derive from is still judged from the original: fixes do not change
        class bases. The index keeps a reference so that the id stays this summary's.
        """
        position = self._by_id.get(id(original))
        if position is not None:
            self._stand_ins.append(summary)
            self._by_id[id(summary)] = position

    def is_module_class_in(self, summary: FileSummary, class_name: str) -> bool:
        """Whether the class `class_name` ("Net", "Outer.Inner") defined in `summary` is a Module class."""
        position = self._by_id.get(id(summary))
        if position is None or class_name not in summary.classes:
            return False
        return self._class_is_module(_Class(position, class_name))

    def is_module_reference(self, summary: FileSummary, dotted: str) -> bool:
        """Whether `dotted`, written at module level in `summary` (`nn.Linear`, `Block`, `layers.Base`),
        names a Module class: torch's own, a configured base, or a project class deriving from one."""
        position = self._by_id.get(id(summary))
        if position is None:
            return False
        return self._target_is_module(self._lookup(position, tuple(dotted.split("."))))

    def resolve_reference(self, summary: FileSummary, dotted: str) -> Optional[str]:
        """The canonical qualified name `dotted` denotes in `summary` (through imports, aliases and
        re-exports), or None when it cannot be known."""
        position = self._by_id.get(id(summary))
        if position is None:
            return None
        return self._qualname(self._lookup(position, tuple(dotted.split("."))))

    def resolve_class(
        self, qualname: str, context: Optional[FileSummary] = None
    ) -> Optional[Tuple[FileSummary, ClassSummary]]:
        """Find the project class a qualified name denotes, following imports and re-exports."""
        targets = self._targets(qualname, context)
        if len(targets) != 1 or not isinstance(targets[0], _Class):
            return None
        target = targets[0]
        summary = self.summaries[target.file]
        return summary, summary.classes[target.name]

    def canonical(self, qualname: str, context: Optional[FileSummary] = None) -> str:
        """The qualified name through re-exports: `pkg.Base` -> `pkg.models.Base`; others as given."""
        targets = self._targets(qualname, context)
        if len(targets) == 1:
            resolved = self._qualname(targets[0])
            if resolved is not None:
                return resolved
        return qualname

    def bases_of(self, summary: FileSummary, class_name: str) -> List[BaseClass]:
        """The bases of a class defined in `summary`, each resolved in that file."""
        position = self._by_id.get(id(summary))
        cls = summary.classes.get(class_name)
        if position is None or cls is None:
            return []
        result = []
        for ref in cls.base_refs:
            target = self._lookup(position, tuple(ref.split(".")))
            if isinstance(target, _Class):
                owner = self.summaries[target.file]
                result.append(BaseClass(self._qualname(target), owner, owner.classes[target.name]))
            elif isinstance(target, _External):
                result.append(BaseClass(target.qualname))
            else:
                result.append(BaseClass(None))
        return result

    def defines_in_hierarchy(
        self, qualname: str, method_names: Iterable[str], context: Optional[FileSummary] = None
    ) -> bool:
        """Whether the class or a project base class defines any of `method_names` (for an
        ambiguous module name: any candidate)."""
        wanted = frozenset(method_names)
        return any(
            self._defines(t, wanted) for t in self._targets(qualname, context) if isinstance(t, _Class)
        )

    def defines_in_hierarchy_in(self, summary: FileSummary, class_name: str, method_names: Iterable[str]) -> bool:
        position = self._by_id.get(id(summary))
        if position is None or class_name not in summary.classes:
            return False
        return self._defines(_Class(position, class_name), frozenset(method_names))

    # -- Module-ness -----------------------------------------------------------------------------
    def _target_is_module(self, target: _Target) -> bool:
        if isinstance(target, _External):
            return self._is_root(target.qualname)
        if isinstance(target, _Class):
            return self._class_is_module(target)
        return False

    def _is_root(self, qualname: str) -> bool:
        return is_torch_module_name(qualname) or qualname in self.extra_bases

    def _class_is_module(self, start: _Class) -> bool:
        return self._search_module(start, set(), set())

    def _search_module(self, ref: _Class, visited: Set[_Class], on_stack: Set[_Class]) -> bool:
        """Depth-first search for a path of bases from `ref` to a Module root.

        Each class is entered once per search, so a web of cyclic bases costs its size. A False
        that depends on a class still being searched further up (a cycle) is not cached below
        the search's start: that class may yet find a root.
        """
        cached = self._is_module.get(ref)
        if cached is not None:
            return cached
        if ref in visited or len(on_stack) > _MAX_DEPTH:
            self._cuts += 1
            return False
        visited.add(ref)
        on_stack.add(ref)
        cuts_before = self._cuts
        # torch's own sources may be among the linted files: its Module is still the root
        result = ref in self._extra_class_refs() or self._is_root(self._qualname(ref) or "")
        if not result:
            cls = self.summaries[ref.file].classes[ref.name]
            for base in cls.base_refs:
                target = self._lookup(ref.file, tuple(base.split(".")))
                if isinstance(target, _External):
                    result = self._is_root(target.qualname)
                elif isinstance(target, _Class):
                    result = self._search_module(target, visited, on_stack)
                if result:
                    break
        on_stack.discard(ref)
        if result or self._cuts == cuts_before or not on_stack:
            self._is_module[ref] = result
        return result

    def _extra_class_refs(self) -> FrozenSet[_Class]:
        """Configured `module-bases` that name project classes, wherever they are re-exported."""
        if self._extra_classes is None:
            self._extra_classes = frozenset()  # a configured name resolving through itself stops here
            found = set()
            for qualname in self.extra_bases:
                for target in self._targets(qualname, None):
                    if isinstance(target, _Class):
                        found.add(target)
            self._extra_classes = frozenset(found)
        return self._extra_classes

    def _defines(self, start: _Class, wanted: FrozenSet[str]) -> bool:
        seen: Set[_Class] = set()
        stack = [start]
        while stack:
            current = stack.pop()
            if current in seen:
                continue
            seen.add(current)
            cls = self.summaries[current.file].classes[current.name]
            if cls.methods & wanted:
                return True
            for base in cls.base_refs:
                target = self._lookup(current.file, tuple(base.split(".")))
                if isinstance(target, _Class):
                    stack.append(target)
        return False

    # -- name resolution -------------------------------------------------------------------------
    def _qualname(self, target: _Target) -> Optional[str]:
        if isinstance(target, _Class):
            module = self.summaries[target.file].module
            return f"{module}.{target.name}" if module else target.name
        if isinstance(target, _External):
            return target.qualname
        if isinstance(target, _Module):
            return self.summaries[target.file].module
        return None

    def _targets(self, qualname: str, context: Optional[FileSummary]) -> List[_Target]:
        """What a qualified name may denote: one target, or one per file when a module name is
        claimed by several files and the context does not settle it. Unknown names give []."""
        parts = tuple(qualname.split("."))
        position = self._by_id.get(id(context)) if context is not None else None
        for split in range(len(parts), 0, -1):
            candidates = self._by_name.get(".".join(parts[:split]))
            if not candidates:
                continue
            if len(candidates) > 1:
                if position is not None and position in candidates:
                    candidates = [position]  # a file naming its own module means itself
                else:
                    chosen = self._choose(candidates, position)
                    candidates = [chosen] if chosen is not None else candidates
            rest = ".".join(parts[split:])
            targets = [
                # a class's own qualified name means its definition, even if the module rebinds
                # the name later (`Net = register(Net)`)
                _Class(c, rest) if rest in self.summaries[c].classes else self._lookup(c, parts[split:])
                for c in candidates
            ]
            return [t for t in targets if t is not None]
        target = self._resolve_qualified(parts, position)
        return [target] if target is not None else []

    def _choose(self, candidates: List[int], context: Optional[int]) -> Optional[int]:
        """Among files sharing a module name, the one importable from the same root as `context`."""
        if context is None:
            return None
        same_root = [c for c in candidates if self._roots[c] == self._roots[context]]
        return same_root[0] if len(same_root) == 1 else None

    def _find_module(self, name: str, context: Optional[int]) -> Tuple[bool, Optional[int]]:
        """(claimed, file): whether any file claims the module name, and the one meant, if known."""
        candidates = self._by_name.get(name)
        if not candidates:
            return False, None
        if len(candidates) == 1:
            return True, candidates[0]
        return True, self._choose(candidates, context)

    def _resolve_qualified(self, parts: Tuple[str, ...], context: Optional[int]) -> _Target:
        """An absolute dotted name, as the file `context` imports it."""
        for split in range(len(parts), 0, -1):
            claimed, found = self._find_module(".".join(parts[:split]), context)
            if found is not None:
                return self._lookup(found, parts[split:])
            if claimed:
                return None  # ambiguous: two files claim the name, neither beside the importer
        if context is not None and os.path.normcase(parts[0]) in self._path_names and parts[0] not in _FRAMEWORKS:
            # namespace packages: `models/base.py` without `models/__init__.py` is module "base"
            # by layout, but a script beside `models/` imports it as `models.base`. Never for a
            # framework: a copy of some of torch's files without its `__init__.py` is not torch
            directory = self._dirs[context]
            while True:
                if self._package_file(directory, ()) is None:
                    found_split = self._module_below(directory, parts, minimum=1)
                    if found_split is not None:
                        return self._lookup(found_split[0], parts[found_split[1] :])
                parent = os.path.dirname(directory)
                if parent == directory:
                    break
                directory = parent
        return _External(".".join(parts))

    def _package_file(self, directory: str, parts: Sequence[str]) -> Optional[int]:
        """The file that is module `parts` below `directory`: a package's `__init__.py` first."""
        base = os.path.normcase(os.path.join(directory, *parts))
        found = self._by_path.get(os.path.join(base, "__init__.py"))
        if found is None and parts:
            found = self._by_path.get(base + ".py")
        return found

    def _module_below(self, directory: str, parts: Sequence[str], minimum: int) -> Optional[Tuple[int, int]]:
        """The longest prefix of `parts` that is a module file below `directory`, and its length."""
        for split in range(len(parts), minimum - 1, -1):
            found = self._package_file(directory, parts[:split])
            if found is not None:
                return found, split
        return None

    def _lookup(self, file: int, parts: Tuple[str, ...]) -> _Target:
        """What `a.b.c` denotes in module `file`'s namespace, following bindings across files."""
        key = (file, parts)
        if key in self._lookups:
            return self._lookups[key]
        if key in self._active or len(self._active) > _MAX_DEPTH:
            self._cuts += 1
            return None
        self._active.add(key)
        cuts_before = self._cuts
        try:
            result = self._lookup_uncached(file, parts)
        finally:
            self._active.discard(key)
        if self._cuts == cuts_before or not self._active:
            self._lookups[key] = result
        return result

    def _lookup_uncached(self, file: int, parts: Tuple[str, ...]) -> _Target:
        if not parts:
            return _Module(file)
        summary = self.summaries[file]
        head, rest = parts[0], parts[1:]
        binding = summary.bindings.get(head)
        if binding is None:
            found = self._lookup_in_stars(file, parts)
            if found is not None:
                return found
            if summary.is_package and os.path.normcase(head) in self._path_names:
                # `pkg.sub` is an attribute of the package once `pkg/sub.py` is imported
                sub = self._package_file(self._dirs[file], (head,))
                if sub is not None:
                    return self._lookup(sub, rest)
            return None
        if binding.kind == CLASS:
            name = head
            for part in rest:
                if f"{name}.{part}" not in summary.classes:
                    return None  # an attribute of a class, not a nested class
                name = f"{name}.{part}"
            return _Class(file, name) if name in summary.classes else None
        if binding.kind == IMPORT:
            return self._resolve_qualified(tuple(binding.target.split(".")) + rest, file)
        if binding.kind == RELATIVE:
            directory = self._anchor(file, binding.level)
            target_parts = tuple(binding.target.split(".")) if binding.target else ()
            found = self._module_below(directory, target_parts + rest, minimum=0)
            if found is None:
                return None
            return self._lookup(found[0], (target_parts + rest)[found[1] :])
        if binding.kind == ALIAS:
            return self._lookup(file, tuple(binding.target.split(".")) + rest)
        return None

    def _lookup_in_stars(self, file: int, parts: Tuple[str, ...]) -> _Target:
        """A name the module only has through `from x import *`, followed breadth-first so that
        each module is read once however the star imports loop; the last star import wins."""
        name = parts[0]
        seen = {file}
        queue = [file]
        while queue:
            current = queue.pop(0)
            for star in reversed(self.summaries[current].stars):
                source = self._star_source(current, star)
                if isinstance(source, _External):
                    # an outside module's names are unknown: it provides a name only if that is a Module root
                    candidate = f"{source.qualname}.{'.'.join(parts)}"
                    if self._is_root(candidate):
                        return _External(candidate)
                    continue
                if source is None or source in seen:
                    continue
                seen.add(source)
                summary = self.summaries[source]
                exported = summary.exports
                if (exported is not None and name not in exported) or (exported is None and name.startswith("_")):
                    continue
                if name in summary.bindings:
                    return self._lookup(source, parts)
                if exported is not None and summary.is_package and self._package_file(self._dirs[source], (name,)):
                    # `__all__` naming a submodule makes `from pkg import *` import it
                    return self._lookup(source, parts)
                queue.append(source)
        return None

    def _star_source(self, file: int, star: Binding) -> Union[int, _External, None]:
        """The module a `from x import *` reads: a linted file, an outside module, or unknown."""
        if star.kind == RELATIVE:
            source_parts = tuple(star.target.split(".")) if star.target else ()
            found = self._module_below(self._anchor(file, star.level), source_parts, minimum=len(source_parts))
            return found[0] if found is not None else None
        source = self._resolve_qualified(tuple(star.target.split(".")), file)
        if isinstance(source, _Module):
            return source.file
        return source if isinstance(source, _External) else None

    def _anchor(self, file: int, level: int) -> str:
        """The directory a relative import of `level` dots starts from."""
        directory = self._dirs[file]
        for _ in range(level - 1):
            directory = os.path.dirname(directory)
        return directory


def _import_root(directory: str, summary: FileSummary) -> str:
    """The directory a file's module name is importable from (`src/` for `src/pkg/mod.py`)."""
    depth = len(summary.module.split(".")) if summary.module else 0
    if not summary.is_package:
        depth -= 1
    for _ in range(max(depth, 0)):
        directory = os.path.dirname(directory)
    return directory
