"""Property tests: serialint never crashes on valid Python, and its findings do not depend on layout.

Two kinds of programs are generated: arbitrary valid Python (hypothesmith, from the grammar and
from libcst nodes), and `nn.Module` classes assembled from the statement shapes the rules look
at, nested in random control flow. Layout transforms (line endings, BOM, trailing whitespace,
indentation) go through files on disk, so that real reading and decoding is exercised.
"""

from __future__ import annotations

import ast
import codecs
import io
import os
import re
import shutil
import sys
import tokenize
import warnings
from pathlib import Path
from string import Template
from typing import Callable, Dict, List, Optional, Sequence, Set, Tuple

import pytest

pytest.importorskip("hypothesis")
hypothesmith = pytest.importorskip("hypothesmith")

from hypothesis import HealthCheck, event, example, given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

from serialint.config import ConfigResolver  # noqa: E402
from serialint.discovery import discover  # noqa: E402
from serialint.engine import Linter, RunResult, SourceFile, lint_source, lint_sources  # noqa: E402
from serialint.findings import Finding  # noqa: E402
from support import CORPUS, ROOT  # noqa: E402

LINTER = Linter()

FUZZ = settings(
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large, HealthCheck.filter_too_much],
)

# An error serialint may rightly give on a program CPython compiles: libcst's parser disagreeing
# with CPython's, or a nesting depth the analysis cannot follow. Anything else (an internal error,
# a decoding error) on valid source is a defect.
TOLERATED_ON_VALID = re.compile(r"^(syntax error: .*|SER\d{3}: too deeply nested to analyse)$")


def compiles(source: str) -> bool:
    """Whether CPython accepts the program (warnings such as invalid escapes do not matter)."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            compile(source, "<fuzz>", "exec", dont_inherit=True)
    except (SyntaxError, ValueError, RecursionError, MemoryError, OverflowError):
        return False
    return True


def lint_quietly(source: str) -> RunResult:
    """Lint as `fuzzed.py`; serialint must not raise Python warnings about the code it reads."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        result = lint_source(source, path="fuzzed.py", linter=LINTER)
    assert [str(w.message) for w in caught] == [], source
    return result


def assert_no_defect(result: RunResult, source: str) -> None:
    internal = [e.render() for e in result.errors if "internal error" in e.message]
    assert not internal, f"{internal}\n--- source ---\n{source}"
    unexpected = [e.render() for e in result.errors if not TOLERATED_ON_VALID.match(e.message)]
    assert not unexpected, f"{unexpected}\n--- source ---\n{source}"


# -- arbitrary valid Python --------------------------------------------------------------------------


@pytest.mark.filterwarnings("ignore::SyntaxWarning")  # hypothesmith compiles what it generates
@settings(FUZZ, max_examples=60)
@given(source=hypothesmith.from_grammar())
def test_any_program_from_the_grammar_lints_without_a_defect(source: str) -> None:
    if not compiles(source):
        event("rejected by compile()")
        return
    assert_no_defect(lint_quietly(source), source)


@pytest.mark.filterwarnings("ignore::SyntaxWarning")
@settings(FUZZ, max_examples=15)
@given(source=hypothesmith.from_node())
def test_any_program_from_libcst_nodes_lints_without_a_defect(source: str) -> None:
    if not compiles(source):
        event("rejected by compile()")
        return
    assert_no_defect(lint_quietly(source), source)


# -- generated nn.Module classes -----------------------------------------------------------------------

# Import styles: (header, the spelling of the Module base, the namespace that holds layers).
IMPORT_STYLES: Tuple[Tuple[str, str, str], ...] = (
    ("import torch\nfrom torch import nn\n", "nn.Module", "nn"),
    ("import torch\nimport torch.nn as tnn\n", "tnn.Module", "tnn"),
    ("import torch\nimport torch.nn\n", "torch.nn.Module", "torch.nn"),
    ("import torch\nimport torch.nn as nn\nfrom torch.nn import Module as Base\n", "Base", "nn"),
)
COMMON_IMPORTS = "import functools\nimport threading\nfrom torch.utils.data import DataLoader\n"

