"""The result cache: a warm run prints exactly what a cold one does, and re-lints only what changed."""

from __future__ import annotations

import dataclasses
import json
import os
import shutil
from pathlib import Path
from typing import Dict, List, Tuple

import pytest

from clitools import BAD, run, write
from serialint import cache as cache_module
from serialint import engine
from serialint.cache import (
    ResultCache,
    decode_result,
    decode_summary,
    encode_result,
    encode_summary,
    summary_digest,
)
from serialint.config import ConfigResolver
from serialint.discovery import discover
from serialint.engine import Linter, SourceFile, lint_sources, prepare
from support import CORPUS

BASE = """\
from torch import nn


class Base(nn.Module):
    def forward(self, x):
        return x
"""

NET = """\
import torch
from pkg.base import Base


class Net(Base):
    def __init__(self):
        super().__init__()
        self.register_buffer("mean", None)

    def calibrate(self, x):
        self.mean = x.mean(0)
"""

HELPERS = """\
def scale(x, factor=2):
    return x * factor
"""

UNSAFE_LOAD = "import torch\n\n\ndef restore(path):\n    return torch.load(path, weights_only=False)\n"

PROJECT = {
    "pkg/__init__.py": "",
    "pkg/base.py": BASE,
    "pkg/net.py": NET,
    "pkg/other.py": BAD,
    "pkg/helpers.py": HELPERS,
}
EVERYTHING = sorted(PROJECT)


@pytest.fixture
def linted(monkeypatch) -> List[str]:
    """The paths `Linter.lint_file` analyses, in this process (the runs below use --jobs 1)."""
    paths: List[str] = []
    original = engine.Linter.lint_file

    def counting(self, source, index, pickled=frozenset()):  # type: ignore[no-untyped-def]
        paths.append(source.path)
        return original(self, source, index, pickled)

    monkeypatch.setattr(engine.Linter, "lint_file", counting)
    return paths


@pytest.fixture(autouse=True)
def _no_cache_from_environment(monkeypatch) -> None:
    monkeypatch.delenv(cache_module.ENV_DIRECTORY, raising=False)


def check(root: Path, *args: str) -> Tuple[int, str, str]:
    result = run(["check", "--jobs", "1", *args], root, pin=False)
    return result.status, result.out, result.err


def relint(linted: List[str], root: Path, *args: str) -> Tuple[Tuple[int, str, str], List[str]]:
    """Run `check` and return its outcome and the files it analysed (not served from the cache)."""
    linted.clear()
    outcome = check(root, *args)
    return outcome, sorted(linted)


def entries(root: Path) -> List[Path]:
    return sorted((root / ".serialint_cache" / "v1").glob("*.json"))


def test_a_warm_run_prints_the_same_and_analyses_nothing(tmp_path: Path, linted: List[str]) -> None:
    write(tmp_path, PROJECT)
    for fmt in ("concise", "full", "json", "sarif", "github"):
        cold, analysed = relint(linted, tmp_path, "--output-format", fmt, "--no-cache", "pkg")
        assert analysed == EVERYTHING
        first, _ = relint(linted, tmp_path, "--output-format", fmt, "pkg")
        warm, analysed = relint(linted, tmp_path, "--output-format", fmt, "pkg")
        assert cold == first == warm
        assert analysed == []
    assert cold[0] == 1 and cold[1].count("::error file=pkg/") == 2


def test_a_warm_run_does_not_parse_either(tmp_path: Path, monkeypatch) -> None:
    write(tmp_path, PROJECT)
    check(tmp_path, "pkg")
    parsed: List[str] = []
    original = engine.parse_for_index

    def counting(source):  # type: ignore[no-untyped-def]
        parsed.append(source.path)
        original(source)

    monkeypatch.setattr(engine, "parse_for_index", counting)
    assert check(tmp_path, "pkg")[0] == 1
    assert parsed == []
    (tmp_path / "pkg" / "helpers.py").write_text(HELPERS + "\n# changed\n")
    assert check(tmp_path, "pkg")[0] == 1
    assert parsed == ["pkg/helpers.py"]


def test_fixes_round_trip_through_the_cache(tmp_path: Path, linted: List[str]) -> None:
    write(tmp_path, {"load.py": UNSAFE_LOAD, "buffer.py": BAD})
    cold, _ = relint(linted, tmp_path, "--output-format", "json", "--no-cache", ".")
    check(tmp_path, "--output-format", "json", ".")
    warm, analysed = relint(linted, tmp_path, "--output-format", "json", ".")
    assert analysed == [] and warm == cold
    fixes = [finding["fix"] for finding in json.loads(warm[1])]
    assert all(fix is not None and fix["edits"] for fix in fixes) and len(fixes) == 2


