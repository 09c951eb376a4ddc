"""Project index: which classes exist in the linted files and what they derive from.

Built before any rule runs, from a cheap `ast` pass over every file (about a tenth of a libcst
parse), so that `class Net(Base)` is known to be a Module class when `Base` lives in another
file and derives from `torch.nn.Module` under any spelling. Nothing is imported or executed.
"""

from __future__ import annotations

import ast
import os
from dataclasses import dataclass
from typing import Dict, FrozenSet, Iterable, List, Optional, Sequence, Set, Tuple

# Qualified names that are torch.nn.Module (or a framework subclass of it) by definition.
MODULE_ROOTS: FrozenSet[str] = frozenset(
    {
        "torch.nn.Module",
        "torch.nn.modules.Module",
        "torch.nn.modules.module.Module",
        "torch.jit.ScriptModule",
        "lightning.LightningModule",
        "lightning.pytorch.LightningModule",
        "lightning.pytorch.core.LightningModule",
        "lightning.pytorch.core.module.LightningModule",
        "pytorch_lightning.LightningModule",
        "pytorch_lightning.core.LightningModule",
        "pytorch_lightning.core.module.LightningModule",
    }
)

# Capitalised names under torch.nn that are not Module subclasses.
_TORCH_NN_NON_MODULES: FrozenSet[str] = frozenset(
    {"Parameter", "Buffer", "UninitializedParameter", "UninitializedBuffer", "ParameterDict_", "Module_"}
)


def is_torch_module_name(qualname: str) -> bool:
    """True for torch's own Module classes: `torch.nn.Linear`, `torch.nn.modules.conv.Conv2d`, …"""
    if qualname in MODULE_ROOTS:
        return True
    parts = qualname.split(".")
    last = parts[-1]
    if not last[:1].isupper() or last in _TORCH_NN_NON_MODULES:
        return False
    if len(parts) == 3 and parts[0] == "torch" and parts[1] == "nn":
        return True
    if len(parts) >= 4 and parts[:3] in (["torch", "nn", "modules"], ["torch", "nn", "parallel"]):
        return True
    return False


@dataclass(frozen=True)
class ClassSummary:
    name: str  # dotted within its module: "Net", "Outer.Inner"
    bases: Tuple[str, ...]  # qualified where resolvable, else the dotted source text
    methods: FrozenSet[str]


@dataclass(frozen=True)
class FileSummary:
    path: str
    module: str  # dotted module name derived from the package layout
    is_package: bool
    imports: Dict[str, str]  # local name -> qualified target
    star_imports: Tuple[str, ...]
    classes: Dict[str, ClassSummary]
    top_level: FrozenSet[str]  # names defined at module level (classes, functions)

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
    known = {p.replace(os.sep, "/") for p in all_paths}
    parts = path.replace(os.sep, "/").split("/")
    stem = parts[-1][:-3] if parts[-1].endswith(".py") else parts[-1]
    is_package = stem == "__init__"
    dirs = parts[:-1]
    names: List[str] = [] if is_package else [stem]
    while dirs and "/".join(dirs + ["__init__.py"]) in known:
        names.insert(0, dirs.pop())
    return ".".join(names), is_package


def _dotted(node: ast.expr) -> Optional[str]:
    parts: List[str] = []
    while isinstance(node, ast.Attribute):
        parts.append(node.attr)
        node = node.value
    if isinstance(node, ast.Name):
        parts.append(node.id)
        return ".".join(reversed(parts))
    if isinstance(node, ast.Subscript):  # Generic[T], LightningModule[...] style bases
        return _dotted(node.value)
    return None


def _resolve_relative(module: str, is_package: bool, level: int, target: Optional[str]) -> str:
    parts = module.split(".") if module else []
    if not is_package:
        parts = parts[:-1]
    if level > 1:
        parts = parts[: len(parts) - (level - 1)] if level - 1 <= len(parts) else []
    base = ".".join(parts)
    if target:
        return f"{base}.{target}" if base else target
    return base