# Statement shapes the rules look at. `$s` is the self name, `$nn` the layer namespace, `$n` an
# attribute name; each entry is a block of lines indented relative to its own first line.
STATEMENTS: Tuple[str, ...] = (
    '$s.register_buffer("$n", None)',
    '$s.register_buffer("$n", torch.zeros(2), persistent=False)',
    "$s.$n = lambda x: x",
    "$s.$n = lambda x, k=$s: x * 2",
    "$s.$n = lambda *args, **kwargs: (args, kwargs)",
    "$s.$n = [$nn.Linear(2, 2), $nn.ReLU()]",
    "$s.$n = [$nn.Linear(a, b) for a, b in zip(dims, dims[1:])]",
    "$s.$n = {'enc': $nn.Linear(2, 2), 'act': lambda t: t}",
    "$s.$n = $nn.Linear(2, 2)",
    "$s.$n = $nn.ModuleList([$nn.Identity()])",
    '$s.$n = open("train.log", "a")',
    "$s.$n = threading.Lock()",
    "$s.$n = torch.zeros(3)",
    "$s.$n = torch.randn(2, 2) / 2 ** 0.5",
    "$s.$n: torch.Tensor = torch.ones(1)",
    "$s.$n += 1",
    "$s.$n, $s.${n}_b = 1, 2",
    "del $s.$n",
    'setattr($s, "$n", None)',
    "$s.$n = functools.partial(print, '$n')",
    "def _inner(t):\n    return t * len(dims)\n$s.$n = _inner",
    "$s.register_forward_hook(lambda m, i, o: o)",
    "$s.$n.register_forward_pre_hook(lambda m, i: None)",
    "$s.$n = DataLoader([], num_workers=2, collate_fn=lambda b: b)",
    "if (k := len(dims)) > 1:\n    $s.$n = $nn.Linear(k, k)",
    '$s.$n = torch.load("$n.pt")',
    '$s.$n = torch.load("$n.pt", weights_only=False)',
    'torch.save($s, "$n.pt")',
    'torch.save({"model": $s, "step": 1}, "$n.pt")',
    '$s.load_state_dict(torch.load("$n.pt", weights_only=True), strict=False)',
    "$s.$n = torch.compile($s.$n)",
    "print(f\"{$s.$n!r:>{width}}\", *dims, sep='')",
    "pass",
)

# Control flow around a block. `$a`, `$b`, `$c` are child blocks (already indented by the wrapper).
_WRAPPERS: Tuple[str, ...] = (
    "if flag:\n$a",
    "if flag:\n$a\nelse:\n$b",
    "if flag:\n$a\nelif mode == 'b':\n$b\nelse:\n$c",
    "try:\n$a\nexcept (ValueError, OSError) as exc:\n$b\nelse:\n$c\nfinally:\n    pass",
    "try:\n$a\nexcept* TypeError:\n$b",
    "with open('p') as fh, threading.Lock():\n$a",
    "for i, (a, *rest) in enumerate(dims):\n$a\nelse:\n$b",
    "while flag:\n$a\n    break",
    "match mode:\n    case 'a' | 'b':\n    $a\n    case {'k': v, **others}:\n    $b\n"
    "    case [x, *_] if x:\n    $c\n    case _:\n        pass",
    "def helper(*args, key=lambda v: v, **kwargs):\n$a",
    "@functools.lru_cache(maxsize=None)\ndef cached(x=(lambda: 1)()):\n$a",
    "class Inner:\n$a",
)
# `match` needs Python 3.10 and `except*` 3.11: generate only what this interpreter compiles
WRAPPERS = tuple(
    w
    for w in _WRAPPERS
    if not (w.startswith("match") and sys.version_info < (3, 10))
    and not ("except*" in w and sys.version_info < (3, 11))
)