def test_a_comment_or_a_function_body_re_lints_that_file_only(tmp_path: Path, linted: List[str]) -> None:
    write(tmp_path, PROJECT)
    cold, _ = relint(linted, tmp_path, "pkg")
    (tmp_path / "pkg" / "base.py").write_text("# the base of every block\n\n" + BASE)
    outcome, analysed = relint(linted, tmp_path, "pkg")
    assert outcome == cold and analysed == ["pkg/base.py"]
    (tmp_path / "pkg" / "base.py").write_text(BASE.replace("return x", "return x * 1  # identity"))
    outcome, analysed = relint(linted, tmp_path, "pkg")
    assert outcome == cold and analysed == ["pkg/base.py"]
    (tmp_path / "pkg" / "net.py").write_text(NET.replace("x.mean(0)", "x.float().mean(0)"))
    outcome, analysed = relint(linted, tmp_path, "pkg")
    assert outcome == cold and analysed == ["pkg/net.py"]


def test_a_changed_base_class_re_lints_the_files_that_depend_on_it(tmp_path: Path, linted: List[str]) -> None:
    write(tmp_path, PROJECT)
    cold, _ = relint(linted, tmp_path, "pkg")
    assert [line.split(":")[0] for line in cold[1].splitlines()] == ["pkg/net.py", "pkg/other.py"]
    # Base no longer derives from nn.Module: Net is not a Module class any more
    (tmp_path / "pkg" / "base.py").write_text(BASE.replace("class Base(nn.Module):", "class Base(object):"))
    outcome, analysed = relint(linted, tmp_path, "pkg")
    assert analysed == ["pkg/base.py", "pkg/net.py"]  # other.py's classes derive from nn.Module directly
    assert outcome[1].splitlines() == [cold[1].splitlines()[1]]
    # and back: net.py is analysed again and finds its hazard again
    (tmp_path / "pkg" / "base.py").write_text(BASE)
    outcome, analysed = relint(linted, tmp_path, "pkg")
    assert outcome == cold and analysed == ["pkg/base.py", "pkg/net.py"]


def test_a_new_file_claiming_an_imported_name_re_lints_the_importer(tmp_path: Path, linted: List[str]) -> None:
    write(tmp_path, {"pkg/__init__.py": "", "pkg/net.py": NET, "pkg/other.py": BAD})
    cold, _ = relint(linted, tmp_path, "pkg")
    assert [line.split(":")[0] for line in cold[1].splitlines()] == ["pkg/other.py"]  # pkg.base is unknown
    write(tmp_path, {"pkg/base.py": BASE})
    outcome, analysed = relint(linted, tmp_path, "pkg")
    assert analysed == ["pkg/base.py", "pkg/net.py"]
    assert [line.split(":")[0] for line in outcome[1].splitlines()] == ["pkg/net.py", "pkg/other.py"]


def test_settings_rules_and_version_changes_re_lint_everything(tmp_path: Path, linted: List[str], monkeypatch) -> None:
    write(tmp_path, PROJECT)
    cold, _ = relint(linted, tmp_path, "pkg")
    everything = EVERYTHING
    write(tmp_path, {"serialint.toml": 'target-torch = ">=2.6"\n'})
    outcome, analysed = relint(linted, tmp_path, "pkg")
    assert outcome == cold and analysed == everything
    assert relint(linted, tmp_path, "pkg")[1] == []
    outcome, analysed = relint(linted, tmp_path, "--select", "SER1", "pkg")
    assert outcome == cold and analysed == everything
    outcome, analysed = relint(linted, tmp_path, "--ignore", "SER101", "pkg")
    assert outcome == (0, "", "All checks passed.\n") and analysed == everything
    write(tmp_path, {"serialint.toml": 'target-torch = ">=2.6"\nper-file-ignores = { "other.py" = ["SER101"] }\n'})
    outcome, analysed = relint(linted, tmp_path, "pkg")
    assert analysed == everything and outcome[1] == cold[1].splitlines(keepends=True)[0]
    os.remove(tmp_path / "serialint.toml")
    assert relint(linted, tmp_path, "pkg") == (cold, everything)
    monkeypatch.setattr(cache_module, "__version__", "99.0")
    monkeypatch.setattr(cache_module, "_FINGERPRINT", None)
    assert relint(linted, tmp_path, "pkg") == (cold, everything)
    assert relint(linted, tmp_path, "pkg") == (cold, [])


