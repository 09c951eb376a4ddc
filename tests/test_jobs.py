"""`serialint check --jobs N`: the same output, byte for byte, whatever the number of processes."""

from __future__ import annotations

import os
import shutil
from pathlib import Path
from typing import Dict, List, Tuple

import pytest

from clitools import BAD, CLEAN, run, write
from serialint import parallel
from serialint.config import ConfigResolver
from serialint.discovery import discover
from serialint.engine import Linter, SourceFile, lint_sources
from support import CORPUS

pytestmark = pytest.mark.skipif(
    parallel.start_method() != "fork", reason="the in-process monkeypatching below reaches workers only by fork"
)


def _check(args: List[str], cwd: Path) -> Tuple[int, str, str]:
    result = run(["check", "--no-cache", *args], cwd, pin=False)
    return result.status, result.out, result.err


@pytest.fixture(scope="module")
def corpus_copy(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The corpus under a neutral working directory, so that paths print the same in every run."""
    root = tmp_path_factory.mktemp("jobs")
    shutil.copytree(CORPUS, root / "test_corpus", ignore=shutil.ignore_patterns("*.expected"))
    return root


@pytest.mark.parametrize("fmt", ["concise", "full", "json", "sarif", "github"])
def test_every_output_format_is_identical_with_two_jobs(corpus_copy: Path, fmt: str) -> None:
    one = _check(["--jobs", "1", "--output-format", fmt, "test_corpus"], corpus_copy)
    two = _check(["--jobs", "2", "--output-format", fmt, "test_corpus"], corpus_copy)
    assert one[0] == 1 and one[1].strip()
    assert two == one


def _tree(root: Path) -> Dict[str, bytes]:
    return {
        str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()
    }


def test_fix_mode_fixes_each_file_once_with_identical_results(tmp_path: Path) -> None:
    outcomes = []
    for jobs in ("1", "2"):
        root = tmp_path / f"jobs{jobs}"
        shutil.copytree(CORPUS, root / "test_corpus", ignore=shutil.ignore_patterns("*.expected"))
        before = _tree(root)
        status, out, err = _check(["--jobs", jobs, "--fix", "--unsafe-fixes", "test_corpus"], root)
        after = _tree(root)
        outcomes.append((status, out, err, after))
        assert after != before  # something was fixed
        assert err.splitlines()[-1].startswith("Fixed ")
    assert outcomes[0] == outcomes[1]


def test_diff_is_identical_with_two_jobs(corpus_copy: Path) -> None:
    before = _tree(corpus_copy)
    one = _check(["--jobs", "1", "--diff", "--unsafe-fixes", "test_corpus"], corpus_copy)
    assert one[0] == 1 and one[1].startswith("--- a/test_corpus/")
    assert _check(["--jobs", "2", "--diff", "--unsafe-fixes", "test_corpus"], corpus_copy) == one
    assert _tree(corpus_copy) == before


BROKEN = {
    "syntax.py": "def broken(:\n    pass\n",
    "nul.py": "x = 1\0\n",
    "latin.py": "# no coding cookie\ns = '\xe9'\n",
    "deep.py": "x = " + "(" * 300 + ")" * 300 + "\n",
}


def _project_with_errors(root: Path) -> Path:
    files = {f"pkg/good{i}.py": BAD if i % 2 else CLEAN for i in range(10)}
    files["pkg/__init__.py"] = ""
    write(root, files)
    for name, text in BROKEN.items():
        (root / "pkg" / name).write_bytes(text.encode("latin-1"))
    return root


def test_errors_are_identical_with_two_jobs(tmp_path: Path) -> None:
    root = _project_with_errors(tmp_path)
    one = _check(["--jobs", "1", "--select", "SER101", "pkg"], root)
    assert one[0] == 2
    error_lines = [line for line in one[2].splitlines() if line.startswith("serialint: error: ")]
    assert [line.split(":")[2].strip() for line in error_lines] == [
        "pkg/deep.py",
        "pkg/latin.py",
        "pkg/nul.py",
        "pkg/syntax.py",
    ]
    assert len(one[1].splitlines()) == 5
    assert _check(["--jobs", "2", "--select", "SER101", "pkg"], root) == one
    assert _check(["--jobs", "2", "--select", "SER101", "--output-format", "sarif", "pkg"], root) == _check(
        ["--jobs", "1", "--select", "SER101", "--output-format", "sarif", "pkg"], root
    )


def test_an_exception_in_a_worker_is_reported_as_without_workers(tmp_path: Path, monkeypatch) -> None:
    root = _project_with_errors(tmp_path)
    original = Linter.lint_file

    def failing(self, source, index, pickled=frozenset()):  # type: ignore[no-untyped-def]
        if source.path.endswith(("good3.py", "good6.py")):
            raise ValueError(f"cannot handle {os.path.basename(source.path)}")
        return original(self, source, index, pickled)

    monkeypatch.setattr(Linter, "lint_file", failing)
    one = _check(["--jobs", "1", "--select", "SER101", "pkg"], root)
    assert one == (2, "", "serialint: error: internal error: ValueError: cannot handle good3.py\n")
    assert _check(["--jobs", "2", "--select", "SER101", "pkg"], root) == one


def test_a_worker_that_dies_ends_the_run_with_an_error(tmp_path: Path, monkeypatch) -> None:
    root = _project_with_errors(tmp_path)
    original = Linter.lint_file
    parent = os.getpid()

    def dying(self, source, index, pickled=frozenset()):  # type: ignore[no-untyped-def]
        if source.path.endswith("good5.py") and os.getpid() != parent:
            os._exit(3)  # as if killed: no exception, no result
        return original(self, source, index, pickled)

    monkeypatch.setattr(Linter, "lint_file", dying)
    status, out, err = _check(["--jobs", "2", "--select", "SER101", "pkg"], root)
    assert (status, out) == (2, "")
    assert err == (
        "serialint: error: internal error: WorkerError: a worker process ended unexpectedly; "
        "rerun with --jobs 1 to see why\n"
    )


def test_tiny_runs_start_no_worker(tmp_path: Path, monkeypatch) -> None:
    write(tmp_path, {f"m{i}.py": BAD for i in range(parallel.MIN_TASKS - 1)})

    def refuse(*args, **kwargs):  # type: ignore[no-untyped-def]
        raise AssertionError("a worker pool was started")

    monkeypatch.setattr(parallel, "ProcessPoolExecutor", refuse)
    status, out, _ = _check(["--jobs", "4", "--select", "SER101", "."], tmp_path)
    assert status == 1 and len(out.splitlines()) == parallel.MIN_TASKS - 1
    with pytest.raises(AssertionError, match="a worker pool was started"):
        parallel.run_tasks(_square, None, range(parallel.MIN_TASKS), jobs=2)


def _square(state: object, task: int) -> int:
    return task * task


def test_run_tasks_keeps_the_input_order_whatever_the_weights() -> None:
    tasks = list(range(20))
    weights = [(7 * t) % 11 for t in tasks]
    assert list(parallel.run_tasks(_square, None, tasks, jobs=2, weights=weights).items()) == [
        (t, t * t) for t in tasks
    ]


def test_spawned_workers_give_the_same_results(monkeypatch) -> None:
    linter = Linter()
    resolver = ConfigResolver(linter.codes)
    files, _ = discover([os.path.join(CORPUS, "project"), os.path.join(CORPUS, "pickled")], resolver)
    assert len(files) >= parallel.MIN_TASKS

    def lint(jobs: int):  # type: ignore[no-untyped-def]
        result = lint_sources([SourceFile(f) for f in files], resolver, linter, jobs=jobs)
        return result.findings, result.errors

    expected = lint(1)
    assert expected[0]
    monkeypatch.setattr(parallel, "START_METHOD", "spawn")
    assert lint(2) == expected


def test_jobs_defaults_to_the_usable_cpus(monkeypatch) -> None:
    if hasattr(os, "sched_getaffinity"):
        assert parallel.default_jobs() == len(os.sched_getaffinity(0))
    monkeypatch.delattr(os, "sched_getaffinity", raising=False)
    monkeypatch.setattr(os, "cpu_count", lambda: 6)
    assert parallel.default_jobs() == 6
    monkeypatch.setattr(os, "cpu_count", lambda: None)
    assert parallel.default_jobs() == 1


def test_jobs_must_be_positive(tmp_path: Path) -> None:
    result = run(["check", "--jobs", "0", "."], tmp_path)
    assert result.status == 2
    assert "Invalid value for '-j' / '--jobs': 0 is not in the range x>=1." in result.err