ATTRIBUTE_NAMES = st.sampled_from(["mean", "act", "layers", "fh", "lock", "proj", "norm", "_cache", "w", "data"])

Block = List[str]


def indent(block: Block, prefix: str = "    ") -> Block:
    return [prefix + line if line else line for line in block]


def statement(template: str, name: str) -> Block:
    return Template(template).safe_substitute(n=name).split("\n")


def wrap(template: str, a: Block, b: Block, c: Block) -> Block:
    children = {"$a": a, "$b": b, "$c": c}
    out: Block = []
    for line in template.split("\n"):
        stripped = line.strip()
        if stripped in children:
            # a child sits one level deeper than the wrapper line that introduces it
            extra = line[: len(line) - len(line.lstrip())]
            out.extend(indent(children[stripped], "    " + extra))
        else:
            out.append(line)
    return out


def blocks() -> st.SearchStrategy[Block]:
    leaf = st.builds(statement, st.sampled_from(STATEMENTS), ATTRIBUTE_NAMES)
    sequence = lambda inner: st.lists(inner, min_size=1, max_size=3).map(  # noqa: E731
        lambda parts: [line for part in parts for line in part]
    )
    return st.recursive(
        sequence(leaf),
        lambda children: sequence(st.builds(wrap, st.sampled_from(WRAPPERS), children, children, children)),
        max_leaves=10,
    )


METHOD_DECORATORS = st.sampled_from(["", "@torch.no_grad()\n", "@functools.wraps(print)\n", "@torch.jit.unused\n"])
SIGNATURES = st.sampled_from(
    [
        "($s, dims=(2, 3), flag=True, mode='a', width=4)",
        "($s, *dims, flag=False, mode='b', width=1, **kwargs)",
        "($s, /, dims=[], *, flag=None, mode=None, width=0)",
        "($s, dims: tuple = (1,), flag: bool = (lambda: True)(), mode: str = 'a', width: int = 2)",
    ]
)


@st.composite
def module_programs(draw: st.DrawFn) -> str:
    """A module with one or two nn.Module classes built from rule-relevant statements."""
    header, base, namespace = draw(st.sampled_from(IMPORT_STYLES))
    self_name = draw(st.sampled_from(["self", "me"]))
    lines: Block = [header + COMMON_IMPORTS, ""]
    class_names = ["Net"]
    if draw(st.booleans()):
        class_names.append("Child")
    for class_name in class_names:
        if draw(st.booleans()):
            lines.append(draw(st.sampled_from(["@functools.total_ordering", "@dataclasses_like(eq=False)"])))
        parent = base if class_name == "Net" else "Net"
        lines.append(f"class {class_name}({parent}):")
        if draw(st.booleans()):
            lines.append(draw(st.sampled_from(["    scale: float = 1.0", "    ACT = lambda x: x", '    """Doc."""'])))
        signature = draw(SIGNATURES)
        lines.append(f"    {draw(METHOD_DECORATORS)}def __init__{signature}:".replace("\n", "\n    "))
        lines.append("        super().__init__()")
        lines.extend(indent(draw(blocks()), "        "))
        for method in draw(st.lists(st.sampled_from(["fit", "forward", "extra", "getstate", "reset"]), unique=True)):
            lines.append("")
            if method == "fit":
                lines += ["    def fit($s, x):", "        for name in ('mean', 'data', 'w'):", "            pass"]
                lines += ["        $s.mean = x.mean(0)", "        $s.data = x.std(0)"]
            elif method == "forward":
                lines += [f"    {draw(METHOD_DECORATORS)}def forward($s, x, *rest):".replace("\n", "\n    ")]
                lines += indent(draw(blocks()), "        ") + ["        return x"]
            elif method == "extra":
                lines += ["    def get_extra_state($s):", "        return {'v': 1}"]
                if draw(st.booleans()):
                    lines += ["", "    def set_extra_state($s, state):", "        $s.v = state['v']"]
            elif method == "getstate":
                lines += ["    def __getstate__($s):", "        state = $s.__dict__.copy()", "        return state"]
            else:
                lines += ["    async def reset($s, flag=True, mode='a', dims=(), width=0):"]
                lines += ["        async with flag:", "            pass"]
                lines += ["        async for item in flag:", "            await item"]
                lines += indent(draw(blocks()), "        ")
        lines.append("")
    for tail in draw(
        st.lists(
            st.sampled_from(
                [
                    "model = Net()",
                    'torch.save(model, "model.pt")',
                    "model = torch.compile(model)",
                    'torch.save(model.state_dict(), "model.pt")',
                    'loaded = torch.load("model.pt")',
                    "loader = DataLoader(range(3), num_workers=2, worker_init_fn=lambda i: None)",
                    "Net.register_forward_hook = lambda *a: None",
                ]
            ),
            max_size=4,
        )
    ):
        lines.append(tail)
    text = "\n".join(lines) + "\n"
    return Template(text).safe_substitute(s=self_name, nn=namespace)


