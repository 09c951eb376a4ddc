"""Fixes that add a load_state_dict pre-hook to a Module class (SER101, SER102, SER106).

One module-level function per class, `_serialint_load_compat_<Class>`, registered in `__init__`
with the public `self.register_load_state_dict_pre_hook(hook)`. torch calls it with
`(module, state_dict, prefix, local_metadata, strict, missing_keys, unexpected_keys,
error_msgs)` before the module reads its keys.

Several fixes on one class share that function: the first fix defines and registers it; a fix
applied in a later pass finds it by name and adds its lines to the body. Every first fix
replaces the same character (the first of the class statement, or of the comment block right
above it), so two of them on one class conflict and the second waits for the next pass, where it
sees the hook the first one wrote.
"""

from __future__ import annotations

from typing import List, Optional, Sequence, Tuple

import libcst as cst

from serialint.findings import Edit
from serialint.fixes import FixBuilder
from serialint.model import ClassModel, FileContext, MethodModel
from serialint.walk import visit

HOOK_PREFIX = "_serialint_load_compat_"
REGISTRATION = "register_load_state_dict_pre_hook"
# Registrations through which a class can see the incoming state_dict (public and private
# pre-hooks) or fix up missing keys afterwards (post-hooks).
LOAD_HOOK_REGISTRATIONS = frozenset(
    {
        "register_load_state_dict_pre_hook",
        "_register_load_state_dict_pre_hook",
        "register_load_state_dict_post_hook",
    }
)


def hook_name(cls: ClassModel) -> str:
    return HOOK_PREFIX + cls.name


def _module_function(ctx: FileContext, name: str) -> Optional[cst.FunctionDef]:
    for stmt in ctx.module.body:
        if isinstance(stmt, cst.FunctionDef) and stmt.name.value == name:
            return stmt
    return None


def _module_binds(ctx: FileContext, name: str) -> bool:
    """Whether anything at module level other than a function definition binds `name`."""
    for stmt in ctx.module.body:
        if isinstance(stmt, (cst.ClassDef, cst.FunctionDef)) and stmt.name.value == name:
            return True
        if isinstance(stmt, cst.SimpleStatementLine):
            for small in stmt.body:
                targets: Sequence[cst.CSTNode] = ()
                if isinstance(small, cst.Assign):
                    targets = [t.target for t in small.targets]
                elif isinstance(small, (cst.AnnAssign, cst.AugAssign)):
                    targets = [small.target]
                elif isinstance(small, (cst.Import, cst.ImportFrom)) and not isinstance(small.names, cst.ImportStar):
                    for alias in small.names:
                        bound = alias.asname.name if alias.asname else alias.name
                        if isinstance(bound, cst.Name) and bound.value == name:
                            return True
                if any(isinstance(t, cst.Name) and t.value == name for t in targets):
                    return True
    return False


class _Registrations(cst.CSTVisitor):
    def __init__(self) -> None:
        self.calls: List[cst.Call] = []

    def visit_Call(self, node: cst.Call) -> None:
        func = node.func
        if isinstance(func, cst.Attribute) and func.attr.value in LOAD_HOOK_REGISTRATIONS:
            self.calls.append(node)


def load_hook_registrations(cls: ClassModel) -> List[cst.Call]:
    """Every load_state_dict hook registration in the class body (`self.`, `super().`, …)."""
    finder = _Registrations()
    visit(cls.node.body, finder)
    return finder.calls


class _Strings(cst.CSTVisitor):
    def __init__(self, wanted: str) -> None:
        self.wanted = wanted
        self.found = False

    def visit_SimpleString(self, node: cst.SimpleString) -> None:
        if node.evaluated_value == self.wanted:
            self.found = True


def _mentions(node: cst.CSTNode, key: str) -> bool:
    finder = _Strings(key)
    visit(node, finder)
    return finder.found


def registration_supplies(ctx: FileContext, call: cst.Call, key: str) -> bool:
    """Whether a hook registration may take care of `key` (an attribute or "_extra_state").

    What a hook does is not read, except for the hooks these fixes generate: those handle exactly
    the keys written in their body.
    """
    if len(call.args) != 1 or not isinstance(call.args[0].value, cst.Name):
        return True
    name = call.args[0].value.value
    if not name.startswith(HOOK_PREFIX):
        return True
    function = _module_function(ctx, name)
    return function is None or _mentions(function, key)


def class_supplies(ctx: FileContext, cls: ClassModel, key: str) -> bool:
    return any(registration_supplies(ctx, call, key) for call in load_hook_registrations(cls))


