from __future__ import annotations

import re
from typing import Iterator, List, Optional, Tuple

import libcst as cst

from serialint.flow import LOAD_NAMES, FileFlow, Point, callee_among, file_flow, qualified_callee, source_text
from serialint.findings import Applicability, Fix
from serialint.fixes import FixBuilder
from serialint.model import FileContext, call_arg, is_name, is_none, string_value
from serialint.rule import Bad, Expected, Good, Report, Rule

PICKLE_LOAD_NAMES = frozenset({"pickle.load", "pickle.loads", "dill.load", "dill.loads"})
_LOADS = LOAD_NAMES | PICKLE_LOAD_NAMES
_OPEN_NAMES = frozenset({"io.open", "builtins.open", "gzip.open", "bz2.open", "lzma.open"})
_PATH_CLASSES = frozenset({"pathlib.Path", "pathlib.PurePath", "pathlib.PosixPath", "pathlib.WindowsPath"})
# torch.save's usual suffixes, and pickle's own
_CHECKPOINT_SUFFIX = re.compile(r"\.(pt|pth|ckpt|bin|pkl|pickle|pt\.tar|pth\.tar)$", re.IGNORECASE)
_CHECKPOINT_WORD = re.compile(r"ckpt|checkpoint", re.IGNORECASE)
SAFE_DEFAULT_SINCE: Tuple[int, ...] = (2, 6)


