from __future__ import annotations

from dataclasses import dataclass, field
from typing import Dict, FrozenSet, Iterator, List, Optional, Sequence, Set, Tuple, Union

import libcst as cst

from serialint.functions import FunctionAnalysis, Scope, function_analysis
from serialint.model import ClassModel, FileContext, call_arg, decorator_names, dotted_name, param_names
from serialint.rule import Bad, Expected, Good, Report, Rule
from serialint.walk import visit

# Module methods that store the callable they are given on the module (in a hooks dict that
# pickle saves with it). Tensor.register_hook is not here: tensor hooks are dropped on pickling.
HOOK_REGISTRATIONS: FrozenSet[str] = frozenset(
    {
        "register_forward_hook",
        "register_forward_pre_hook",
        "register_full_backward_hook",
        "register_full_backward_pre_hook",
        "register_backward_hook",
        "register_state_dict_post_hook",
        "register_state_dict_pre_hook",
        "_register_state_dict_hook",
        "register_load_state_dict_pre_hook",
        "register_load_state_dict_post_hook",
        "_register_load_state_dict_pre_hook",
    }
)

# Module methods that return the module itself.
_RETURNS_SELF: FrozenSet[str] = frozenset(
    {"to", "cuda", "cpu", "train", "eval", "float", "half", "double", "bfloat16", "requires_grad_", "to_empty"}
)
# Iterators over a module's submodules: (method, position of the module in each item)
_SUBMODULE_ITERATORS: Dict[str, Optional[int]] = {
    "modules": None,
    "children": None,
    "named_modules": 1,
    "named_children": 1,
}


# -- scopes and bindings ---------------------------------------------------------------------
@dataclass(frozen=True)
class _Value:
    """`name = expr`."""

    expr: cst.BaseExpression


@dataclass(frozen=True)
class _Item:
    """`for name in iterable` (position: where the name sits in a tuple target, None for a plain one)."""

    iterable: cst.BaseExpression
    position: Optional[int]


_Binding = Optional[Union[_Value, _Item]]  # None: bound to something not followed


@dataclass
class _Registration:
    call: cst.Call
    method: str
    receiver: cst.BaseExpression
    hook: cst.BaseExpression


@dataclass
class _Scope:
    """The module body or one function body, without the bodies nested in it."""

    node: Union[cst.Module, cst.FunctionDef]
    parent: Optional["_Scope"]
    functions: Scope  # the same body, as serialint.functions sees it (to recognise local functions)
    params: Set[str] = field(default_factory=set)
    self_name: Optional[str] = None  # the instance parameter, for a method
    cls: Optional[ClassModel] = None  # that method's class, when the file model has it
    in_module_class: bool = False
    bindings: Dict[str, List[_Binding]] = field(default_factory=dict)
    outer: Set[str] = field(default_factory=set)  # declared global / nonlocal
    registrations: List[_Registration] = field(default_factory=list)
    discarded: Set[int] = field(default_factory=set)  # ids of calls whose result is not kept
    with_items: Set[int] = field(default_factory=set)  # ids of calls used as `with` items
    removes_handles: bool = False  # a zero-argument `.remove()` call: a hook handle removed
    children: List["_Scope"] = field(default_factory=list)

    @property
    def is_function(self) -> bool:
        return isinstance(self.node, cst.FunctionDef)

    def bind(self, name: str, binding: _Binding) -> None:
        self.bindings.setdefault(name, []).append(binding)

    def bind_target(self, target: cst.BaseExpression, binding: _Binding) -> None:
        if isinstance(target, cst.Name):
            self.bind(target.value, binding)
        elif isinstance(target, (cst.Tuple, cst.List)):
            for element in target.elements:
                self.bind_target(element.value, None)
        elif isinstance(target, cst.StarredElement):
            self.bind_target(target.value, None)

    def bind_item_target(self, target: cst.BaseExpression, iterable: cst.BaseExpression) -> None:
        if isinstance(target, cst.Name):
            self.bind(target.value, _Item(iterable, None))
        elif isinstance(target, (cst.Tuple, cst.List)):
            for position, element in enumerate(target.elements):
                if isinstance(element.value, cst.Name):
                    self.bind(element.value.value, _Item(iterable, position))
                else:
                    self.bind_target(element.value, None)
        else:
            self.bind_target(target, None)

    def lookup(self, name: str) -> Tuple[Optional["_Scope"], Optional[List[_Binding]]]:
        """The scope that binds `name` and its bindings; bindings None for a parameter."""
        scope: Optional[_Scope] = self
        while scope is not None:
            if name in scope.outer:
                return None, None  # bound elsewhere, at any time: not followed
            if name in scope.params:
                return scope, None
            if name in scope.bindings:
                return scope, scope.bindings[name]
            scope = scope.parent
        return None, None