def test_generated_programs_reach_the_rules() -> None:
    """The statement shapes really are hazards (else the fuzzing below would test little)."""
    header, base, namespace = IMPORT_STYLES[0]
    body = [line for i, template in enumerate(STATEMENTS) for line in statement(template, f"a{i}")]
    source = Template(
        header + COMMON_IMPORTS + f"\n\nclass Net({base}):\n"
        "    def __init__($s, dims=(2, 3), flag=True, width=4):\n        super().__init__()\n"
        + "\n".join(indent(body, "        "))
        + "\n\n    def fit($s, x):\n        $s.a0 = x.mean(0)\n"
    ).safe_substitute(s="self", nn=namespace)
    assert compiles(source)
    result = lint_source(source, path="example.py", linter=LINTER)
    assert result.errors == []
    assert sorted({f.code for f in result.findings}) == [
        *("SER101", "SER102", "SER103", "SER104"),
        *("SER201", "SER202", "SER203", "SER204", "SER205", "SER206"),
        *("SER301", "SER302", "SER303"),
    ]


@settings(FUZZ, max_examples=60)
@given(source=module_programs(), with_other_file=st.booleans())
def test_generated_module_classes_lint_without_a_defect(source: str, with_other_file: bool) -> None:
    assert compiles(source), source
    # another project file that pickles the class makes the pickling rules consider it
    files = {"train.py": 'import torch\nfrom example import Net\ntorch.save(Net(), "net.pt")\n'}
    result = lint_source(source, path="example.py", extra_files=files if with_other_file else None, linter=LINTER)
    assert result.errors == [], [e.render() for e in result.errors] + [source]
    event(f"findings: {len(result.findings) > 0}")


# -- layout invariance ---------------------------------------------------------------------------------

Key = Tuple[str, int, int, str]  # code, line, 0-based column (-1 when not compared), message


def multiline_string_rows(text: str) -> Set[int]:
    """Rows (1-based) whose line end lies inside a string token: whitespace there changes a value."""
    rows: Set[int] = set()
    for token in tokenize.generate_tokens(io.StringIO(text).readline):
        if token.type == tokenize.STRING and token.end[0] > token.start[0]:
            rows.update(range(token.start[0], token.end[0]))
    return rows


def add_trailing_whitespace(text: str, pad: str = " \t ") -> str:
    """`pad` before every line end that is neither inside a string nor a backslash continuation."""
    inside = multiline_string_rows(text)
    lines = text.split("\n")
    for row, line in enumerate(lines, start=1):
        if row in inside or line.endswith("\\") or row == len(lines):
            continue
        lines[row - 1] = line + pad
    return "\n".join(lines)