class UnsafeLoad(Rule):
    """
    ## What it does
    Flags checkpoint loads that can run arbitrary code.

    That is:
    - `torch.load(..., weights_only=False)`;
    - `torch.load(..., pickle_module=X)` without `weights_only=True`: passing a pickle module
      silently turns the safe default off;
    - `pickle.load` / `pickle.loads` / `dill.load` / `dill.loads` on checkpoint data: a file
      opened from a path that ends in `.pt`, `.pth`, `.ckpt`, `.bin`, `.pkl`, `.pickle`
      (`.pth.tar`, `.pt.tar`) or whose name says `ckpt` / `checkpoint`, or bytes read from one;
    - a plain `torch.load(f)` when the project supports torch older than 2.6, taken from
      `target-torch` in the configuration (or the project's declared torch requirement).

    ## Why is this bad?
    Unpickling calls whatever the file names: anyone who can write or swap the checkpoint (a
    download, a shared drive, a model hub) runs code on the machine that loads it. Before torch
    2.6, `torch.load` unpickled everything by default; since 2.6 it defaults to
    `weights_only=True`, which only rebuilds tensors, containers and primitive values, unless the
    caller turns that off.

    ## Example
    ```python
    state = torch.load("best.pt", map_location="cpu", weights_only=False)
    with open("model.pkl", "rb") as f:
        model = pickle.load(f)
    ```

    ## Use instead
    Save state dicts and load them with the safe loader:
    ```python
    state = torch.load("best.pt", map_location="cpu", weights_only=True)
    model = Net()
    model.load_state_dict(state)
    ```
    Extra trusted classes can be allowed with `torch.serialization.add_safe_globals([...])`.

    ## Fix safety
    Unsafe: `weights_only=False` becomes `weights_only=True`, and a plain `torch.load(f)` gains
    `weights_only=True`. Checkpoints holding whole objects (SER301) or classes outside the
    allow-list then fail to load until their classes are added with
    `torch.serialization.add_safe_globals`, and `weights_only` does not exist before torch 1.13.
    No fix when `weights_only` is a variable (the place that sets it decides), or with an explicit
    `pickle_module` (torch refuses `weights_only=True` beside one), or for `pickle` / `dill` loads.

    ## Known limits
    A `weights_only` or `pickle_module` passed through `**kwargs`, or given as a value the
    linter cannot follow, is not judged. Pickle loads of data not visibly coming from a
    checkpoint-like path (a parameter named `f`, a socket, a cache whose name says nothing) are
    not reported; neither are `cloudpickle`, `joblib` or `numpy.load(allow_pickle=True)`. The
    torch range comes from `target-torch = ">=2.1"` in the configuration; without one, today's
    torch (safe by default) is assumed.
    """

    code = "SER302"
    fix_applicability = Applicability.UNSAFE
    name = "unsafe-load"
    triggers = ("load", "loads")
    triggers_called = True
    summary = "load with torch.load(..., weights_only=True) and keep checkpoints to state dicts"

    bad = (
        Bad(
            """\
import dill
import torch

state = torch.load("best.pt", map_location="cpu", weights_only=False)
legacy = torch.load("old.pt", pickle_module=dill)
""",
            (
                Expected(
                    4,
                    9,
                    "torch.load(..., weights_only=False) unpickles arbitrary code from the checkpoint: whoever can "
                    "write the file runs code here; load it with weights_only=True (allow extra trusted classes "
                    "with torch.serialization.add_safe_globals)",
                ),
                Expected(
                    5,
                    10,
                    "torch.load(..., pickle_module=dill) without weights_only=True unpickles arbitrary code: "
                    "passing a pickle module turns the safe default off; drop pickle_module and load with "
                    "weights_only=True",
                ),
            ),
            fixed="""\
import dill
import torch

state = torch.load("best.pt", map_location="cpu", weights_only=True)
legacy = torch.load("old.pt", pickle_module=dill)
""",
        ),
        Bad(
            """\
import os
import pickle as pkl


def restore(run_dir):
    with open(os.path.join(run_dir, "model.pkl"), "rb") as handle:
        return pkl.load(handle)


def restore_bytes(ckpt_path):
    with open(ckpt_path, "rb") as handle:
        payload = handle.read()
    return pkl.loads(payload)
""",
            (
                Expected(
                    7,
                    16,
                    'pickle.load of checkpoint data (from os.path.join(run_dir, "model.pkl")) runs '
                    "arbitrary code from the file; save a state_dict with torch.save and load it with "
                    "torch.load(..., weights_only=True)",
                ),
                Expected(
                    13,
                    12,
                    "pickle.loads of checkpoint data (from ckpt_path) runs arbitrary code from the file; "
                    "save a state_dict with torch.save and load it with torch.load(..., weights_only=True)",
                ),
            ),
        ),
        Bad(
            """\
import dill
from torch import load as L


def restore(ckpt_file):
    trusted = False
    state = L(ckpt_file, weights_only=trusted)
    with open(ckpt_file, "rb") as fh:
        raw = dill.load(fh)
    return state, raw
""",
            (
                Expected(
                    7,
                    13,
                    "torch.load(..., weights_only=False) unpickles arbitrary code from the checkpoint: whoever can "
                    "write the file runs code here; load it with weights_only=True (allow extra trusted classes with "
                    "torch.serialization.add_safe_globals)",
                ),
                Expected(
                    9,
                    15,
                    "dill.load of checkpoint data (from ckpt_file) runs arbitrary code from the file; save a "
                    "state_dict with torch.save and load it with torch.load(..., weights_only=True)",
                ),
            ),
        ),
    )
    good = (
        # the safe loader
        Good(
            """\
import torch

state = torch.load("best.pt", map_location="cpu", weights_only=True)
"""
        ),
        # a plain torch.load: the default is safe on the torch versions supported (none declared)
        Good(
            """\
from torch import load

state = load("best.pt")
"""
        ),
        # weights_only from a caller: not known here
        Good(
            """\
import torch


def restore(path, trusted):
    return torch.load(path, weights_only=not trusted)
"""
        ),
        # pickle of data that is not a checkpoint
        Good(
            """\
import json
import pickle


def vocab(path):
    with open("vocab.json") as handle:
        words = json.load(handle)
    return words, pickle.loads(path)
"""
        ),
        # pickle_module=None is the default
        Good(
            """\
import torch

state = torch.load("best.pt", pickle_module=None)
"""
        ),
        # **kwargs may carry weights_only
        Good(
            """\
import torch


def restore(path, **kwargs):
    return torch.load(path, pickle_module=kwargs.pop("pickle_module"), **kwargs)
"""
        ),
    )

    def check(self, ctx: FileContext) -> Iterator[Report]:
        flow = file_flow(ctx)
        legacy = _legacy_range(ctx.settings.target_torch)
        for site in flow.call_sites:
            qualname = callee_among(ctx, flow, site, _LOADS)
            if qualname is None:
                continue
            if qualname in LOAD_NAMES:
                message = _torch_load_message(ctx, flow, site.call, site.point, legacy)
            elif qualname in PICKLE_LOAD_NAMES:
                message = _pickle_load_message(ctx, flow, site.call, site.point, str(qualname))
            else:
                continue
            if message is not None:
                fix = _weights_only_fix(FixBuilder(ctx), site.call) if qualname in LOAD_NAMES else None
                yield Report(site.call, message, fix=fix)