@pytest.mark.parametrize(
    "damage",
    [
        pytest.param(lambda text: b"\x00\xff garbage \x80", id="garbage"),
        pytest.param(lambda text: text.encode()[: len(text) // 2], id="truncated"),
        pytest.param(lambda text: b"", id="empty"),
        pytest.param(lambda text: b"[]", id="not-an-object"),
        pytest.param(lambda text: b"[" * 100000, id="deeply-nested"),
        pytest.param(lambda text: _edit(text, lambda d: d.update(schema=0)), id="other-schema"),
        pytest.param(lambda text: _edit(text, lambda d: d.update(code="0" * 32)), id="other-version"),
        pytest.param(lambda text: _edit(text, lambda d: d["summary"].pop("classes")), id="summary-field-missing"),
        pytest.param(lambda text: _edit(text, lambda d: d["summary"].update(classes={})), id="summary-wrong-type"),
        pytest.param(lambda text: _edit(text, lambda d: d.update(pickled_refs=[1])), id="refs-wrong-type"),
        pytest.param(lambda text: _edit(text, _findings(lambda f: f.update(line="8"))), id="finding-line-string"),
        pytest.param(lambda text: _edit(text, _findings(lambda f: f.update(severity="fatal"))), id="bad-severity"),
        pytest.param(lambda text: _edit(text, _findings(lambda f: f.pop("message"))), id="finding-field-missing"),
        pytest.param(lambda text: _edit(text, _findings(lambda f: f.update(extra=1))), id="finding-field-extra"),
        pytest.param(lambda text: _edit(text, _result(lambda r: r.update(log={}))), id="log-not-a-list"),
        pytest.param(lambda text: _edit(text, _result(lambda r: r["log"].append(["forget", [], 1]))), id="unknown-query"),
        pytest.param(
            lambda text: _edit(text, _result(lambda r: r["log"].append(["bases_of", [1, 2, 3, 4], []]))),
            id="query-arguments-wrong",
        ),
        pytest.param(
            lambda text: _edit(text, _result(lambda r: r["log"].insert(0, ["bases_of", ["Net", "Net"], []]))),
            id="query-argument-of-another-kind",
        ),
        pytest.param(
            lambda text: _edit(text, _result(lambda r: r["log"].insert(0, ["is_module_class", ["x"], False]))),
            id="query-argument-missing",
        ),
        pytest.param(lambda text: _edit(text, _result(lambda r: r.update(errors=None))), id="errors-not-a-list"),
    ],
)
def test_a_damaged_entry_is_discarded_and_rewritten(tmp_path: Path, linted: List[str], damage) -> None:
    write(tmp_path, PROJECT)
    cold, _ = relint(linted, tmp_path, "pkg")
    for entry in entries(tmp_path):
        entry.write_bytes(damage(entry.read_text()))
    outcome, analysed = relint(linted, tmp_path, "pkg")
    assert outcome == cold
    assert analysed == EVERYTHING
    assert relint(linted, tmp_path, "pkg") == (cold, [])  # rewritten whole


def _edit(text: str, change) -> bytes:  # type: ignore[no-untyped-def]
    data = json.loads(text)
    change(data)
    return json.dumps(data).encode()


def _result(change):  # type: ignore[no-untyped-def]
    def apply(data: Dict) -> None:
        if data["result"] is not None:
            change(data["result"])
        else:
            data["summary"] = None  # an entry without a result: damage its summary instead

    return apply


def _findings(change):  # type: ignore[no-untyped-def]
    def apply(data: Dict) -> None:
        if data["result"] is not None and data["result"]["findings"]:
            change(data["result"]["findings"][0])
        else:
            data["summary"] = None

    return apply


def test_an_entry_that_cannot_be_written_is_skipped_silently(tmp_path: Path, linted: List[str]) -> None:
    write(tmp_path, PROJECT)
    cold, _ = relint(linted, tmp_path, "pkg")
    for entry in entries(tmp_path):
        entry.unlink()
        entry.mkdir()  # neither readable nor replaceable as a file
    assert relint(linted, tmp_path, "pkg") == (cold, EVERYTHING)
    assert relint(linted, tmp_path, "pkg") == (cold, EVERYTHING)


def test_an_unusable_cache_directory_means_no_cache_and_no_message(tmp_path: Path, linted: List[str]) -> None:
    write(tmp_path, PROJECT)
    (tmp_path / "not-a-directory").write_text("")
    cold, _ = relint(linted, tmp_path, "--no-cache", "pkg")
    for _ in range(2):
        outcome, analysed = relint(linted, tmp_path, "--cache-dir", "not-a-directory/cache", "pkg")
        assert outcome == cold and analysed == EVERYTHING
    (tmp_path / "blocked").mkdir()
    (tmp_path / "blocked" / "v1").write_text("a file where the entries go")
    outcome, analysed = relint(linted, tmp_path, "--cache-dir", "blocked", "pkg")
    assert outcome == cold and analysed == EVERYTHING
    assert sorted(p.name for p in tmp_path.iterdir()) == ["blocked", "not-a-directory", "pkg"]


def test_no_cache_writes_nothing_and_reads_nothing(tmp_path: Path, linted: List[str]) -> None:
    write(tmp_path, PROJECT)
    check(tmp_path, "pkg")
    assert (tmp_path / ".serialint_cache").is_dir()
    shutil.rmtree(tmp_path / ".serialint_cache")
    assert relint(linted, tmp_path, "--no-cache", "pkg")[1] == EVERYTHING
    assert relint(linted, tmp_path, "--no-cache", "pkg")[1] == EVERYTHING
    assert sorted(p.name for p in tmp_path.iterdir()) == ["pkg"]


def test_the_cache_directory_is_ignored_by_git_and_by_discovery(tmp_path: Path) -> None:
    write(tmp_path, PROJECT)
    first = check(tmp_path, ".")
    ignore = tmp_path / ".serialint_cache" / ".gitignore"
    assert ignore.read_text() == "# created by serialint\n*\n"
    assert len(entries(tmp_path)) == 5
    assert check(tmp_path, ".") == first  # the entries are not linted as files of the project


def test_where_the_cache_goes(tmp_path: Path, monkeypatch) -> None:
    project = tmp_path / "project"
    write(project, {**PROJECT, "pyproject.toml": "[project]\nname = 'demo'\n"})
    check(project / "pkg", ".")  # from below the root: the cache is at the root
    assert sorted(p.name for p in project.iterdir()) == [".serialint_cache", "pkg", "pyproject.toml"]
    write(project, {"pyproject.toml": "[tool.serialint]\ncache-dir = 'build/lint-cache'\n"})
    check(project / "pkg", ".")
    assert (project / "build" / "lint-cache" / ".gitignore").is_file()
    monkeypatch.setenv(cache_module.ENV_DIRECTORY, str(tmp_path / "from-env"))
    check(project / "pkg", ".")
    assert len(list((tmp_path / "from-env" / "v1").glob("*.json"))) == 5
    check(project / "pkg", "--cache-dir", "../option", ".")
    assert len(list((project / "option" / "v1").glob("*.json"))) == 5


def test_cache_dir_must_be_a_string(tmp_path: Path) -> None:
    write(tmp_path, {"m.py": BAD, "serialint.toml": "cache-dir = 3\n"})
    status, out, err = check(tmp_path, ".")
    assert status == 2 and out == ""
    assert err.splitlines()[0] == "serialint: error: serialint.toml: 'cache-dir' must be a directory path string, got an integer"


def test_standard_input_is_never_cached(tmp_path: Path) -> None:
    result = run(["check", "--jobs", "1", "--stdin-filename", "m.py", "-"], tmp_path, stdin=BAD)
    assert result.status == 1 and result.out.startswith("m.py:8:9: SER101 ")
    assert list(tmp_path.iterdir()) == []


def test_fix_runs_use_the_cached_first_lint_and_fix_the_same(tmp_path: Path, linted: List[str]) -> None:
    files = {"load.py": UNSAFE_LOAD, "clean.py": HELPERS, "buffer.py": BAD}
    expected_root = tmp_path / "expected"
    write(expected_root, files)
    expected = check(expected_root, "--no-cache", "--fix", "--unsafe-fixes", "--select", "SER302", ".")
    root = tmp_path / "cached"
    write(root, files)
    check(root, "--select", "SER302", ".")
    outcome, analysed = relint(linted, root, "--fix", "--unsafe-fixes", "--select", "SER302", ".")
    assert outcome == expected
    assert analysed == ["load.py"]  # after its fix; the first lint of every file came from the cache
    for name in files:
        assert (root / name).read_text() == (expected_root / name).read_text()
    assert "weights_only=True" in (root / "load.py").read_text()
    # the fixed file is new text: linted, then cached
    assert relint(linted, root, "--select", "SER302", ".")[1] == ["load.py"]
    assert relint(linted, root, "--select", "SER302", ".")[1] == []


def test_two_jobs_and_the_cache_give_the_same_output(tmp_path: Path) -> None:
    write(tmp_path, {**PROJECT, **{f"pkg/copy{i}.py": BAD for i in range(8)}})
    cold = run(["check", "--no-cache", "--jobs", "1", "pkg"], tmp_path, pin=False)
    first = run(["check", "--jobs", "2", "pkg"], tmp_path, pin=False)
    warm = run(["check", "--jobs", "2", "pkg"], tmp_path, pin=False)
    assert (cold.status, cold.out, cold.err) == (first.status, first.out, first.err) == (warm.status, warm.out, warm.err)
    assert len(entries(tmp_path)) == 13


# -- the encoding itself ------------------------------------------------------------------------------


def _corpus_sources() -> List[SourceFile]:
    linter = Linter()
    resolver = ConfigResolver(linter.codes)
    files, _ = discover([CORPUS], resolver)
    sources = [SourceFile(f) for f in files]
    prepare(sources, resolver)
    return sources


def test_every_corpus_summary_round_trips_exactly() -> None:
    sources = _corpus_sources()
    assert len(sources) > 100
    for source in sources:
        assert source.summary is not None
        plain = json.loads(json.dumps(encode_summary(source.summary)))
        assert decode_summary(plain) == source.summary
        assert summary_digest(decode_summary(plain)) == summary_digest(source.summary)


def test_findings_errors_and_fixes_round_trip_exactly() -> None:
    from serialint.findings import Applicability, Edit, FileResult, Finding, Fix, LintError, Severity

    result = FileResult("a/m.py")
    result.findings = [
        Finding("a/m.py", 3, 0, 4, 7, "SER101", "register-buffer-none", "m\u00e9ssage \udcff", Severity.WARNING),
        Finding(
            "a/m.py",
            5,
            4,
            5,
            9,
            "SER302",
            "unsafe-load",
            "message",
            fix=Fix(Applicability.UNSAFE, "add weights_only", (Edit(5, 4, 5, 9, "x\r\n\t"), Edit(1, 0, 1, 0, ""))),
        ),
    ]
    result.errors = [LintError("a/m.py", "syntax error: x", 2, 0), LintError("a/m.py", "internal error")]
    plain = json.loads(json.dumps(encode_result(result)))
    decoded = decode_result(plain, "a/m.py")
    assert decoded == result
    assert decode_result(plain, "b/m.py").findings[0] == dataclasses.replace(result.findings[0], path="b/m.py")


def test_an_unknown_use_of_the_index_is_answered_but_never_cached(tmp_path: Path) -> None:
    sources = [SourceFile(os.path.join(CORPUS, "project", "models", "base.py"))]
    resolver = ConfigResolver(Linter().codes)
    project = prepare(sources, resolver)
    cache = ResultCache.open(str(tmp_path / "c"))
    assert cache is not None
    recorder = cache_module.Recorder(project.index, project.pickled, cache.summaries_for(project.index))
    assert recorder.index.is_module_class("torch.nn.Linear") is True
    assert recorder.entries() == [["is_module_class", ["torch.nn.Linear", None], True]]
    assert recorder.index.summaries == project.index.summaries
    assert recorder.entries() is None
    recorder = cache_module.Recorder(project.index, frozenset({"a.B"}), cache.summaries_for(project.index))
    assert "a.B" in recorder.pickled and "a.C" not in recorder.pickled
    assert recorder.entries() == [["pickled", ["a.B"], True], ["pickled", ["a.C"], False]]
    assert sorted(recorder.pickled) == ["a.B"]
    assert recorder.entries() is None


def test_lint_sources_with_a_cache_matches_lint_sources_without(tmp_path: Path) -> None:
    linter = Linter()
    resolver = ConfigResolver(linter.codes)
    files, _ = discover([CORPUS], resolver)

    def lint(cache):  # type: ignore[no-untyped-def]
        result = lint_sources([SourceFile(f) for f in files], resolver, linter, cache=cache)
        return result.findings, result.errors, [r.path for r in result.results]

    expected = lint(None)
    cache = ResultCache.open(str(tmp_path / "c"))
    assert cache is not None
    assert lint(cache) == expected
    assert len(cache.misses) == len(files) and cache.hits == []
    cache = ResultCache.open(str(tmp_path / "c"))
    assert cache is not None
    assert lint(cache) == expected
    assert cache.misses == [] and len(cache.hits) == len(files) and cache.summaries_reused == len(files)
