"""The flake8 plugin: the real flake8 in a subprocess gives what `serialint check` gives."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path
from typing import Dict, List, Set, Tuple

import pytest

from serialint import flake8_plugin
from serialint.config import ConfigResolver
from serialint.discovery import discover, git_root
from serialint.engine import Linter, SourceFile, lint_sources
from support import CORPUS, ROOT

pytest.importorskip("flake8", reason="flake8 is not installed in this interpreter (pip install -e '.[test]')")

FORMAT = "%(path)s:%(row)d:%(col)d: %(code)s %(text)s"
_LINE = re.compile(r"^(?P<path>.+?):(?P<line>\d+):(?P<column>\d+): (?P<code>[A-Z]+\d+) (?P<message>.*)$")
Row = Tuple[str, int, int, str, str]

SER201_HEAD = (
    "SER201 lambda stored on self.act: torch.save(model) and pickle fail "
    "(Can't pickle local object 'Head.__init__.<locals>.<lambda>')"
)
SER302_LOAD = (
    "SER302 torch.load(..., weights_only=False) unpickles arbitrary code from the checkpoint: whoever can write "
    "the file runs code here; load it with weights_only=True "
    "(allow extra trusted classes with torch.serialization.add_safe_globals)"
)


def _rows(output: str) -> List[Row]:
    rows = []
    for line in output.splitlines():
        match = _LINE.match(line)
        assert match, f"unexpected output line: {line!r}"
        path = os.path.normpath(match["path"])
        rows.append((path, int(match["line"]), int(match["column"]), match["code"], match["message"]))
    return rows


def _flake8(cwd: Path, *args: str, stdin: str = "") -> subprocess.CompletedProcess:
    # --isolated: no user or project flake8 configuration changes what is checked
    return subprocess.run(
        [sys.executable, "-m", "flake8", "--isolated", "--select", "SER", "--format", FORMAT, *args],
        cwd=cwd,
        input=stdin,
        capture_output=True,
        text=True,
        check=False,
    )


def _serialint(cwd: Path, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "serialint", "check", "--output-format", "concise", *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        check=False,
    )


def test_the_plugin_is_registered_with_flake8() -> None:
    result = subprocess.run([sys.executable, "-m", "flake8", "--version"], capture_output=True, text=True, check=True)
    assert "serialint: " in result.stdout, (
        "the flake8.extension entry point is missing: reinstall the package (pip install -e .)\n" + result.stdout
    )


def test_flake8_over_the_corpus_equals_serialint_check() -> None:
    flake8 = _flake8(Path(ROOT), "test_corpus/")
    cli = _serialint(Path(ROOT), "test_corpus/")
    assert flake8.stderr == ""
    assert cli.returncode == 1, cli.stderr
    assert flake8.returncode == 1, flake8.stdout
    from_flake8 = _rows(flake8.stdout)
    from_cli = _rows(cli.stdout)
    assert len(from_cli) > 100  # the corpus has a positive for every rule
    assert len(set(from_flake8)) == len(from_flake8)
    # positions are compared as printed: both give 1-based lines and 1-based columns
    assert set(from_flake8) == set(from_cli)


def _require_outside_git(path: Path) -> None:
    if git_root(str(path)) is not None:
        pytest.skip(f"the temporary directory {path} lies inside a git work tree, which would be the project root")


@pytest.fixture()
def project(tmp_path: Path) -> Path:
    """A small project outside any git work tree: pyproject.toml marks its root."""
    _require_outside_git(tmp_path)
    files: Dict[str, str] = {
        "pyproject.toml": (
            "[tool.serialint]\n"
            'per-file-ignores = { "scripts/*" = ["SER302"] }\n'
            'extend-exclude = ["generated"]\n'
        ),
        "pkg/__init__.py": "",
        "pkg/base.py": "from torch import nn\n\n\nclass Base(nn.Module):\n    pass\n",
        "pkg/head.py": (
            "from pkg.base import Base\n\n\n"
            "class Head(Base):\n"
            "    def __init__(self):\n"
            "        super().__init__()\n"
            "        self.act = lambda x: x * 2\n"
        ),
        # the same lambda on a class that is not a Module (and is never pickled) is fine
        "pkg/plain.py": (
            "class Plain:\n    pass\n\n\n"
            "class Tail(Plain):\n"
            "    def __init__(self):\n"
            "        self.act = lambda x: x * 2\n"
        ),
        "pkg/load.py": (
            "import torch\n\n\n"
            "def restore(path, other):\n"
            "    torch.load(other, weights_only=False)  # noqa: SER302\n"
            "    return torch.load(path, weights_only=False)\n"
        ),
    }
    files["scripts/load.py"] = files["pkg/load.py"]
    files["generated/load.py"] = files["pkg/load.py"]
    for name, text in files.items():
        path = tmp_path / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    return tmp_path


def test_configuration_noqa_and_exclusions_apply_as_in_serialint_check(project: Path) -> None:
    result = _flake8(project, "pkg", "scripts", "generated")
    assert result.returncode == 1, result.stderr
    assert result.stdout.splitlines() == [
        f"pkg/head.py:7:9: {SER201_HEAD}",
        f"pkg/load.py:6:12: {SER302_LOAD}",
    ]
    # serialint itself, with the exclusions applied to named paths as flake8 needs them applied
    cli = _serialint(project, "--force-exclude", "pkg", "scripts", "generated")
    assert set(_rows(cli.stdout)) == set(_rows(result.stdout))


def test_a_single_file_sees_base_classes_in_the_rest_of_the_project(project: Path) -> None:
    result = _flake8(project, "pkg/head.py")
    assert result.stdout.splitlines() == [f"pkg/head.py:7:9: {SER201_HEAD}"]
    assert _flake8(project, "pkg/plain.py").stdout == ""


def test_standard_input_is_linted_as_the_file_it_names(project: Path) -> None:
    # the text on standard input, not the file on disk, is what is linted
    text = (project / "pkg/head.py").read_text().replace("        self.act", "\n        self.act")
    result = _flake8(project, "--stdin-display-name", "pkg/head.py", "-", stdin=text)
    assert result.stdout.splitlines() == [f"pkg/head.py:8:9: {SER201_HEAD}"]
    safe = text.replace("lambda x: x * 2", "nn.Identity()").replace("from pkg", "from torch import nn\nfrom pkg")
    assert _flake8(project, "--stdin-display-name", "pkg/head.py", "-", stdin=safe).stdout == ""


def test_standard_input_that_pickles_a_class_makes_it_a_pickled_class(project: Path) -> None:
    # on disk, Tail is never pickled; the text on standard input pickles it
    saving = "\n\ndef save(path):\n    import torch\n    torch.save(Tail(), path)\n"
    text = (project / "pkg/plain.py").read_text() + saving
    result = _flake8(project, "--stdin-display-name", "pkg/plain.py", "-", stdin=text)
    assert result.stdout.splitlines() == [
        "pkg/plain.py:7:9: SER201 lambda stored on self.act: pickling a Tail (torch.save, pickle) fails "
        "(Can't pickle local object 'Tail.__init__.<locals>.<lambda>')"
    ]


def test_a_broken_configuration_is_reported_not_ignored(tmp_path: Path) -> None:
    _require_outside_git(tmp_path)
    (tmp_path / "serialint.toml").write_text('select = ["SER9"]\n')
    (tmp_path / "model.py").write_text("import torch\n")
    result = _flake8(tmp_path, "model.py")
    assert result.returncode == 1
    assert result.stdout.splitlines() == [
        "model.py:1:1: SER000 serialint could not lint this file: "
        "serialint.toml: 'select': unknown rule code or prefix 'SER9'"
    ]


def test_project_root_is_the_git_work_tree_else_the_nearest_project_file(tmp_path: Path) -> None:
    _require_outside_git(tmp_path)
    nested = tmp_path / "repo" / "sub" / "pkg"
    nested.mkdir(parents=True)
    (tmp_path / "repo" / "sub" / "serialint.toml").write_text("")
    assert flake8_plugin.project_root(str(nested / "m.py")) == str(tmp_path / "repo" / "sub")
    (tmp_path / "repo" / "pyproject.toml").write_text("")
    # a serialint.toml configures its directory; pyproject.toml marks the project
    assert flake8_plugin.project_root(str(nested / "m.py")) == str(tmp_path / "repo")
    (tmp_path / ".git").mkdir()
    assert flake8_plugin.project_root(str(nested / "m.py")) == str(tmp_path)
    assert flake8_plugin.project_root(os.path.join(CORPUS, "older_torch_project", "evaluation", "evaluate.py")) == (
        flake8_plugin.project_root(os.path.join(ROOT, "serialint", "cli.py"))
    )


def test_the_project_is_indexed_once_per_process(monkeypatch: pytest.MonkeyPatch) -> None:
    built: List[str] = []
    real_build = flake8_plugin.build_project

    def counting_build(root: str) -> flake8_plugin.ProjectState:
        built.append(root)
        return real_build(root)

    monkeypatch.setattr(flake8_plugin, "build_project", counting_build)
    monkeypatch.setattr(flake8_plugin, "_PROJECTS", {})
    linter = Linter()
    resolver = ConfigResolver(linter.codes)
    files, errors = discover([CORPUS], resolver)
    assert not errors and len(files) > 50
    got: Set[Tuple[str, int, int, str]] = set()
    for path in files:
        with open(path, encoding="utf-8") as handle:
            lines = handle.readlines()
        for line, column, text, kind in flake8_plugin.Plugin(None, path, lines).run():  # type: ignore[arg-type]
            assert kind is flake8_plugin.Plugin
            got.add((os.path.normpath(path), line, column, text))
    assert built == [flake8_plugin.project_root(files[0])]
    run = lint_sources([SourceFile(f) for f in files], resolver, linter)
    assert got == {(os.path.normpath(f.path), f.line, f.column, f"{f.code} {f.message}") for f in run.findings}