def reindent(text: str, unit: str) -> Optional[str]:
    """Re-indent every logical line to `unit` per level, from tokenize's INDENT/DEDENT tokens.

    Continuation lines, comment-only lines and lines inside strings keep their text. Returns None
    when the result is not the same program (compared as ast), so callers can skip such inputs.
    """
    depth = 0
    starts: Dict[int, int] = {}
    at_line_start = True
    for token in tokenize.generate_tokens(io.StringIO(text).readline):
        if token.type == tokenize.INDENT:
            depth += 1
        elif token.type == tokenize.DEDENT:
            depth -= 1
        elif token.type in (tokenize.NL, tokenize.COMMENT, tokenize.ENDMARKER):
            continue
        elif at_line_start:
            starts[token.start[0]] = depth
            at_line_start = token.type == tokenize.NEWLINE
        elif token.type == tokenize.NEWLINE:
            at_line_start = True
    lines = text.split("\n")
    for row, level in starts.items():
        lines[row - 1] = unit * level + lines[row - 1].lstrip(" \t")
    result = "\n".join(lines)
    try:
        same = ast.dump(ast.parse(result)) == ast.dump(ast.parse(text))
    except SyntaxError:
        return None
    return result if same else None


# Text transforms in the order they compose: indentation, then trailing whitespace, then line ends.
TEXT_TRANSFORMS: Dict[str, Callable[[str], Optional[str]]] = {
    "tabs": lambda t: reindent(t, "\t"),
    "two-spaces": lambda t: reindent(t, "  "),
    "trailing-whitespace": add_trailing_whitespace,
    "crlf": lambda t: t.replace("\n", "\r\n"),
    # CPython reads a lone CR as a line end; `compiles` below keeps that assumption honest
    "cr": lambda t: t.replace("\n", "\r") if compiles(t.replace("\n", "\r")) else None,
}
TRANSFORMS = (*TEXT_TRANSFORMS, "bom")
COLUMNS_KEPT = ("trailing-whitespace", "crlf", "cr", "bom")


def transformed(text: str, names: Sequence[str]) -> Optional[bytes]:
    """`text` (LF line ends) with the named transforms applied, as file bytes; None when unsafe."""
    for name, function in TEXT_TRANSFORMS.items():
        if name in names:
            result = function(text)
            if result is None:
                return None
            text = result
    return (codecs.BOM_UTF8 if "bom" in names else b"") + text.encode()


def keys(findings: Sequence[Finding], with_columns: bool) -> List[Key]:
    return sorted((f.code, f.line, f.column if with_columns else -1, f.message) for f in findings)


def lint_file_on_disk(path: Path, data: bytes) -> RunResult:
    path.write_bytes(data)
    return lint_sources([SourceFile(str(path))], ConfigResolver(LINTER.codes), LINTER)


def check_layout_invariance(directory: Path, source: str, transform: str) -> None:
    data = transformed(source, [transform])
    if data is None:
        event(f"{transform}: not applicable")
        return
    exact = transform in COLUMNS_KEPT
    before = lint_file_on_disk(directory / "model.py", source.encode())
    after = lint_file_on_disk(directory / "model.py", data)
    assert before.errors == [] and after.errors == [], [e.render() for e in after.errors]
    assert keys(after.findings, exact) == keys(before.findings, exact), f"{transform}\n{source}"


@settings(FUZZ, max_examples=30)
@given(source=module_programs(), transform=st.sampled_from([t for t in TRANSFORMS if t != "cr"]))
def test_generated_findings_do_not_depend_on_layout(
    tmp_path_factory: pytest.TempPathFactory, source: str, transform: str
) -> None:
    check_layout_invariance(tmp_path_factory.mktemp("layout"), source, transform)