def _weights_only_fix(builder: FixBuilder, call: cst.Call) -> Optional[Fix]:
    """`weights_only=False` -> `True`, or `weights_only=True` added to a plain call.

    Unsafe: a checkpoint holding whole objects (SER301) stops loading.
    """
    weights_only = next((a for a in call.args if a.keyword is not None and a.keyword.value == "weights_only"), None)
    if weights_only is not None:
        if not is_name(weights_only.value, "False"):
            return None  # a variable: where it is set is the place to change, not here
        edit = builder.replace(weights_only.value, "True")
    else:
        if call_arg(call, 2, "pickle_module") is not None or not call.args:
            return None  # weights_only=True refuses an explicit pickle_module: needs a person
        last = call.args[-1]
        if isinstance(last.comma, cst.Comma):
            if isinstance(last.comma.whitespace_after, cst.ParenthesizedWhitespace):
                # one argument per line with a trailing comma: add a line in the same layout
                edit = builder.insert_after(last.comma, f"\n{builder.indentation_of(last)}weights_only=True,")
            else:
                edit = builder.insert_after(last.comma, " weights_only=True")
        else:
            edit = builder.insert_after(last, ", weights_only=True")
    return Fix(Applicability.UNSAFE, "load with weights_only=True", (edit,))


def _legacy_range(spec: Optional[str]) -> Optional[str]:
    """The configured torch range when it admits a version whose torch.load is unsafe by default."""
    if spec is None:
        return None
    admits = admits_version_below(spec, SAFE_DEFAULT_SINCE)
    return spec.strip() if admits else None


def _literal_bool(flow: FileFlow, expr: Optional[cst.BaseExpression], point: Point) -> Optional[bool]:
    if expr is None:
        return None
    value = flow.value(expr, point)
    node = value.node if value is not None else expr
    if isinstance(node, cst.Name) and node.value in ("True", "False"):
        return node.value == "True"
    return None


def _torch_load_message(
    ctx: FileContext, flow: FileFlow, call: cst.Call, point: Point, legacy: Optional[str]
) -> Optional[str]:
    weights_only = call_arg(call, -1, "weights_only")
    pickle_module = call_arg(call, 2, "pickle_module")
    if is_none(pickle_module):
        pickle_module = None
    if weights_only is not None:
        if _literal_bool(flow, weights_only, point) is False:
            return (
                "torch.load(..., weights_only=False) unpickles arbitrary code from the checkpoint: whoever can "
                "write the file runs code here; load it with weights_only=True (allow extra trusted classes "
                "with torch.serialization.add_safe_globals)"
            )
        return None  # True, or a value decided elsewhere
    if any(arg.star == "**" for arg in call.args):
        return None  # weights_only may come through **kwargs
    if pickle_module is not None:
        return (
            f"torch.load(..., pickle_module={source_text(ctx, pickle_module)}) without weights_only=True "
            "unpickles arbitrary code: passing a pickle module turns the safe default off; drop "
            "pickle_module and load with weights_only=True"
        )
    if legacy is not None:
        return (
            f"torch.load without weights_only: the project supports torch {legacy}, and before 2.6 "
            "torch.load unpickles arbitrary code by default; pass weights_only=True"
        )
    return None


def _pickle_load_message(
    ctx: FileContext, flow: FileFlow, call: cst.Call, point: Point, qualname: str
) -> Optional[str]:
    function = qualname.rsplit(".", 1)[-1]
    argument = call_arg(call, 0, "file" if function == "load" else "data")
    if argument is None:
        return None
    if function == "load":
        origin = _opened_checkpoint(ctx, flow, argument, point)
    else:
        origin = _read_checkpoint(ctx, flow, argument, point)
    if origin is None:
        return None
    module = qualname.split(".", 1)[0]
    return (
        f"{module}.{function} of checkpoint data (from {origin}) runs arbitrary code from the file; "
        "save a state_dict with torch.save and load it with torch.load(..., weights_only=True)"
    )


