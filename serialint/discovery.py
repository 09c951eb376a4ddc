"""Which files to lint: walk directories, skip excluded and git-ignored paths."""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field
from typing import Dict, List, Optional, Sequence, Tuple

from serialint.config import ConfigError, ConfigResolver
from serialint.findings import LintError


@dataclass(frozen=True)
class _IgnoreRule:
    regex: "re.Pattern[str]"
    negated: bool
    dir_only: bool


def _translate(pattern: str) -> Tuple[str, bool]:
    """A .gitignore pattern as a regex over paths relative to the .gitignore's directory."""
    anchored = "/" in pattern.rstrip("/")
    pattern = pattern.lstrip("/")
    out = []
    i = 0
    while i < len(pattern):
        if pattern.startswith("**/", i):
            out.append("(?:.*/)?")
            i += 3
        elif pattern.startswith("/**", i) and i + 3 == len(pattern):
            out.append("/.*")
            i += 3
        elif pattern.startswith("**", i):
            out.append(".*")
            i += 2
        elif pattern[i] == "*":
            out.append("[^/]*")
            i += 1
        elif pattern[i] == "?":
            out.append("[^/]")
            i += 1
        elif pattern[i] == "[":
            end = pattern.find("]", i + 1)
            if end == -1:
                out.append(re.escape("["))
                i += 1
            else:
                out.append(pattern[i : end + 1].replace("[!", "[^"))
                i = end + 1
        elif pattern[i] == "\\" and i + 1 < len(pattern):
            out.append(re.escape(pattern[i + 1]))
            i += 2
        else:
            out.append(re.escape(pattern[i]))
            i += 1
    body = "".join(out)
    return (body if anchored else f"(?:.*/)?{body}"), anchored


def parse_gitignore(text: str) -> List[_IgnoreRule]:
    rules = []
    for raw in text.splitlines():
        line = raw.rstrip()
        if not line or line.startswith("#"):
            continue
        negated = line.startswith("!")
        if negated:
            line = line[1:]
        dir_only = line.endswith("/")
        line = line.rstrip("/")
        if not line:
            continue
        body, _ = _translate(line)
        rules.append(_IgnoreRule(re.compile(body + "$"), negated, dir_only))
    return rules


@dataclass
class GitIgnore:
    """The .gitignore files from the repository root (or the walk's start) down to a path."""

    _cache: Dict[str, List[_IgnoreRule]] = field(default_factory=dict)

    def _rules_in(self, directory: str) -> List[_IgnoreRule]:
        rules = self._cache.get(directory)
        if rules is None:
            rules = []
            for name in (".gitignore", os.path.join(".git", "info", "exclude")):
                path = os.path.join(directory, name)
                try:
                    with open(path, encoding="utf-8", errors="replace") as handle:
                        rules.extend(parse_gitignore(handle.read()))
                except OSError:
                    pass
            self._cache[directory] = rules
        return rules

    def ignored(self, path: str, is_dir: bool, top: str) -> bool:
        """Whether `path` is ignored by a .gitignore in `top` or any directory between them."""
        path = os.path.abspath(path)
        directory = os.path.dirname(path)
        chain = []
        while True:
            chain.append(directory)
            if directory == top or os.path.dirname(directory) == directory:
                break
            directory = os.path.dirname(directory)
        ignored = False
        # deeper .gitignore files override shallower ones: apply from the top down
        for base in reversed(chain):
            rel = os.path.relpath(path, base).replace(os.sep, "/")
            for rule in self._rules_in(base):
                if rule.dir_only and not is_dir:
                    continue
                if rule.regex.match(rel):
                    ignored = not rule.negated
        return ignored


def git_root(start: str) -> Optional[str]:
    directory = os.path.abspath(start)
    while True:
        if os.path.exists(os.path.join(directory, ".git")):
            return directory
        parent = os.path.dirname(directory)
        if parent == directory:
            return None
        directory = parent


def discover(
    paths: Sequence[str], resolver: ConfigResolver, force_exclude: bool = False
) -> Tuple[List[str], List[LintError]]:
    """Python files under `paths` (normalised, unique, in walk order), and errors for unusable paths.

    A directory is walked for `*.py` files (a directory named `x.py` is a directory, and walked);
    excluded and git-ignored entries are skipped while walking. A path named on the command line
    is linted whatever its name, unless `force_exclude` applies the exclusions to it too.
    """
    files: List[str] = []
    errors: List[LintError] = []
    gitignore = GitIgnore()

    def unreadable(exc: OSError) -> None:
        errors.append(LintError(os.path.normpath(exc.filename), f"cannot read directory: {exc.strerror or exc}"))

    for path in paths:
        if not os.path.exists(path):
            message = "broken symbolic link" if os.path.islink(path) else "no such file or directory"
            errors.append(LintError(path, message))
            continue
        try:
            settings = resolver.for_path(path)
        except ConfigError as exc:
            errors.append(exc.as_lint_error())
            continue
        if force_exclude and settings.is_excluded_with_parents(path):
            continue
        if not os.path.isdir(path):
            files.append(path)
            continue
        # .gitignore files count from the repository's root; outside a repository, from the walk's start
        top = git_root(path) or os.path.abspath(path)
        for directory, dirnames, filenames in os.walk(path, onerror=unreadable):
            try:
                settings = resolver.for_path(directory)
            except ConfigError as exc:
                errors.append(exc.as_lint_error())
                dirnames[:] = []
                continue
            kept = []
            for name in sorted(dirnames):
                full = os.path.join(directory, name)
                if settings.is_excluded(full):
                    continue
                if settings.respect_gitignore and gitignore.ignored(full, True, top):
                    continue
                kept.append(name)
            dirnames[:] = kept
            for name in sorted(filenames):
                if not name.endswith(".py"):
                    continue
                full = os.path.join(directory, name)
                # FIFOs, sockets and dangling links: reading them would block or fail
                if not os.path.isfile(full):
                    continue
                if settings.is_excluded(full):
                    continue
                if settings.respect_gitignore and gitignore.ignored(full, False, top):
                    continue
                files.append(full)
    # `.` and `./a.py` both name a.py: report it once, as `a.py`
    return list(dict.fromkeys(os.path.normpath(f) for f in files)), errors
