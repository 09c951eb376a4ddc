"""Fix safety at scale: apply every fix to a corpus of real code and check nothing breaks.

Steps, on a fresh copy of the corpus in a temporary directory (outside any directory holding a
serialint configuration, since the configuration search walks upward), with a frozen copy of
the linter's source (so that every run sees the same version) and without the result cache:

1. lint once (``--output-format json``): the findings before, and which carry a fix;
2. ``serialint check --fix --unsafe-fixes``: exit status, stderr, the "Fixed N" line;
3. every file still parses and compiles; a changed file uses no name that pyflakes finds
   undefined and that was not undefined before (a helper or an import the fix forgot); a file
   without a fixable finding is byte-identical to its original; a changed file keeps its
   encoding (BOM, coding cookie), its line endings, its final newline and its permission bits;
   no temporary file is left behind;
4. ``--fix --unsafe-fixes`` a second time changes no byte (idempotence);
5. lint again: for every (file, code) there are no more findings than before;
6. a table per rule: findings before, fixes offered, findings that disappeared, remaining, files
   changed, and the time of each run.

Exits 1 on any violation (each listed with its file and details), 0 otherwise.

Usage::

    python bench/fix_safety.py                    # the audit corpus (~630k lines)
    python bench/fix_safety.py --corpus speed
    python bench/fix_safety.py --corpus test_corpus --crlf   # every fix, on CRLF files
"""

from __future__ import annotations

import argparse
import ast
import codecs
import difflib
import hashlib
import io
import json
import os
import re
import shutil
import stat
import subprocess
import sys
import tempfile
import time
import tokenize
import warnings
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Dict, List, Optional, Sequence, Set, Tuple

sys.path.insert(0, str(Path(__file__).resolve().parent))
from corpus import assemble, corpus_files, count_lines  # noqa: E402

REPO = Path(__file__).resolve().parent.parent
CONFIG_FILES = (".serialint.toml", "serialint.toml", "pyproject.toml")
FIXED_LINE = re.compile(r"^Fixed (\d+) findings? \((\d+) remaining\)\.$", re.MULTILINE)
LINE_ENDS = re.compile(rb"\r\n|\r|\n")


@dataclass
class Run:
    """One serialint invocation."""

    argv: List[str]
    status: int
    stdout: str
    stderr: str
    seconds: float


@dataclass
class Report:
    corpus: str
    files: int
    lines: int
    runs: Dict[str, Run] = field(default_factory=dict)
    violations: List[str] = field(default_factory=list)
    notes: List[str] = field(default_factory=list)

    def violation(self, text: str) -> None:
        self.violations.append(text)


LINTER: Dict[str, str] = {}  # the environment that runs the frozen copy of the linter
NO_CACHE: List[str] = []  # ["--no-cache"] when the version has it: a result cache must not hide a change


def freeze_linter(top: Path) -> str:
    """Copy the linter's source aside and run that copy, so that edits made to the working tree
    during a long run cannot mix two versions. Returns a digest of the copy."""
    dest = top / "linter"
    shutil.copytree(REPO / "serialint", dest / "serialint", ignore=shutil.ignore_patterns("__pycache__"))
    hasher = hashlib.sha256()
    for path in sorted((dest / "serialint").rglob("*.py")):
        data = path.read_bytes()
        problem = compiles(data, str(path))
        if problem is not None:
            sys.exit(f"the linter's source does not compile right now ({path.name}: {problem}); try again")
        hasher.update(path.relative_to(dest).as_posix().encode() + b"\0" + data)
    LINTER.update(os.environ, PYTHONPATH=str(dest))
    where = subprocess.run(
        [sys.executable, "-c", "import serialint; print(serialint.__file__)"],
        cwd=top,  # not the repository: its own serialint/ would come first on sys.path
        env=LINTER,
        capture_output=True,
        text=True,
    )
    if not where.stdout.strip().startswith(str(dest)):
        sys.exit(f"the frozen linter is not the one imported: {where.stdout.strip() or where.stderr.strip()}")
    help_text = subprocess.run(
        [sys.executable, "-m", "serialint", "check", "--help"], cwd=top, env=LINTER, capture_output=True, text=True
    ).stdout
    if "--no-cache" in help_text:
        NO_CACHE[:] = ["--no-cache"]
    return hasher.hexdigest()[:12]