def _opened_checkpoint(ctx: FileContext, flow: FileFlow, expr: cst.BaseExpression, point: Point) -> Optional[str]:
    """The path text when `expr` is a file object opened from a checkpoint-like path."""
    value = flow.value(expr, point)
    if value is None or not isinstance(value.node, cst.Call):
        return None
    call, at = value.node, value.point
    func = call.func
    if isinstance(func, cst.Attribute) and func.attr.value == "open" and qualified_callee(ctx, flow, func, at) is None:
        # `Path(...).open("rb")`: the receiver is the path
        return _checkpoint_path(ctx, flow, func.value, at)
    builtin_open = isinstance(func, cst.Name) and func.value == "open" and not flow.is_local("open", at)
    if builtin_open and ctx.qualify(func) is None:
        path = call_arg(call, 0, "file")
    elif qualified_callee(ctx, flow, func, at) in _OPEN_NAMES:
        path = call_arg(call, 0, "filename") or call_arg(call, 0, "file")
    else:
        return None
    return _checkpoint_path(ctx, flow, path, at) if path is not None else None


def _read_checkpoint(ctx: FileContext, flow: FileFlow, expr: cst.BaseExpression, point: Point) -> Optional[str]:
    """The path text when `expr` holds the bytes of a checkpoint-like file."""
    value = flow.value(expr, point)
    if value is None or value.entered or not isinstance(value.node, cst.Call):
        return None
    func = value.node.func
    if not isinstance(func, cst.Attribute):
        return None
    if func.attr.value == "read":
        return _opened_checkpoint(ctx, flow, func.value, value.point)
    if func.attr.value == "read_bytes":
        return _checkpoint_path(ctx, flow, func.value, value.point)
    return None


def _checkpoint_path(ctx: FileContext, flow: FileFlow, expr: cst.BaseExpression, point: Point) -> Optional[str]:
    """The path's text when it looks like a checkpoint: a checkpoint suffix or a ckpt name."""
    text = source_text(ctx, expr)
    for node, at in _path_parts(ctx, flow, expr, point, 0):
        tail = _string_tail(node)
        if tail is not None and _CHECKPOINT_SUFFIX.search(tail):
            return text
        identifier = _last_identifier(node)
        if identifier is not None and _CHECKPOINT_WORD.search(identifier):
            return text
    return None


def _path_parts(
    ctx: FileContext, flow: FileFlow, expr: cst.BaseExpression, point: Point, depth: int
) -> Iterator[Tuple[cst.BaseExpression, Point]]:
    """The expression and, through names and path building, the parts that end the path."""
    yield expr, point
    if depth > 8:
        return
    if isinstance(expr, cst.Name):
        value = flow.value(expr, point)
        followed = value.node if value is not None and not value.entered else None
        if isinstance(followed, cst.BaseExpression) and followed is not expr:
            yield from _path_parts(ctx, flow, followed, value.point, depth + 1)  # type: ignore[union-attr]
        return
    last: Optional[cst.BaseExpression] = None
    if isinstance(expr, cst.BinaryOperation):
        if isinstance(expr.operator, (cst.Add, cst.Divide)):
            last = expr.right  # "run/" + name + ".pt", Path(d) / "best.pt"
        elif isinstance(expr.operator, cst.Modulo):
            last = expr.left  # "%s.pt" % name
    elif isinstance(expr, cst.Call):
        func = expr.func
        if isinstance(func, cst.Attribute) and func.attr.value == "format":
            last = func.value
        elif isinstance(func, cst.Attribute) and func.attr.value in ("with_suffix", "joinpath", "with_name"):
            last = expr.args[-1].value if expr.args else None
        else:
            qualname = qualified_callee(ctx, flow, func, point)
            if qualname in ("os.path.join", "posixpath.join", "ntpath.join") or qualname in _PATH_CLASSES:
                last = expr.args[-1].value if expr.args and not expr.args[-1].star else None
    if last is not None:
        yield from _path_parts(ctx, flow, last, point, depth + 1)