def summarize(path: str, tree: ast.Module, module: Optional[str] = None, is_package: Optional[bool] = None) -> FileSummary:
    """Collect imports (anywhere in the file), classes (nested too) and top-level names."""
    if module is None or is_package is None:
        module, is_package = module_name_for_path(path)
    imports: Dict[str, str] = {}
    stars: List[str] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                if alias.asname:
                    imports[alias.asname] = alias.name
                else:
                    head = alias.name.split(".", 1)[0]
                    imports.setdefault(head, head)
        elif isinstance(node, ast.ImportFrom):
            source = node.module or ""
            if node.level:
                source = _resolve_relative(module, is_package, node.level, node.module)
            for alias in node.names:
                if alias.name == "*":
                    stars.append(source)
                    continue
                local = alias.asname or alias.name
                imports[local] = f"{source}.{alias.name}" if source else alias.name

    top_level = frozenset(
        n.name for n in tree.body if isinstance(n, (ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef))
    )
    summary = FileSummary(path, module, is_package, imports, tuple(stars), {}, top_level)
    # `Base = nn.Module` at module level is an alias, resolved like an import
    for stmt in tree.body:
        if (
            isinstance(stmt, ast.Assign)
            and len(stmt.targets) == 1
            and isinstance(stmt.targets[0], ast.Name)
            and isinstance(stmt.value, (ast.Name, ast.Attribute))
        ):
            dotted = _dotted(stmt.value)
            qualified = summary.qualify_dotted(dotted) if dotted else None
            if qualified is not None:
                imports[stmt.targets[0].id] = qualified
    classes: Dict[str, ClassSummary] = {}

    def visit(body: Sequence[ast.stmt], prefix: str) -> None:
        for stmt in body:
            if isinstance(stmt, ast.ClassDef):
                name = f"{prefix}{stmt.name}"
                bases = []
                for base in stmt.bases:
                    dotted = _dotted(base)
                    if dotted is not None:
                        bases.append(summary.qualify_dotted(dotted) or dotted)
                methods = frozenset(
                    s.name for s in stmt.body if isinstance(s, (ast.FunctionDef, ast.AsyncFunctionDef))
                )
                classes[name] = ClassSummary(name, tuple(bases), methods)
                visit(stmt.body, f"{name}.")
            elif isinstance(stmt, (ast.If, ast.Try)) and not prefix:
                # classes defined under `if TYPE_CHECKING:` / `try:` at module level still count
                for sub in _child_bodies(stmt):
                    visit(sub, prefix)

    visit(tree.body, "")
    summary.classes.update(classes)
    return summary


def _child_bodies(stmt: ast.stmt) -> Iterable[Sequence[ast.stmt]]:
    if isinstance(stmt, ast.If):
        yield stmt.body
        yield stmt.orelse
    elif isinstance(stmt, ast.Try):
        yield stmt.body
        for handler in stmt.handlers:
            yield handler.body
        yield stmt.orelse
        yield stmt.finalbody


class ProjectIndex:
    """Classes of every linted file, resolvable by qualified name across files."""

    def __init__(self, summaries: Iterable[FileSummary], module_bases: Sequence[str] = ()) -> None:
        self.modules: Dict[str, FileSummary] = {}
        for summary in summaries:
            # first file wins when two files claim one module name (e.g. two scripts named train.py)
            self.modules.setdefault(summary.module, summary)
        self.extra_bases: FrozenSet[str] = frozenset(module_bases)
        self._is_module: Dict[str, bool] = {}

    def resolve_class(self, qualname: str, _depth: int = 0) -> Optional[Tuple[FileSummary, ClassSummary]]:
        """Find the project class a qualified name denotes, following imports and re-exports."""
        if _depth > 20:
            return None
        parts = qualname.split(".")
        for split in range(len(parts) - 1, -1, -1):
            mod, rest = ".".join(parts[:split]), parts[split:]
            summary = self.modules.get(mod)
            if summary is None:
                continue
            dotted = ".".join(rest)
            cls = summary.classes.get(dotted)
            if cls is not None:
                return summary, cls
            target = summary.imports.get(rest[0])
            if target is not None:
                forwarded = ".".join([target, *rest[1:]])
                if forwarded != qualname:
                    return self.resolve_class(forwarded, _depth + 1)
            for star in summary.star_imports:
                found = self.resolve_class(f"{star}.{dotted}", _depth + 1)
                if found is not None:
                    return found
            return None
        return None

    def canonical(self, qualname: str) -> str:
        """The qualified name through re-exports: `pkg.Base` -> `pkg.models.Base`, torch names as given."""
        found = self.resolve_class(qualname)
        if found is None:
            return qualname
        summary, cls = found
        return f"{summary.module}.{cls.name}" if summary.module else cls.name

    def is_module_class(self, qualname: str) -> bool:
        cached = self._is_module.get(qualname)
        if cached is not None:
            return cached
        self._is_module[qualname] = False  # cycle guard: a class deriving from itself is not a Module
        result = self._compute_is_module(qualname)
        self._is_module[qualname] = result
        return result

    def _compute_is_module(self, qualname: str) -> bool:
        if is_torch_module_name(qualname) or qualname in self.extra_bases:
            return True
        found = self.resolve_class(qualname)
        if found is None:
            return False
        summary, cls = found
        return any(self.is_module_class(self._qualify_base(summary, base)) for base in cls.bases)

    def _qualify_base(self, summary: FileSummary, base: str) -> str:
        if base in self.extra_bases or is_torch_module_name(base):
            return base
        if base.split(".", 1)[0] in summary.imports or "." in base:
            return base
        for star in summary.star_imports:
            candidate = f"{star}.{base}"
            if is_torch_module_name(candidate) or self.resolve_class(candidate) is not None:
                return candidate
        return base

    def defines_in_hierarchy(self, qualname: str, method_names: Iterable[str]) -> bool:
        """Whether the class or a project base class defines any of `method_names`."""
        wanted = frozenset(method_names)
        seen: Set[str] = set()
        stack = [qualname]
        while stack:
            current = stack.pop()
            if current in seen:
                continue
            seen.add(current)
            found = self.resolve_class(current)
            if found is None:
                continue
            summary, cls = found
            if cls.methods & wanted:
                return True
            stack.extend(self._qualify_base(summary, b) for b in cls.bases)
        return False