def serialint(args: Sequence[str], cwd: Path) -> Run:
    argv = [sys.executable, "-m", "serialint", "check", *args, *NO_CACHE]
    started = time.perf_counter()
    done = subprocess.run(argv, cwd=cwd, env=LINTER, capture_output=True, text=True)
    return Run(argv, done.returncode, done.stdout, done.stderr, time.perf_counter() - started)


def error_lines(stderr: str) -> List[str]:
    """What serialint reports as errors (files it could not lint or fix, internal errors)."""
    return [line for line in stderr.splitlines() if line.startswith("serialint: error:") or "Traceback" in line]


def fresh_directory() -> Path:
    """A temporary directory with no serialint configuration anywhere above it."""
    top = Path(tempfile.mkdtemp(prefix="serialint-fix-safety-")).resolve()
    for parent in top.parents:
        for name in CONFIG_FILES:
            if (parent / name).is_file():
                shutil.rmtree(top)
                sys.exit(f"{parent / name} would configure the corpus; set TMPDIR elsewhere")
    return top


def copy_corpus(source: Path, dest: Path, crlf: bool, bom: bool) -> List[str]:
    """Copy the corpus's Python files (only them: no configuration, no .gitignore travels along)."""
    rels = []
    for path in corpus_files(source):
        rel = path.relative_to(source).as_posix()
        data = path.read_bytes()
        if crlf:
            data = LINE_ENDS.sub(b"\r\n", data)
        if bom and not data.startswith(codecs.BOM_UTF8) and _encoding(data) == "utf-8":
            data = codecs.BOM_UTF8 + data
        target = dest / rel
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(data)
        rels.append(rel)
    return rels


def _encoding(data: bytes) -> Optional[str]:
    try:
        return tokenize.detect_encoding(io.BytesIO(data).readline)[0]
    except SyntaxError:
        return None


def digest(root: Path) -> Dict[str, str]:
    """Every file under `root` (not only .py: a stray temporary file must show) and its hash."""
    hashes = {}
    for path in sorted(root.rglob("*")):
        rel = path.relative_to(root).as_posix()
        if path.is_file() and (NO_CACHE or not rel.startswith(".serialint_cache/")):
            hashes[rel] = hashlib.sha256(path.read_bytes()).hexdigest()
    return hashes


def load_json(run: Run, root: Path, report: Report, label: str) -> List[dict]:
    try:
        data = json.loads(run.stdout)
    except json.JSONDecodeError as exc:
        report.violation(f"{label}: output is not JSON ({exc}); stderr: {run.stderr.strip()[:500]}")
        return []
    for finding in data:
        finding["path"] = Path(finding["path"]).resolve().relative_to(root).as_posix()
    return data


def line_end_kinds(data: bytes) -> Set[bytes]:
    return set(LINE_ENDS.findall(data))