class _ScopeBuilder(cst.CSTVisitor):
    """Fills one scope; nested functions become child scopes, lambdas and classes are not entered
    (a class's methods become child scopes of the scope holding the class)."""

    def __init__(
        self, ctx: FileContext, scope: _Scope, classes: Dict[int, ClassModel], analysis: FunctionAnalysis
    ) -> None:
        self.ctx = ctx
        self.scope = scope
        self.classes = classes
        self.analysis = analysis

    def build(self) -> _Scope:
        node = self.scope.node
        if isinstance(node, cst.FunctionDef):
            visit(node.body, self)
        else:
            visit(node, self)
        return self.scope

    def _child(self, child: _Scope) -> None:
        self.scope.children.append(_ScopeBuilder(self.ctx, child, self.classes, self.analysis).build())

    # -- nested scopes -------------------------------------------------------------------
    def visit_FunctionDef(self, node: cst.FunctionDef) -> bool:
        self.scope.bind(node.name.value, None)
        functions = self.analysis.function_scope(node, self.scope.functions)
        self._child(_Scope(node, self.scope, functions, params=set(param_names(node.params))))
        return False

    def visit_ClassDef(self, node: cst.ClassDef) -> bool:
        self.scope.bind(node.name.value, None)
        self._methods(node, self.scope.functions.local_qualname(node.name.value))
        return False

    def _methods(self, node: cst.ClassDef, qualname: str) -> None:
        cls = self.classes.get(id(node))
        if cls is not None:
            in_module_class = self.ctx.is_module_class(cls)
        else:  # a class defined inside a function: judge it by its bases
            in_module_class = any(
                self.ctx.index.is_module_class(q)
                for q in (self.ctx.qualify(base.value) for base in node.bases)
                if q is not None
            )
        for stmt in _class_body(node):
            if isinstance(stmt, cst.FunctionDef):
                params = param_names(stmt.params)
                decorators = decorator_names(stmt)
                is_instance_method = bool(params) and not {"staticmethod", "classmethod"} & set(decorators)
                method = cls.methods.get(stmt.name.value) if cls is not None else None
                if cls is not None and method is not None and method.node is stmt:
                    functions = self.analysis.method_scope(cls, method)
                else:
                    functions = self.analysis.function_scope(
                        stmt, self.scope.functions, f"{qualname}.{stmt.name.value}"
                    )
                self._child(
                    _Scope(
                        stmt,
                        self.scope,  # class-level names are not visible in methods
                        functions,
                        params=set(params),
                        self_name=params[0] if is_instance_method else None,
                        cls=cls,
                        in_module_class=in_module_class,
                    )
                )
            elif isinstance(stmt, cst.ClassDef):
                self._methods(stmt, f"{qualname}.{stmt.name.value}")

    def visit_Lambda(self, node: cst.Lambda) -> bool:
        return False

    # -- bindings ------------------------------------------------------------------------
    def visit_Assign(self, node: cst.Assign) -> None:
        for target in node.targets:
            self.scope.bind_target(target.target, _Value(node.value) if isinstance(target.target, cst.Name) else None)

    def visit_AnnAssign(self, node: cst.AnnAssign) -> None:
        if node.value is not None:
            self.scope.bind_target(node.target, _Value(node.value) if isinstance(node.target, cst.Name) else None)

    def visit_AugAssign(self, node: cst.AugAssign) -> None:
        self.scope.bind_target(node.target, None)

    def visit_NamedExpr(self, node: cst.NamedExpr) -> None:
        self.scope.bind_target(node.target, _Value(node.value))

    def visit_For(self, node: cst.For) -> None:
        self.scope.bind_item_target(node.target, node.iter)

    def visit_CompFor(self, node: cst.CompFor) -> None:
        # comprehension variables live in their own scope; a clash with an outer name only adds a
        # binding, which makes the name ambiguous and so unknown
        self.scope.bind_item_target(node.target, node.iter)

    def visit_WithItem(self, node: cst.WithItem) -> None:
        if node.asname is not None:
            self.scope.bind_target(node.asname.name, None)
        if isinstance(node.item, cst.Call):
            self.scope.with_items.add(id(node.item))  # `with m.register_forward_hook(h):` removes it

    def visit_ExceptHandler(self, node: cst.ExceptHandler) -> None:
        if node.name is not None:
            self.scope.bind_target(node.name.name, None)

    def visit_Import(self, node: cst.Import) -> None:
        for alias in node.names:
            if alias.asname is not None:
                self.scope.bind_target(alias.asname.name, None)
            else:
                head = dotted_name(alias.name)
                if head:
                    self.scope.bind(head.split(".", 1)[0], None)

    def visit_ImportFrom(self, node: cst.ImportFrom) -> None:
        if isinstance(node.names, cst.ImportStar):
            return
        for alias in node.names:
            name = alias.asname.name if alias.asname is not None else alias.name
            self.scope.bind_target(name, None)  # type: ignore[arg-type]

    def visit_Global(self, node: cst.Global) -> None:
        self.scope.outer.update(item.name.value for item in node.names)

    def visit_Nonlocal(self, node: cst.Nonlocal) -> None:
        self.scope.outer.update(item.name.value for item in node.names)

    # -- calls ---------------------------------------------------------------------------
    def visit_Expr(self, node: cst.Expr) -> None:
        if isinstance(node.value, cst.Call):
            self.scope.discarded.add(id(node.value))

    def visit_Call(self, node: cst.Call) -> None:
        func = node.func
        if not isinstance(func, cst.Attribute):
            return
        name = func.attr.value
        if name == "remove" and not node.args:
            self.scope.removes_handles = True
        elif name in HOOK_REGISTRATIONS:
            hook = call_arg(node, 0, "hook")
            if hook is not None:
                self.scope.registrations.append(_Registration(node, name, func.value, hook))


