"""The pre-commit hooks, run by the real pre-commit against this checkout.

pre-commit clones the hook repository at a revision and installs it into a virtual environment
of its own (from the package index), so the hooks tested are the ones in `.pre-commit-hooks.yaml`
as committed. When the working tree's hook file differs from HEAD's (or HEAD has none yet), the
checkout's files are first committed to a scratch repository, and that snapshot is the hook
repository instead, so the test always exercises the hooks as they are in the working tree.
"""

from __future__ import annotations

import importlib.util
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Dict, List, Optional, Tuple

import pytest

ROOT = Path(__file__).resolve().parent.parent
HOOKS_FILE = ".pre-commit-hooks.yaml"

HAZARD = """import torch


def restore(path):
    # the checkpoint comes from a shared bucket
    return torch.load(path, weights_only=False)
"""
FIXED = HAZARD.replace("weights_only=False", "weights_only=True")
SAFE = """import torch


def restore(path):
    return torch.load(path, map_location="cpu", weights_only=True)
"""
FINDING = (
    "ckpt.py:6:12: SER302 torch.load(..., weights_only=False) unpickles arbitrary code from the checkpoint: "
    "whoever can write the file runs code here; load it with weights_only=True "
    "(allow extra trusted classes with torch.serialization.add_safe_globals)"
)
_FINDING_LINE = re.compile(r"^\S+\.py:\d+:\d+: SER\d{3} .*$", re.M)


def _clean_env(**extra: str) -> Dict[str, str]:
    # GIT_DIR and friends leak in when the tests themselves run from a git hook
    env = {k: v for k, v in os.environ.items() if not k.startswith(("GIT_", "PRE_COMMIT"))}
    env.update(extra)
    return env


def _git(cwd: Path, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        ["git", "-c", "user.name=serialint tests", "-c", "user.email=tests@serialint.invalid",
         "-c", "commit.gpgsign=false", "-c", "init.defaultBranch=main", *args],
        cwd=cwd,
        env=_clean_env(),
        capture_output=True,
        text=True,
        check=False,
    )


def _head() -> Optional[str]:
    result = _git(ROOT, "rev-parse", "--verify", "--quiet", "HEAD")
    return result.stdout.strip() if result.returncode == 0 and result.stdout.strip() else None


def _hooks_committed_as_is() -> bool:
    """Whether HEAD holds the hook file exactly as the working tree has it."""
    in_head = _git(ROOT, "cat-file", "-e", f"HEAD:{HOOKS_FILE}").returncode == 0
    return in_head and _git(ROOT, "diff", "--quiet", "HEAD", "--", HOOKS_FILE).returncode == 0


def _snapshot(into: Path) -> Tuple[str, str]:
    """Commit the checkout's working tree (tracked and untracked, not ignored) to a scratch repository."""
    listed = _git(ROOT, "ls-files", "-z", "--cached", "--others", "--exclude-standard")
    assert listed.returncode == 0, listed.stderr
    into.mkdir()
    for name in sorted(set(filter(None, listed.stdout.split("\0")))):
        source = ROOT / name
        if source.is_file():  # a tracked file deleted in the working tree is left out
            target = into / name
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, target)
    for args in (("init", "-q"), ("add", "-A"), ("commit", "-q", "-m", "snapshot")):
        result = _git(into, *args)
        assert result.returncode == 0, result.stderr
    return str(into), _git(into, "rev-parse", "HEAD").stdout.strip()


def _hook_repository(tmp_path: Path) -> Tuple[str, str]:
    if shutil.which("git") is None:
        pytest.skip("git is not installed")
    if importlib.util.find_spec("pre_commit") is None:
        pytest.skip("pre-commit is not installed in this interpreter (pip install -e '.[test]')")
    if _git(ROOT, "rev-parse", "--show-toplevel").returncode != 0:
        pytest.skip(f"{ROOT} is not a git repository: pre-commit installs hooks from a git revision")
    head = _head()
    if head is None:
        pytest.skip(f"{ROOT} has no commit yet: pre-commit installs hooks from a git revision")
    if _hooks_committed_as_is():
        return str(ROOT), head
    return _snapshot(tmp_path / "hook-repository")


