"""Which files a run lints: walking, default excludes, .gitignore, paths named on the command line."""

from __future__ import annotations

import os
from pathlib import Path
from typing import List, Sequence, Tuple

import pytest

from clitools import BAD, line, run, write
from serialint.config import ConfigResolver
from serialint.discovery import discover, parse_gitignore
from serialint.findings import LintError
from serialint.rules import known_codes


def found(root: Path, paths: Sequence[str] = (".",), force_exclude: bool = False) -> Tuple[List[str], List[LintError]]:
    """Discovered files (sorted, relative to `root`, '/' separators) and errors, run from `root`."""
    previous = os.getcwd()
    os.chdir(root)
    try:
        files, errors = discover(list(paths), ConfigResolver(known_codes()), force_exclude)
    finally:
        os.chdir(previous)
    return sorted(os.path.normpath(f).replace(os.sep, "/") for f in files), errors


def tree(root: Path, *paths: str) -> Path:
    return write(root, {p: ("" if p.endswith("/") else "x = 1\n") for p in paths})


# -- walking ------------------------------------------------------------------------------------------


def test_walk_finds_py_files_only(tmp_path: Path) -> None:
    tree(tmp_path, "a.py", "b.pyi", "c.txt", "d.py.bak", "pkg/__init__.py", "pkg/sub/m.py", "pkg/sub/stub.pyi", "e.PY")
    assert found(tmp_path) == (["a.py", "pkg/__init__.py", "pkg/sub/m.py"], [])


@pytest.mark.parametrize(
    "name", [".git", ".venv", "venv", "build", "dist", "__pycache__", ".tox", "node_modules", "site-packages"]
)
def test_default_excludes(tmp_path: Path, name: str) -> None:
    tree(tmp_path, "keep.py", f"{name}/skip.py", f"src/{name}/deep/skip.py")
    assert found(tmp_path) == (["keep.py"], [])


def test_excludes_match_whole_names(tmp_path: Path) -> None:
    tree(tmp_path, "builder/m.py", "distance.py", "my_venv/m.py", "build.py")
    assert found(tmp_path) == (["build.py", "builder/m.py", "distance.py", "my_venv/m.py"], [])


def test_a_project_inside_an_excluded_name_is_still_linted(tmp_path: Path) -> None:
    tree(tmp_path, "build/proj/m.py", "build/proj/dist/skip.py")
    assert found(tmp_path / "build" / "proj") == (["m.py"], [])
    assert found(tmp_path, [str(tmp_path / "build" / "proj")])[0] == [
        (tmp_path / "build" / "proj" / "m.py").as_posix()
    ]


def test_a_directory_named_like_a_python_file_is_walked(tmp_path: Path) -> None:
    tree(tmp_path, "x.py/inner.py", "x.py/notes.txt")
    assert found(tmp_path) == (["x.py/inner.py"], [])
    assert found(tmp_path, ["x.py"]) == (["x.py/inner.py"], [])


def test_non_regular_files_are_skipped_while_walking(tmp_path: Path) -> None:
    tree(tmp_path, "m.py")
    os.symlink(tmp_path / "nowhere.py", tmp_path / "dangling.py")
    if hasattr(os, "mkfifo"):
        os.mkfifo(tmp_path / "pipe.py")  # reading it would block forever
    assert found(tmp_path) == (["m.py"], [])


def test_unreadable_directory_is_an_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    tree(tmp_path, "ok/m.py", "locked/m.py")
    real_scandir = os.scandir

    def scandir(path):  # type: ignore[no-untyped-def]
        # root may read anything, so the refusal is simulated where os.walk lists a directory
        if os.path.basename(os.fspath(path)) == "locked":
            raise PermissionError(13, "Permission denied", os.fspath(path))
        return real_scandir(path)

    monkeypatch.setattr(os, "scandir", scandir)
    files, errors = found(tmp_path)
    assert files == ["ok/m.py"]
    assert errors == [LintError("locked", "cannot read directory: Permission denied")]


def test_symlinked_file_is_linted(tmp_path: Path) -> None:
    tree(tmp_path, "real/m.py")
    os.symlink(tmp_path / "real" / "m.py", tmp_path / "link.py")
    assert found(tmp_path) == (["link.py", "real/m.py"], [])


def test_duplicates_are_linted_once(tmp_path: Path) -> None:
    tree(tmp_path, "a.py", "pkg/m.py")
    previous = os.getcwd()
    os.chdir(tmp_path)
    try:
        files, errors = discover(["a.py", ".", "./a.py", "pkg", "pkg/m.py"], ConfigResolver(known_codes()))
    finally:
        os.chdir(previous)
    assert (files, errors) == (["a.py", "pkg/m.py"], [])