def compiles(data: bytes, name: str) -> Optional[str]:
    """None when the source parses (ast) and compiles; else the error."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # invalid escapes and the like: the corpus's own business
            ast.parse(data, filename=name)
            compile(data, name, "exec", dont_inherit=True)
    except (SyntaxError, ValueError) as exc:
        return f"{type(exc).__name__}: {exc}"
    return None


def check_file(rel: str, before: bytes, after: bytes, may_change: bool, report: Report) -> None:
    if before == after:
        return
    if not may_change:
        report.violation(f"{rel}: changed, but it had no fixable finding")
    problem = compiles(after, rel)
    if problem is not None and compiles(before, rel) is None:
        report.violation(f"{rel}: no longer compiles after the fix: {problem}")
    if before.startswith(codecs.BOM_UTF8) != after.startswith(codecs.BOM_UTF8):
        lost = before.startswith(codecs.BOM_UTF8)
        report.violation(f"{rel}: the UTF-8 byte order mark was {'lost' if lost else 'added'}")
    if _encoding(before) != _encoding(after):
        report.violation(f"{rel}: encoding changed from {_encoding(before)} to {_encoding(after)}")
    else:
        try:
            after.decode(_encoding(after) or "utf-8")
        except (UnicodeDecodeError, LookupError) as exc:
            report.violation(f"{rel}: the fixed file does not decode: {exc}")
    kinds_before, kinds_after = line_end_kinds(before), line_end_kinds(after)
    if kinds_before and not kinds_after <= kinds_before:
        names = {b"\r\n": "CRLF", b"\n": "LF", b"\r": "CR"}
        report.violation(
            f"{rel}: line endings changed: {sorted(names[k] for k in kinds_before)}"
            f" -> {sorted(names[k] for k in kinds_after)}"
        )
    ends_before, ends_after = before.endswith((b"\n", b"\r")), after.endswith((b"\n", b"\r"))
    if ends_before != ends_after:
        report.violation(f"{rel}: the final newline was {'lost' if ends_before else 'added'}")


def name_problems(data: bytes, name: str) -> Optional[Tuple[Counter, Counter]]:
    """pyflakes' undefined names, and its other complaints, by kind and name (positions move
    with a fix, so they are compared without them). None when pyflakes is not installed."""
    try:
        from pyflakes import checker, messages
    except ImportError:
        return None
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        tree = ast.parse(data, filename=name)
    undefined: Counter = Counter()
    other: Counter = Counter()
    for message in checker.Checker(tree, filename=name).messages:
        key = (type(message).__name__, str(message.message_args[0]) if message.message_args else "")
        fatal = (messages.UndefinedName, messages.UndefinedLocal, messages.UndefinedExport)
        (undefined if isinstance(message, fatal) else other)[key] += 1
    return undefined, other


def check_names(rel: str, before: bytes, after: bytes, report: Report) -> None:
    """A fix must not use a name the file does not define (a helper, `torch`, `functools`)."""
    if compiles(after, rel) is not None or compiles(before, rel) is not None:
        return
    old, new = name_problems(before, rel), name_problems(after, rel)
    if old is None or new is None:
        report.notes.append("pyflakes is not installed: undefined names were not checked")
        return
    for (kind, name), count in sorted((new[0] - old[0]).items()):
        report.violation(f"{rel}: the fix uses an undefined name: {kind} {name!r} (x{count})")
    for (kind, name), count in sorted((new[1] - old[1]).items()):
        report.notes.append(f"{rel}: pyflakes has a new complaint after the fix: {kind} {name!r} (x{count})")


def per_file_code(findings: Sequence[dict]) -> Counter:
    return Counter((f["path"], f["code"]) for f in findings)


def applicability(finding: dict) -> str:
    return finding["fix"]["applicability"] if finding.get("fix") else "none"


def main(argv: Optional[Sequence[str]] = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--corpus",
        choices=("audit", "speed", "test_corpus"),
        default="audit",
        help="audit/speed: real code (bench/corpus.py); test_corpus: the repository's own hazard corpus",
    )
    parser.add_argument("--crlf", action="store_true", help="convert every file to CRLF line endings first")
    parser.add_argument("--bom", action="store_true", help="give every UTF-8 file a byte order mark first")
    parser.add_argument("--diffs", type=Path, help="write the unified diff of every changed file here")
    parser.add_argument("--keep", action="store_true", help="keep the temporary directory")
    args = parser.parse_args(argv)

    source = REPO / "test_corpus" if args.corpus == "test_corpus" else assemble(args.corpus)
    top = fresh_directory()
    original, tree = top / "original", top / "tree"
    rels = copy_corpus(source, original, args.crlf, args.bom)
    shutil.copytree(original, tree)
    label = args.corpus + ("+crlf" if args.crlf else "") + ("+bom" if args.bom else "")
    report = Report(label, len(rels), count_lines(corpus_files(original)))
    print(f"corpus {label}: {report.files} files, {report.lines} lines, in {tree}", file=sys.stderr)
    try:
        version = freeze_linter(top)
        print(f"serialint source (frozen copy) digest {version}; options added: {' '.join(NO_CACHE) or '(none)'}")
        return run_checks(report, rels, original, tree, args.diffs)
    finally:
        if args.keep:
            print(f"kept {top}", file=sys.stderr)
        else:
            shutil.rmtree(top)


def run_checks(report: Report, rels: List[str], original: Path, tree: Path, diffs: Optional[Path]) -> int:
    mode_before = {rel: stat.S_IMODE((tree / rel).stat().st_mode) for rel in rels}

    # 1. findings before
    lint_before = report.runs["lint before"] = serialint([str(tree), "--output-format", "json"], tree)
    before = load_json(lint_before, tree, report, "lint before")
    errors_before = set(error_lines(lint_before.stderr))
    if lint_before.status == 2 or any("Traceback" in e or "internal error" in e for e in errors_before):
        report.violation(f"lint before: exit {lint_before.status}: {lint_before.stderr.strip()[:2000]}")
    fixable_files = {f["path"] for f in before if applicability(f) in ("safe", "unsafe")}

    # 2. fix
    fix1 = report.runs["fix"] = serialint([str(tree), "--fix", "--unsafe-fixes"], tree)
    check_fix_run(fix1, errors_before, report, "fix")
    fixed_match = FIXED_LINE.search(fix1.stderr)

    # 3. every file
    hashes_fixed = digest(tree)
    if set(hashes_fixed) != set(rels):
        extra = sorted(set(hashes_fixed) - set(rels))
        missing = sorted(set(rels) - set(hashes_fixed))
        report.violation(f"the fix run left files {extra[:10]} and removed {missing[:10]}")
    changed: List[str] = []
    for rel in rels:
        path = tree / rel
        if not path.exists():
            continue
        old, new = (original / rel).read_bytes(), path.read_bytes()
        if old != new:
            changed.append(rel)
            if stat.S_IMODE(path.stat().st_mode) != mode_before[rel]:
                report.violation(f"{rel}: permission bits changed")
        check_file(rel, old, new, rel in fixable_files, report)
        if old != new:
            check_names(rel, old, new, report)
        problem = compiles(new, rel)
        if problem is not None and old == new:
            report.notes.append(f"{rel}: does not compile here, before or after ({problem})")
    if diffs is not None:
        write_diffs(diffs, original, tree, changed)

    # 4. idempotence
    fix2 = report.runs["fix again"] = serialint([str(tree), "--fix", "--unsafe-fixes"], tree)
    check_fix_run(fix2, errors_before, report, "fix again")
    hashes_again = digest(tree)
    for rel in sorted(set(hashes_fixed) | set(hashes_again)):
        if hashes_fixed.get(rel) != hashes_again.get(rel):
            report.violation(f"{rel}: the second --fix changed it again (not idempotent)")
    again = FIXED_LINE.search(fix2.stderr)
    if again is None or again.group(1) != "0":
        got = again.group(0) if again else fix2.stderr[-300:]
        report.violation(f"fix again: expected 'Fixed 0 findings', got {got!r}")

    # 5. findings after
    lint_after = report.runs["lint after"] = serialint([str(tree), "--output-format", "json"], tree)
    after = load_json(lint_after, tree, report, "lint after")
    new_errors = set(error_lines(lint_after.stderr)) - errors_before
    if lint_after.status == 2 and new_errors:
        report.violation(f"lint after: exit 2: {sorted(new_errors)[:20]}")
    counts_before, counts_after = per_file_code(before), per_file_code(after)
    for key, count in sorted(counts_after.items()):
        if count > counts_before.get(key, 0):
            path, code = key
            messages = [f"{f['line']}:{f['column']}: {f['message']}" for f in after if (f["path"], f["code"]) == key]
            report.violation(
                f"{path}: {code} findings went from {counts_before.get(key, 0)} to {count}: " + " | ".join(messages)
            )
    if fixed_match is not None and int(fixed_match.group(2)) != len(after):
        report.notes.append(f"the fix run said {fixed_match.group(2)} remaining; the lint after finds {len(after)}")
    if fixed_match is not None and int(fixed_match.group(1)) != len(before) - len(after):
        report.notes.append(
            f"the fix run applied {fixed_match.group(1)} fixes; {len(before) - len(after)} findings disappeared"
        )

    print_table(report, before, after, changed, fixed_match)
    for note in dict.fromkeys(report.notes):
        print(f"note: {note}")
    if report.violations:
        print(f"\n{len(report.violations)} violation(s):")
        for text in report.violations:
            print(f"  - {text}")
        return 1
    print("\nno violations")
    return 0


def check_fix_run(run: Run, errors_before: Set[str], report: Report, label: str) -> None:
    new_errors = [e for e in error_lines(run.stderr) if e not in errors_before]
    if run.status == 2 or new_errors or "Traceback" in run.stderr:
        report.violation(f"{label}: exit {run.status}; stderr: {' | '.join(new_errors) or run.stderr.strip()[-2000:]}")
    if FIXED_LINE.search(run.stderr) is None:
        report.violation(f"{label}: no 'Fixed N findings (M remaining).' line on stderr: {run.stderr.strip()[-500:]!r}")


def write_diffs(directory: Path, original: Path, tree: Path, changed: Sequence[str]) -> None:
    directory.mkdir(parents=True, exist_ok=True)
    for rel in changed:
        old = (original / rel).read_text(encoding="utf-8", errors="replace").splitlines(keepends=True)
        new = (tree / rel).read_text(encoding="utf-8", errors="replace").splitlines(keepends=True)
        text = "".join(difflib.unified_diff(old, new, fromfile=f"a/{rel}", tofile=f"b/{rel}"))
        (directory / (rel.replace("/", "__") + ".diff")).write_text(text, encoding="utf-8")


def print_table(
    report: Report, before: Sequence[dict], after: Sequence[dict], changed: Sequence[str], fixed: Optional[re.Match]
) -> None:
    codes = sorted({f["code"] for f in before} | {f["code"] for f in after})
    changed_set = set(changed)
    header = (
        "rule", "before", "safe fix", "unsafe fix", "no fix", "disappeared", "after", "after w/ fix", "files changed"
    )
    rows = []
    for code in codes:
        mine = [f for f in before if f["code"] == code]
        left = [f for f in after if f["code"] == code]
        kinds = Counter(applicability(f) for f in mine)
        files = {f["path"] for f in mine if applicability(f) in ("safe", "unsafe")} & changed_set
        rows.append(
            (
                code,
                len(mine),
                kinds["safe"],
                kinds["unsafe"],
                len(mine) - kinds["safe"] - kinds["unsafe"],
                len(mine) - len(left),
                len(left),
                sum(1 for f in left if applicability(f) in ("safe", "unsafe")),
                len(files),
            )
        )
    total = ["total"] + [sum(row[i] for row in rows) for i in range(1, len(header) - 1)] + [len(changed_set)]
    print(f"\ncorpus: {report.corpus} ({report.files} files, {report.lines} lines)")
    print("| " + " | ".join(header) + " |")
    print("|" + "|".join("---" if i == 0 else "---:" for i in range(len(header))) + "|")
    for row in [*rows, tuple(total)]:
        print("| " + " | ".join(str(cell) for cell in row) + " |")
    print()
    if fixed is not None:
        print(f"fix run: {fixed.group(0)}")
    for name, run in report.runs.items():
        print(f"{name}: exit {run.status}, {run.seconds:.1f} s")


if __name__ == "__main__":
    sys.exit(main())