def _class_body(node: cst.ClassDef) -> Sequence[cst.CSTNode]:
    return node.body.body if isinstance(node.body, cst.IndentedBlock) else ()


def _walk(scope: _Scope) -> Iterator[_Scope]:
    yield scope
    for child in scope.children:
        yield from _walk(child)


# -- what the receiver is --------------------------------------------------------------------
class _Analysis:
    def __init__(self, ctx: FileContext) -> None:
        self.ctx = ctx
        self._in_progress: Set[Tuple[int, str]] = set()

    def is_module_constructor(self, expr: cst.BaseExpression) -> bool:
        if not isinstance(expr, cst.Call):
            return False
        qualified = self.ctx.qualify(expr.func)
        return qualified is not None and self.ctx.index.is_module_class(qualified)

    def _is_other_project_class(self, expr: cst.BaseExpression) -> bool:
        """A call constructing a class of the linted project that is not a Module."""
        if not isinstance(expr, cst.Call):
            return False
        qualified = self.ctx.qualify(expr.func)
        return (
            qualified is not None
            and self.ctx.index.resolve_class(qualified) is not None
            and not self.ctx.index.is_module_class(qualified)
        )

    def is_module(self, expr: cst.BaseExpression, scope: _Scope) -> bool:
        """Whether `expr` is provably a Module, or an object reachable from one through attributes
        and items (a submodule, `model.blocks[0]`): a hook stored there is pickled with the model."""
        if isinstance(expr, cst.Name):
            return self._name_is_module(expr.value, scope)
        if isinstance(expr, cst.Attribute):
            value = expr.value
            if isinstance(value, cst.Name) and scope.cls is not None and value.value == scope.self_name:
                stores = scope.cls.stores_of(expr.attr.value)
                if not scope.in_module_class:
                    # `self` is not a Module: the attribute must be constructed as one
                    return bool(stores) and all(
                        s.value is not None and self.is_module_constructor(s.value) for s in stores
                    )
                if stores and all(s.value is not None and self._is_other_project_class(s.value) for s in stores):
                    return False  # e.g. an event bus of the project with a register_forward_hook of its own
            return self.is_module(value, scope)
        if isinstance(expr, cst.Subscript):
            return self.is_module(expr.value, scope)
        if isinstance(expr, cst.Call):
            func = expr.func
            if isinstance(func, cst.Name) and func.value == "super" and scope.in_module_class:
                return scope.self_name is not None
            if isinstance(func, cst.Attribute) and func.attr.value in _RETURNS_SELF:
                return self.is_module(func.value, scope)
            return self.is_module_constructor(expr)
        return False

    def _name_is_module(self, name: str, scope: _Scope) -> bool:
        owner, bindings = scope.lookup(name)
        if owner is None:
            return False
        if bindings is None:  # a parameter: only the instance parameter of a Module method is known
            return owner.in_module_class and owner.self_name == name
        key = (id(owner), name)
        if key in self._in_progress:
            return True  # `model = model.to(device)`: decided by the other bindings
        self._in_progress.add(key)
        try:
            return bool(bindings) and all(self._binding_is_module(b, owner) for b in bindings)
        finally:
            self._in_progress.discard(key)

    def _binding_is_module(self, binding: _Binding, scope: _Scope) -> bool:
        if isinstance(binding, _Value):
            return self.is_module(binding.expr, scope)
        if isinstance(binding, _Item):
            return self._items_are_modules(binding.iterable, binding.position, scope)
        return False

    def _items_are_modules(self, iterable: cst.BaseExpression, position: Optional[int], scope: _Scope) -> bool:
        if isinstance(iterable, cst.Call) and isinstance(iterable.func, cst.Attribute):
            method = iterable.func.attr.value
            receiver = iterable.func.value
            if method in _SUBMODULE_ITERATORS:
                return _SUBMODULE_ITERATORS[method] == position and self.is_module(receiver, scope)
            if method == "values" and position is None:  # nn.ModuleDict
                return self._is_container(receiver, scope)
            if method == "items" and position == 1:
                return self._is_container(receiver, scope)
            return False
        if isinstance(iterable, cst.Call) and isinstance(iterable.func, cst.Name):
            if iterable.func.value == "enumerate" and position == 1 and iterable.args:
                inner = iterable.args[0].value
                return self._items_are_modules(inner, None, scope)
            return False
        if position is None:  # iterating nn.ModuleList / nn.Sequential held by a Module
            return self._is_container(iterable, scope)
        return False

    def _is_container(self, expr: cst.BaseExpression, scope: _Scope) -> bool:
        # only container Modules (ModuleList, Sequential, ModuleDict) can be iterated at all
        return self.is_module(expr, scope)