def _config(repo: str, rev: str, fix_args: List[str]) -> str:
    args = f"\n        args: [{', '.join(fix_args)}]" if fix_args else ""
    return (
        "repos:\n"
        f"  - repo: {repo}\n"
        f"    rev: {rev}\n"
        "    hooks:\n"
        "      - id: serialint\n"
        f"      - id: serialint-fix{args}\n"
    )


def _run(project: Path, home: Path) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "pre_commit", "run", "--all-files", "--color", "never"],
        cwd=project,
        env=_clean_env(PRE_COMMIT_HOME=str(home)),
        capture_output=True,
        text=True,
        timeout=1200,
        check=False,
    )


def _hook_status(output: str, name: str) -> str:
    match = re.search(rf"^{re.escape(name)}\.+(Passed|Failed)$", output, re.M)
    assert match, output
    return match.group(1)


def test_hooks_report_then_fix_with_the_real_pre_commit(tmp_path: Path) -> None:
    repo, rev = _hook_repository(tmp_path)
    project = tmp_path / "project"
    project.mkdir()
    (project / "ckpt.py").write_text(HAZARD)
    (project / "safe_ckpt.py").write_text(SAFE)
    (project / ".pre-commit-config.yaml").write_text(_config(repo, rev, []))
    for args in (("init", "-q"), ("add", "-A")):
        assert _git(project, *args).returncode == 0
    home = tmp_path / "pre-commit-home"

    # SER302's fix is unsafe: without --unsafe-fixes both hooks fail and the file stays as it is
    first = _run(project, home)
    output = first.stdout + first.stderr
    assert first.returncode == 1, output
    assert _hook_status(output, "serialint") == "Failed"
    assert _hook_status(output, "serialint (fix)") == "Failed"
    assert _FINDING_LINE.findall(output) == [FINDING, FINDING]
    assert "files were modified by this hook" not in output
    assert (project / "ckpt.py").read_text() == HAZARD

    (project / ".pre-commit-config.yaml").write_text(_config(repo, rev, ["--unsafe-fixes"]))
    second = _run(project, home)
    output = second.stdout + second.stderr
    assert second.returncode == 1, output
    assert _hook_status(output, "serialint") == "Failed"  # the check hook runs first, on the unfixed file
    assert _hook_status(output, "serialint (fix)") == "Failed"  # pre-commit fails a hook that changed files
    assert "files were modified by this hook" in output
    assert _FINDING_LINE.findall(output) == [FINDING]
    assert (project / "ckpt.py").read_text() == FIXED
    assert (project / "safe_ckpt.py").read_text() == SAFE

    third = _run(project, home)
    output = third.stdout + third.stderr
    assert third.returncode == 0, output
    assert _hook_status(output, "serialint") == "Passed"
    assert _hook_status(output, "serialint (fix)") == "Passed"
    assert _FINDING_LINE.findall(output) == []
    assert (project / "ckpt.py").read_text() == FIXED


def test_the_hook_manifest_is_valid_and_runs_one_process_per_run() -> None:
    if importlib.util.find_spec("pre_commit") is None:
        pytest.skip("pre-commit is not installed in this interpreter (pip install -e '.[test]')")
    import yaml  # pre-commit's own dependency

    result = subprocess.run(
        [sys.executable, "-m", "pre_commit", "validate-manifest", str(ROOT / HOOKS_FILE)],
        env=_clean_env(),
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    hooks = {hook["id"]: hook for hook in yaml.safe_load((ROOT / HOOKS_FILE).read_text())}
    assert sorted(hooks) == ["serialint", "serialint-fix"]
    assert hooks["serialint"]["entry"] == "serialint check --force-exclude"
    assert hooks["serialint-fix"]["entry"] == "serialint check --fix --force-exclude"
    for hook in hooks.values():
        assert hook["language"] == "python"
        assert hook["types"] == ["python"]
        assert hook["require_serial"] is True