def super_init_statement(method: MethodModel) -> Optional[cst.SimpleStatementLine]:
    """`super().__init__(...)` (or `super(Cls, self).__init__(...)`) as a top-level statement."""
    body = method.node.body
    if not isinstance(body, cst.IndentedBlock):
        return None
    for stmt in body.body:
        if not isinstance(stmt, cst.SimpleStatementLine) or len(stmt.body) != 1:
            continue
        small = stmt.body[0]
        if not isinstance(small, cst.Expr) or not isinstance(small.value, cst.Call):
            continue
        func = small.value.func
        if (
            isinstance(func, cst.Attribute)
            and func.attr.value == "__init__"
            and isinstance(func.value, cst.Call)
            and isinstance(func.value.func, cst.Name)
            and func.value.func.value == "super"
        ):
            return stmt
    return None


def top_level_line(method: MethodModel, small: cst.CSTNode) -> Optional[cst.SimpleStatementLine]:
    """The line of the method body holding `small`, when it sits directly in the body."""
    body = method.node.body
    if not isinstance(body, cst.IndentedBlock):
        return None
    for stmt in body.body:
        if isinstance(stmt, cst.SimpleStatementLine) and any(s is small for s in stmt.body):
            return stmt
    return None


def statement_index(method: MethodModel, stmt: cst.CSTNode) -> int:
    body = method.node.body
    assert isinstance(body, cst.IndentedBlock)
    return next(i for i, s in enumerate(body.body) if s is stmt)




def _indent_unit(ctx: FileContext, cls: ClassModel) -> str:
    """One level of indentation as the class body writes it."""
    body = cls.node.body
    if isinstance(body, cst.IndentedBlock) and body.body:
        return FixBuilder(ctx).indentation_of(body.body[0])
    return ctx.module.default_indent


def hook_edits(
    ctx: FileContext,
    cls: ClassModel,
    lines: Sequence[str],
    register_after: Optional[cst.SimpleStatementLine],
) -> Optional[Tuple[Edit, ...]]:
    """Edits that make the class's load hook run `lines` (hook body lines, one indent unit deep,
    written with "\\t" for each further level of nesting and the file's unit substituted).

    `register_after` is the `__init__` statement the registration follows when a new hook is
    made; None declines when no hook exists yet. Returns None when the class's hook cannot be
    found or made safely.
    """
    if not any(stmt is cls.node for stmt in ctx.module.body):
        return None  # nested classes: the module-level hook would sit far from them
    init = cls.methods.get("__init__")
    if init is None or init.self_name is None:
        return None
    builder = FixBuilder(ctx)
    name = hook_name(cls)
    existing = _module_function(ctx, name)
    registered = [
        call
        for call in load_hook_registrations(cls)
        if len(call.args) == 1 and isinstance(call.args[0].value, cst.Name) and call.args[0].value.value == name
    ]
    if existing is not None or registered:
        if existing is None or len(registered) != 1 or not isinstance(existing.body, cst.IndentedBlock):
            return None
        if any(isinstance(stmt, cst.FunctionDef) and stmt.name.value == name for stmt in _after(ctx, existing)):
            return None  # defined twice: which one runs is not ours to guess
        unit = builder.indentation_of(existing.body.body[0])
        _, _, end_line, _ = builder.range_of(existing)
        text = "".join(_render(line, unit) for line in lines)
        return (Edit(end_line + 1, 0, end_line + 1, 0, text),)
    if register_after is None or _module_binds(ctx, name):
        return None
    unit = _indent_unit(ctx, cls)
    definition = f"def {name}(module, state_dict, prefix, *args):\n" + "".join(_render(line, unit) for line in lines)
    top, first = builder.above_class(cls.node)
    define = Edit(top, 0, top, 1, f"{definition}\n\n{first}")
    indent = builder.indentation_of(register_after)
    _, _, end_line, _ = builder.range_of(register_after)
    register = Edit(end_line + 1, 0, end_line + 1, 0, f"{indent}{init.self_name}.{REGISTRATION}({name})\n")
    return (define, register)


def _after(ctx: FileContext, function: cst.FunctionDef) -> List[cst.CSTNode]:
    body = list(ctx.module.body)
    index = next(i for i, s in enumerate(body) if s is function)
    return body[index + 1 :]


def _render(line: str, unit: str) -> str:
    depth = len(line) - len(line.lstrip("\t"))
    return unit * (depth + 1) + line[depth:] + "\n"