class LambdaHook(Rule):
    """
    ## What it does
    Flags a local function passed to a Module hook registration.

    A local function is a lambda, a `def` nested in a function or method, the function a
    factory of the same file returns (`make_hook(name)`, `self._make_hook(name)`), or a
    `functools.partial` of one of these — passed to a Module hook registration: forward, forward
    pre, (full) backward, state_dict and load_state_dict hooks. Registrations on `self` in a Module
    class are checked, and registrations on anything else only when it is provably a Module: a
    name bound in the same function to a Module class of the project or a `torch.nn` constructor
    (also through `.to(...)`, `.cuda()`, `.eval()`), an attribute or item of such a Module
    (`model.encoder`, `self.blocks[0]`), or a loop variable over its `modules()`, `children()`,
    `named_modules()`, `named_children()`, or over a container submodule.

    ## Why is this bad?
    The module keeps each hook in a dict that pickle saves with it. pickle saves a function as a
    reference, its module and `__qualname__`, and refuses local ones, so `torch.save(model)` and
    `pickle.dumps(model)` of the whole model fail:
    `Can't pickle local object 'FeatureNet.__init__.<locals>.<lambda>'`. A lambda bound to a
    module-level name fails too: its qualname is `<lambda>`, which no module defines. Only the
    whole-object save breaks: `state_dict()` and `copy.deepcopy(model)` still work. Tensor hooks
    (`param.register_hook(lambda grad: ...)`) are not reported: pickling drops them silently.

    ## Example
    ```python
    class FeatureNet(nn.Module):
        def __init__(self):
            super().__init__()
            self.backbone = nn.Sequential(nn.Linear(8, 8), nn.ReLU())
            self.features = {}
            self.backbone.register_forward_hook(lambda m, i, o: self.features.update(last=o))
    ```

    ## Use instead
    Register a module-level `def` (bind captured values with `functools.partial`) or a bound
    method:
    ```python
    def store_output(store, module, inputs, output):
        store["last"] = output


    class FeatureNet(nn.Module):
        def __init__(self):
            super().__init__()
            self.backbone = nn.Sequential(nn.Linear(8, 8), nn.ReLU())
            self.features = {}
            self.backbone.register_forward_hook(functools.partial(store_output, self.features))
    ```
    The model then saves whole, loads with `torch.load(..., weights_only=False)`, and the hook
    still runs after loading. Saving `model.state_dict()` instead does not pickle hooks at all.

    ## Fix safety
    No automatic fix is offered by this rule yet.

    ## Known limits
    A hook registered as a `with` item, or whose handle is kept in a function that also calls a
    handle's `.remove()`, is taken as temporary and not reported. A receiver that is a
    parameter, the result of a call other than a Module constructor (`build_model(cfg)`,
    `torch.compile(model)`, `timm.create_model(...)`), a name declared `global` or `nonlocal`,
    or a name also bound to something else is not followed. Local functions are recognised as in SER201–SER203:
    factories only from the same file, undecorated, returning a local function on every path; a
    decorated nested `def` is not reported.
    """

    code = "SER205"
    name = "lambda-hook"
    triggers = tuple(sorted(HOOK_REGISTRATIONS))
    summary = "register a module-level def (with functools.partial for bound values) or a bound method as the hook"

    bad = (
        Bad(
            """\
import torch
from torch import nn


class FeatureNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.backbone = nn.Sequential(nn.Linear(8, 8), nn.ReLU())
        self.features = {}
        self.backbone.register_forward_hook(lambda m, i, o: self.features.update(last=o))

        def log_inputs(module, inputs):
            print(inputs[0].shape)

        self.handle = self.register_forward_pre_hook(log_inputs)
""",
            (
                Expected(
                    10,
                    45,
                    "lambda registered with self.backbone.register_forward_hook(): torch.save(model) and pickle fail "
                    "(Can't pickle local object 'FeatureNet.__init__.<locals>.<lambda>')",
                ),
                Expected(
                    15,
                    54,
                    "local function log_inputs registered with self.register_forward_pre_hook(): torch.save(model) "
                    "and pickle fail (Can't pickle local object 'FeatureNet.__init__.<locals>.log_inputs')",
                ),
            ),
        ),
        Bad(
            """\
import torch.nn as nn
from models import Encoder


def make_hook(name, store):
    def hook(module, inputs, output):
        store[name] = output.detach()
    return hook


def main():
    activations = {}
    model = Encoder().cuda()
    model.proj.register_forward_hook(make_hook("proj", activations))
    for name, module in model.named_modules():
        module.register_full_backward_hook(lambda m, gi, go: print(name))
""",
            (
                Expected(
                    14,
                    38,
                    "local function returned by make_hook() registered with model.proj.register_forward_hook(): "
                    "torch.save(model) and pickle fail (Can't pickle local object 'make_hook.<locals>.hook')",
                ),
                Expected(
                    16,
                    44,
                    "lambda registered with module.register_full_backward_hook(): torch.save(model) and pickle fail "
                    "(Can't pickle local object 'main.<locals>.<lambda>')",
                ),
            ),
            files={
                "models.py": """\
import torch.nn as nn


class Encoder(nn.Module):
    def __init__(self):
        super().__init__()
        self.proj = nn.Linear(4, 4)
""",
            },
        ),
        # a lambda bound to a module-level name has no findable name either
        Bad(
            """\
from torch import nn

net = nn.Linear(3, 3)
clip_hook = lambda module, inputs, output: output.clamp(-1, 1)
net.register_forward_hook(clip_hook)
""",
            (
                Expected(
                    5,
                    27,
                    "module-level lambda clip_hook registered with net.register_forward_hook(): torch.save(model) and "
                    "pickle fail (pickle looks functions up by __qualname__, and no module defines '<lambda>')",
                ),
            ),
        ),
    )
    good = (
        # module-level def, partial over it, and a bound method
        Good(
            """\
import functools
import torch.nn as nn


def _store_output(store, module, inputs, output):
    store["last"] = output


class FeatureNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.backbone = nn.Linear(8, 8)
        self.features = {}
        self.backbone.register_forward_hook(functools.partial(_store_output, self.features))
        self.register_forward_pre_hook(self._check_inputs)

    def _check_inputs(self, module, inputs):
        assert inputs[0].dim() == 2
"""
        ),
        # tensor hooks are dropped on pickling: not this rule
        Good(
            """\
import torch.nn as nn


class Clipped(nn.Module):
    def __init__(self):
        super().__init__()
        self.linear = nn.Linear(4, 4)
        for param in self.parameters():
            param.register_hook(lambda grad: grad.clamp(-1, 1))
"""
        ),
        # the receiver is not provably a Module: a parameter, and a model built by a factory
        Good(
            """\
def attach(model, store):
    model.register_forward_hook(lambda m, i, o: store.append(o))


def main(cfg):
    model = build_model(cfg)
    model.encoder.register_forward_hook(lambda m, i, o: None)
"""
        ),
        # temporary hooks: removed in the same function, or registered in a `with`
        Good(
            """\
import torch
from torch import nn


def capture(x):
    model = nn.Sequential(nn.Linear(4, 4), nn.ReLU())
    outputs = []
    handle = model[0].register_forward_hook(lambda m, i, o: outputs.append(o))
    try:
        model(x)
    finally:
        handle.remove()
    with model.register_forward_hook(lambda m, i, o: outputs.append(o)):
        model(x)
    return outputs
"""
        ),
        # a factory that returns a module-level function is not a closure factory
        Good(
            """\
import torch.nn as nn


def _identity_hook(module, inputs, output):
    return output


def pick_hook(name):
    return _identity_hook


class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.register_forward_hook(pick_hook("x"))
"""
        ),
    )

    def check(self, ctx: FileContext) -> Iterator[Report]:
        functions = function_analysis(ctx)
        classes = {id(c.node): c for c in ctx.classes}
        root = _ScopeBuilder(ctx, _Scope(ctx.module, None, functions.module_scope), classes, functions).build()
        receivers = _Analysis(ctx)
        for scope in _walk(root):
            for registration in scope.registrations:
                call_id = id(registration.call)
                if call_id in scope.with_items or (call_id not in scope.discarded and scope.removes_handles):
                    continue  # a temporary hook, removed before the function returns
                candidates = functions.possible_local_functions(registration.hook, scope.functions)
                if not candidates or not receivers.is_module(registration.receiver, scope):
                    continue
                function = candidates[0]
                receiver = ctx.module.code_for_node(registration.receiver)
                yield Report(
                    registration.hook,
                    f"{function.describe()} registered with {receiver}.{registration.method}(): "
                    f"torch.save(model) and pickle fail ({function.pickle_error})",
                )
