"""Helpers the tests share: load corpus code for runtime oracles, lint texts and corpus files."""

from __future__ import annotations

import functools
import importlib
import importlib.util
import os
import sys
import uuid
from types import ModuleType
from typing import Dict, List, Optional, Tuple

from serialint.config import Settings
from serialint.engine import lint_source
from serialint.findings import Finding

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
CORPUS = os.path.join(ROOT, "test_corpus")


def load_module_from_path(path: str, name: Optional[str] = None) -> ModuleType:
    """Import a corpus file as a fresh module (the tests run it; the linter never does).

    The module is registered in sys.modules under a unique top-level name so that pickle can
    find module-level functions and classes defined in it.
    """
    name = name or f"corpus_{uuid.uuid4().hex}"
    spec = importlib.util.spec_from_file_location(name, path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


def load_corpus(relpath: str) -> ModuleType:
    return load_module_from_path(os.path.join(CORPUS, relpath))


def load_source(text: str, tmp_path) -> ModuleType:  # type: ignore[no-untyped-def]
    """Write `text` to a file under tmp_path and import it (for fixed code and rule examples)."""
    path = tmp_path / f"m_{uuid.uuid4().hex}.py"
    path.write_text(text)
    return load_module_from_path(str(path))


def lint_text(text: str, files: Optional[Dict[str, str]] = None, settings: Optional[Settings] = None) -> List[Finding]:
    result = lint_source(text, path="example.py", settings=settings, extra_files=files)
    assert not result.errors, result.errors
    return result.findings


@functools.lru_cache(maxsize=1)
def corpus_findings() -> Tuple[Finding, ...]:
    """Every finding of one run over the whole corpus (memoised: oracles ask for it often)."""
    from serialint.config import ConfigResolver
    from serialint.discovery import discover
    from serialint.engine import Linter, SourceFile, lint_sources

    linter = Linter()
    resolver = ConfigResolver(linter.codes)
    files, errors = discover([CORPUS], resolver)
    assert not errors
    run = lint_sources([SourceFile(f) for f in files], resolver, linter)
    assert not run.errors, [e.render() for e in run.errors]
    return tuple(run.findings)


def lint_corpus_file(relpath: str) -> List[Finding]:
    """Findings for one corpus file, linted together with the rest of the corpus."""
    target = os.path.normpath(os.path.join(CORPUS, relpath))
    return [f for f in corpus_findings() if os.path.normpath(f.path) == target]


def load_corpus_in_package(relpath: str) -> ModuleType:
    """Import a corpus module as part of a fresh copy of its package, so relative imports work."""
    package_rel, _, filename = relpath.rpartition("/")
    package_dir = os.path.join(CORPUS, package_rel)
    package = f"corpus_{uuid.uuid4().hex}"
    spec = importlib.util.spec_from_file_location(
        package, os.path.join(package_dir, "__init__.py"), submodule_search_locations=[package_dir]
    )
    assert spec is not None and spec.loader is not None
    sys.modules[package] = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(sys.modules[package])
    return importlib.import_module(f"{package}.{filename[:-3]}")


def positions(findings: List[Finding], code: Optional[str] = None) -> List[Tuple[int, int, str]]:
    """(line, 1-based column, code) of each finding, optionally of one code."""
    return [(f.line, f.column + 1, f.code) for f in findings if code is None or f.code == code]


def fix_text(text: str, files: Optional[Dict[str, str]] = None, unsafe: bool = False, settings: Optional[Settings] = None):  # type: ignore[no-untyped-def]
    """Apply fixes to `text` (as example.py, beside `files`) until stable; returns the FixOutcome."""
    from serialint.engine import Linter, fix_source, in_memory_project, prepare

    linter = Linter()
    source, extras, resolver = in_memory_project(text, "example.py", files, settings, linter.codes)
    project = prepare([source], resolver, extras)
    assert source.error is None, source.error
    return fix_source(linter, source, project, unsafe)