@settings(FUZZ, max_examples=10)
@given(source=module_programs())
@example(source="from torch import nn\n\n\nclass Net(nn.Module):\n    def __init__(self):\n        self.f = lambda: 1\n")  # noqa: E501
def test_generated_findings_do_not_depend_on_lone_cr_line_ends(
    tmp_path_factory: pytest.TempPathFactory, source: str
) -> None:
    check_layout_invariance(tmp_path_factory.mktemp("layout"), source, "cr")


# -- the corpus, transformed as a whole ---------------------------------------------------------------

EXPECTED = re.compile(r"^(\d+):(\d+): (SER\d{3}) (.*)$")


def corpus_files() -> List[str]:
    return sorted(
        os.path.relpath(os.path.join(d, f), CORPUS) for d, _, fs in os.walk(CORPUS) for f in fs if f.endswith(".py")
    )


def golden(relpath: str, with_columns: bool) -> List[Key]:
    with open(os.path.join(CORPUS, relpath + ".expected"), encoding="utf-8") as handle:
        rows = [EXPECTED.match(line) for line in handle.read().splitlines() if line]
    assert all(rows), relpath
    return sorted((m[3], int(m[1]), int(m[2]) - 1 if with_columns else -1, m[4]) for m in rows if m)


def transformed_corpus_run(tmp_path: Path, transforms: Sequence[str]) -> Tuple[RunResult, str]:
    """Copy the corpus (and the pyproject.toml above it, whose torch range the rules read), transform
    every Python file, and lint the copy in one run that reads every file from disk."""
    root = tmp_path / "project"
    shutil.copytree(CORPUS, root / "test_corpus")
    shutil.copy(os.path.join(ROOT, "pyproject.toml"), root / "pyproject.toml")
    for relpath in corpus_files():
        with open(os.path.join(CORPUS, relpath), encoding="utf-8", newline="") as handle:
            text = handle.read()
        assert "\r" not in text and not text.startswith("\ufeff"), relpath
        data = transformed(text, transforms)
        assert data is not None, (transforms, relpath)
        (root / "test_corpus" / relpath).write_bytes(data)
    corpus = str(root / "test_corpus")
    files, errors = discover([corpus], ConfigResolver(LINTER.codes))
    assert errors == []
    return lint_sources([SourceFile(f) for f in files], ConfigResolver(LINTER.codes), LINTER), corpus


@pytest.mark.parametrize(
    "transforms, exact",
    [
        pytest.param(("trailing-whitespace", "crlf", "bom"), True, id="crlf-bom-trailing-whitespace"),
        pytest.param(("tabs",), False, id="tabs"),
        pytest.param(("cr",), True, id="cr"),
    ],
)
def test_corpus_findings_do_not_depend_on_layout(tmp_path: Path, transforms: Sequence[str], exact: bool) -> None:
    run, corpus = transformed_corpus_run(tmp_path, transforms)
    assert [e.render() for e in run.errors] == []
    by_file: Dict[str, List[Finding]] = {}
    for finding in run.findings:
        by_file.setdefault(os.path.relpath(finding.path, corpus), []).append(finding)
    mismatches = {
        relpath: (keys(by_file.get(relpath, []), exact), golden(relpath, exact))
        for relpath in corpus_files()
        if keys(by_file.get(relpath, []), exact) != golden(relpath, exact)
    }
    assert mismatches == {}
    assert sum(len(v) for v in by_file.values()) > 100  # the corpus is mostly hazards


def test_reindent_changes_the_indentation_and_nothing_else() -> None:
    text = (
        'class A:\n    def f(self):\n        x = (1,\n             2)\n        # note\n        return """a\n    b"""\n'
    )
    assert reindent(text, "\t") == (
        'class A:\n\tdef f(self):\n\t\tx = (1,\n             2)\n        # note\n\t\treturn """a\n    b"""\n'
    )
    assert add_trailing_whitespace(text, "  ") == (
        'class A:  \n    def f(self):  \n        x = (1,  \n             2)  \n        # note  \n'
        '        return """a\n    b"""  \n'
    )