def test_missing_paths_are_errors(tmp_path: Path) -> None:
    tree(tmp_path, "a.py")
    os.symlink(tmp_path / "nowhere.py", tmp_path / "dangling.py")
    files, errors = found(tmp_path, ["missing.py", "a.py", "dangling.py"])
    assert files == ["a.py"]
    assert errors == [
        LintError("missing.py", "no such file or directory"),
        LintError("dangling.py", "broken symbolic link"),
    ]


# -- paths named on the command line ---------------------------------------------------------------------


def test_named_excluded_paths_are_linted(tmp_path: Path) -> None:
    tree(tmp_path, "build/m.py", "build/dist/deep.py", "venv/x.py", "gen.py")
    write(tmp_path, {"serialint.toml": 'extend-exclude = ["gen.py"]\n'})
    assert found(tmp_path, ["build", "venv/x.py", "gen.py"]) == (["build/m.py", "gen.py", "venv/x.py"], [])


def test_force_exclude_applies_to_named_paths(tmp_path: Path) -> None:
    tree(tmp_path, "build/m.py", "venv/x.py", "gen.py", "src/ok.py", "src/dist/deep.py")
    write(tmp_path, {"serialint.toml": 'extend-exclude = ["gen.py"]\n'})
    paths = ["build", "venv/x.py", "gen.py", "src/ok.py", "src/dist/deep.py"]
    assert found(tmp_path, paths, force_exclude=True) == (["src/ok.py"], [])


def test_force_exclude_through_the_command(tmp_path: Path) -> None:
    write(tmp_path, {"build/m.py": BAD})
    result = run(["check", "build/m.py"], tmp_path)
    assert (result.status, result.out_lines) == (1, [line(os.path.join("build", "m.py"))])
    result = run(["check", "--force-exclude", "build/m.py"], tmp_path)
    assert (result.status, result.out) == (0, "")


# -- .gitignore ------------------------------------------------------------------------------------------


def test_gitignore_is_honoured(tmp_path: Path) -> None:
    tree(tmp_path, ".git/", "keep.py", "secret.py", "gen/a.py", "notes/m.py")
    write(tmp_path, {".gitignore": "# generated\nsecret.py\ngen/\n\n"})
    assert found(tmp_path) == (["keep.py", "notes/m.py"], [])


def test_gitignore_outside_a_repository_counts_from_the_walk_root(tmp_path: Path) -> None:
    tree(tmp_path, "keep.py", "secret.py")
    write(tmp_path, {".gitignore": "secret.py\n"})
    assert found(tmp_path) == (["keep.py"], [])


def test_gitignore_of_the_repository_root_applies_to_a_walked_subdirectory(tmp_path: Path) -> None:
    tree(tmp_path, ".git/", "src/keep.py", "src/secret.py", "src/gen/m.py")
    write(tmp_path, {".gitignore": "secret.py\n/src/gen\n"})
    assert found(tmp_path / "src") == (["keep.py"], [])


def test_git_info_exclude(tmp_path: Path) -> None:
    tree(tmp_path, ".git/info/", "keep.py", "local.py")
    write(tmp_path, {".git/info/exclude": "local.py\n"})
    assert found(tmp_path) == (["keep.py"], [])


def test_nested_gitignore_files(tmp_path: Path) -> None:
    tree(tmp_path, ".git/", "a.py", "tmp_x.py", "sub/b.py", "sub/tmp_y.py", "sub/local.py", "other/local.py")
    write(tmp_path, {".gitignore": "tmp_*.py\n", "sub/.gitignore": "local.py\n"})
    assert found(tmp_path) == (["a.py", "other/local.py", "sub/b.py"], [])


def test_negation(tmp_path: Path) -> None:
    tree(tmp_path, ".git/", "a_gen.py", "b_gen.py", "keep_gen.py", "sub/c_gen.py", "sub/d_gen.py")
    write(tmp_path, {".gitignore": "*_gen.py\n!keep_gen.py\n", "sub/.gitignore": "!d_gen.py\n"})
    assert found(tmp_path) == (["keep_gen.py", "sub/d_gen.py"], [])


def test_negation_cannot_reinclude_inside_an_ignored_directory(tmp_path: Path) -> None:
    tree(tmp_path, ".git/", "data/keep.py", "data/drop.py", "cache/keep.py", "cache/drop.py")
    # as in git: `data/` ignores the directory itself, so nothing below it comes back;
    # `cache/*` ignores the entries, and one of them can be re-included
    write(tmp_path, {".gitignore": "data/\n!data/keep.py\ncache/*\n!cache/keep.py\n"})
    assert found(tmp_path) == (["cache/keep.py"], [])


