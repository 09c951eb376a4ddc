"""Which classes the linted code visibly pickles, beyond Module classes.

A class counts when an instance of it is handed to `torch.save`, `pickle.dump(s)`, `dill.dump(s)`,
`cloudpickle.dump(s)`, or is the dataset of a `DataLoader` that may start worker processes. The
instance must be visible: a direct `Cls(...)` argument, inside a saved dict/list/tuple literal, or a
name bound exactly once to `Cls(...)` in the same scope. Runs in the cheap `ast` index pass.
"""

from __future__ import annotations

import ast
import re
from typing import Dict, Iterator, List, Optional, Set, Tuple

from serialint.index import FileSummary, dotted_ast_name

PICKLING_CALLS = frozenset(
    {
        "torch.save",
        "pickle.dump",
        "pickle.dumps",
        "dill.dump",
        "dill.dumps",
        "cloudpickle.dump",
        "cloudpickle.dumps",
    }
)
DATALOADERS = frozenset({"torch.utils.data.DataLoader", "torch.utils.data.dataloader.DataLoader"})


def _scopes(tree: ast.Module) -> Iterator[Tuple[List[str], List[ast.stmt]]]:
    """Each scope's parameter names and body: the module, then every function."""
    yield [], tree.body
    for node in ast.walk(tree):
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            args = node.args
            params = [a.arg for a in (*args.posonlyargs, *args.args, *args.kwonlyargs)]
            params += [a.arg for a in (args.vararg, args.kwarg) if a is not None]
            yield params, node.body


def _scope_nodes(body: List[ast.stmt]) -> Iterator[ast.AST]:
    """Nodes of one scope, not descending into nested functions, lambdas or classes."""
    nested = (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda, ast.ClassDef)
    stack: List[ast.AST] = [stmt for stmt in reversed(body) if not isinstance(stmt, nested)]
    while stack:
        node = stack.pop()
        yield node
        stack.extend(child for child in ast.iter_child_nodes(node) if not isinstance(child, nested))


def may_start_workers(call: ast.Call) -> bool:
    """`num_workers` absent or literally 0 means no worker processes; anything else may start some."""
    for keyword in call.keywords:
        if keyword.arg == "num_workers":
            value = keyword.value
            return not (isinstance(value, ast.Constant) and value.value == 0)
    # DataLoader(dataset, batch_size, shuffle, sampler, batch_sampler, num_workers, ...)
    if len(call.args) >= 6:
        value = call.args[5]
        return not (isinstance(value, ast.Constant) and value.value == 0)
    return False


# Every call above is spelled with one of these words in the source, whatever the import alias:
# `from torch import save as S` still names `save` in the import line.
_TRIGGERS = re.compile(r"(?<!\w)(?:save|dump|dumps|DataLoader)(?!\w)")


def pickled_class_refs(tree: ast.Module, summary: FileSummary, text: Optional[str] = None) -> Set[str]:
    """Qualified names of classes whose instances this file visibly pickles."""
    found: Set[str] = set()
    if text is not None and _TRIGGERS.search(text) is None:
        return found
    if not any(
        isinstance(node, ast.Call) and _qualified_callee(node, summary) in _PICKLING_OR_LOADERS for node in ast.walk(tree)
    ):
        return found  # the words were in comments, strings or other names: no scope to read
    for params, body in _scopes(tree):
        nodes = list(_scope_nodes(body))
        # a parameter's value is unknown: two entries make it never "bound exactly once"
        bindings: Dict[str, List[ast.expr]] = {p: [ast.Name(p), ast.Name(p)] for p in params}
        for node in nodes:
            if isinstance(node, ast.Assign):
                for target in node.targets:
                    if isinstance(target, ast.Name):
                        bindings.setdefault(target.id, []).append(node.value)
                    else:
                        for name in ast.walk(target):
                            if isinstance(name, ast.Name):
                                bindings.setdefault(name.id, []).append(name)  # unknown value
            elif isinstance(node, (ast.AnnAssign, ast.AugAssign, ast.For, ast.With, ast.NamedExpr)):
                targets = (
                    [node.target]
                    if isinstance(node, (ast.AnnAssign, ast.AugAssign, ast.For, ast.NamedExpr))
                    else [item.optional_vars for item in node.items if item.optional_vars is not None]
                )
                for target in targets:
                    for name in ast.walk(target):
                        if isinstance(name, ast.Name):
                            value = node.value if isinstance(node, (ast.AnnAssign, ast.NamedExpr)) else None
                            bindings.setdefault(name.id, []).append(value if value is not None else name)

        def instance_class(expr: ast.expr, depth: int = 0) -> Optional[str]:
            if isinstance(expr, ast.Call):
                dotted = dotted_ast_name(expr.func)
                return summary.qualify_dotted(dotted) if dotted else None
            if isinstance(expr, ast.Name) and depth < 3:
                values = bindings.get(expr.id)
                if values is not None and len(values) == 1:
                    return instance_class(values[0], depth + 1)
            return None

        def objects(expr: ast.expr) -> Iterator[ast.expr]:
            if isinstance(expr, (ast.List, ast.Tuple, ast.Set)):
                for element in expr.elts:
                    yield from objects(element)
            elif isinstance(expr, ast.Dict):
                for value in expr.values:
                    yield from objects(value)
            else:
                yield expr

        for node in nodes:
            if not isinstance(node, ast.Call):
                continue
            qualified = _qualified_callee(node, summary)
            if qualified in PICKLING_CALLS:
                payload = node.args[0] if node.args else _keyword(node, "obj")
            elif qualified in DATALOADERS and may_start_workers(node):
                payload = node.args[0] if node.args else _keyword(node, "dataset")
            else:
                continue
            if payload is None:
                continue
            for obj in objects(payload):
                cls = instance_class(obj)
                if cls is not None:
                    found.add(cls)
    return found


_PICKLING_OR_LOADERS = PICKLING_CALLS | DATALOADERS


def _qualified_callee(call: ast.Call, summary: FileSummary) -> Optional[str]:
    dotted = dotted_ast_name(call.func)
    return summary.qualify_dotted(dotted) if dotted else None


def _keyword(call: ast.Call, name: str) -> Optional[ast.expr]:
    for keyword in call.keywords:
        if keyword.arg == name:
            return keyword.value
    return None