def _string_tail(node: cst.BaseExpression) -> Optional[str]:
    """The literal text a string expression ends with."""
    text = string_value(node)
    if text is not None:
        return text
    if isinstance(node, cst.ConcatenatedString):
        return _string_tail(node.right)  # type: ignore[arg-type]
    if isinstance(node, cst.FormattedString) and node.parts:
        last = node.parts[-1]
        if isinstance(last, cst.FormattedStringText):
            return last.value
    return None


def _last_identifier(node: cst.BaseExpression) -> Optional[str]:
    if isinstance(node, cst.Name):
        return node.value
    if isinstance(node, cst.Attribute):
        return node.attr.value
    return None


# -- version specifiers ----------------------------------------------------------------------

_CLAUSE = re.compile(r"^(~=|===|==|!=|<=|>=|<|>)\s*([0-9][0-9A-Za-z.*+-]*)$")
_RELEASE = re.compile(r"^(\d+(?:\.\d+)*)")

Bound = Tuple[Tuple[int, ...], bool]  # (release, inclusive)


def admits_version_below(spec: str, version: Tuple[int, ...]) -> Optional[bool]:
    """Whether a PEP 440 style specifier (">=2.1,<3", "~=2.4", "==2.5.*") admits a release below
    `version`. None when the text cannot be read. Pre-, post- and dev-release tags count as their
    release; releases are taken as dense (some release always lies between two distinct ones)."""
    text = spec.strip()
    name = re.match(r"^torch\b\s*(\[[^\]]*\])?", text)
    if name:
        text = text[len(name.group(0)):].strip()
    if text in ("", "*"):
        return True
    lower: Bound = ((0,), True)
    upper: Optional[Bound] = None
    for clause in text.split(","):
        match = _CLAUSE.match(clause.strip())
        if match is None:
            return None
        operator, raw = match.groups()
        wildcard = raw.endswith(".*")
        release = _release(raw[:-2] if wildcard else raw)
        if release is None or (wildcard and operator not in ("==", "!=")):
            return None
        if operator == "!=":
            continue  # excludes single releases (or one series) from a dense range
        bounds: List[Tuple[str, Bound]] = []
        if operator in ("==", "===") and wildcard:
            bounds = [(">", (release, True)), ("<", (_next(release), False))]
        elif operator in ("==", "==="):
            bounds = [(">", (release, True)), ("<", (release, True))]
        elif operator == "~=":
            if len(release) < 2:
                return None
            bounds = [(">", (release, True)), ("<", (_next(release[:-1]), False))]
        elif operator == ">=":
            bounds = [(">", (release, True))]
        elif operator == ">":
            bounds = [(">", (release, False))]
        elif operator == "<=":
            bounds = [("<", (release, True))]
        else:
            bounds = [("<", (release, False))]
        for side, bound in bounds:
            if side == ">":
                lower = _tighter_lower(lower, bound)
            else:
                upper = bound if upper is None else _tighter_upper(upper, bound)
    below: Bound = (_normal(version), False)
    upper = below if upper is None else _tighter_upper(upper, below)
    (low, low_inclusive), (high, high_inclusive) = lower, upper
    return low < high or (low == high and low_inclusive and high_inclusive)


def _release(raw: str) -> Optional[Tuple[int, ...]]:
    match = _RELEASE.match(raw)
    if match is None:
        return None
    return _normal(tuple(int(part) for part in match.group(1).split(".")))


def _normal(release: Tuple[int, ...]) -> Tuple[int, ...]:
    """2.6.0 and 2.6 are the same release: drop trailing zeros so tuples compare equal."""
    parts = list(release)
    while len(parts) > 1 and parts[-1] == 0:
        parts.pop()
    return tuple(parts)


def _next(release: Tuple[int, ...]) -> Tuple[int, ...]:
    return _normal(release[:-1] + (release[-1] + 1,))


def _tighter_lower(a: Bound, b: Bound) -> Bound:
    if a[0] != b[0]:
        return a if a[0] > b[0] else b
    return (a[0], a[1] and b[1])


def _tighter_upper(a: Bound, b: Bound) -> Bound:
    if a[0] != b[0]:
        return a if a[0] < b[0] else b
    return (a[0], a[1] and b[1])