def test_directory_only_patterns(tmp_path: Path) -> None:
    tree(tmp_path, ".git/", "out/m.py", "pkg/out/m.py", "out.py/m.py", "keep/out")
    write(tmp_path, {".gitignore": "out/\nout.py/\n", "keep/out": "x = 1\n"})
    # `out/` matches directories at any depth, never a file called `out`
    assert found(tmp_path, [".", "keep/out"]) == (["keep/out"], [])


def test_directory_only_pattern_does_not_match_a_file(tmp_path: Path) -> None:
    tree(tmp_path, ".git/", "model.py", "models/m.py")
    write(tmp_path, {".gitignore": "model.py/\nmodels/\n"})
    assert found(tmp_path) == (["model.py"], [])


def test_anchored_patterns(tmp_path: Path) -> None:
    tree(tmp_path, ".git/", "top.py", "sub/top.py", "docs/build.py", "src/docs/build.py", "sub/x/gen.py", "gen.py")
    write(tmp_path, {".gitignore": "/top.py\ndocs/build.py\n", "sub/.gitignore": "/x\n"})
    assert found(tmp_path) == (["gen.py", "src/docs/build.py", "sub/top.py"], [])


def test_double_star_patterns(tmp_path: Path) -> None:
    tree(tmp_path, ".git/", "a/gen/m.py", "gen/m.py", "logs/a/b/x.py", "logs/y.py", "x/y/z_pb2.py", "ok.py")
    write(tmp_path, {".gitignore": "**/gen\nlogs/**\n**/*_pb2.py\n"})
    assert found(tmp_path) == (["ok.py"], [])


def test_character_classes_and_escapes(tmp_path: Path) -> None:
    tree(tmp_path, ".git/", "m1.py", "m2.py", "ma.py", "#hash.py", "!bang.py", "ok.py")
    write(tmp_path, {".gitignore": "m[0-9].py\n\\#hash.py\n\\!bang.py\n"})
    assert found(tmp_path) == (["ma.py", "ok.py"], [])


def test_respect_gitignore_false(tmp_path: Path) -> None:
    tree(tmp_path, ".git/", "keep.py", "secret.py", "gen/a.py")
    write(tmp_path, {".gitignore": "secret.py\ngen/\n"})
    write(tmp_path, {"pyproject.toml": "[tool.serialint]\nrespect-gitignore = false\n"})
    assert found(tmp_path) == (["gen/a.py", "keep.py", "secret.py"], [])


def test_gitignore_through_the_command(tmp_path: Path) -> None:
    write(tmp_path, {".git/": "", ".gitignore": "ignored/\n", "ignored/m.py": BAD, "m.py": BAD})
    result = run(["check"], tmp_path)
    assert result.out_lines == [line("m.py")]
    # a path named on the command line is linted even when git-ignored
    result = run(["check", "ignored/m.py"], tmp_path)
    assert result.out_lines == [line(os.path.join("ignored", "m.py"))]


@pytest.mark.parametrize(
    "text, rel, is_dir, ignored",
    [
        ("foo", "foo", False, True),
        ("foo", "a/b/foo", False, True),
        ("foo", "foobar", False, False),
        ("/foo", "a/foo", False, False),
        ("a/foo", "a/foo", False, True),
        ("a/foo", "x/a/foo", False, False),
        ("foo/", "foo", False, False),
        ("foo/", "foo", True, True),
        ("*.py", "a/b.py", False, True),
        ("a/*.py", "a/b/c.py", False, False),
        ("a/**/c.py", "a/c.py", False, True),
        ("a/**/c.py", "a/x/y/c.py", False, True),
        ("a/**", "a/x", False, True),
        ("a/**", "a", True, False),
        ("f?o", "fao", False, True),
        ("f?o", "f/o", False, False),
        ("foo  ", "foo", False, True),  # trailing spaces are not part of the pattern
    ],
)
def test_gitignore_pattern_matching(text: str, rel: str, is_dir: bool, ignored: bool) -> None:
    (rule,) = parse_gitignore(text)
    assert (rule.regex.match(rel) is not None and (is_dir or not rule.dir_only)) is ignored


def test_gitignore_comments_and_blank_lines() -> None:
    assert parse_gitignore("# comment\n\n   \n!\n/\n") == []
    (rule,) = parse_gitignore("!keep.py\r\n")
    assert rule.negated and rule.regex.match("keep.py")
