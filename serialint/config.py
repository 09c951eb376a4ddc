"""Configuration: `[tool.serialint]` in pyproject.toml, or serialint.toml / .serialint.toml."""

from __future__ import annotations

import fnmatch
import os
import re
import sys
from dataclasses import dataclass, field, replace
from typing import Any, Dict, FrozenSet, Iterable, List, Mapping, Optional, Sequence, Tuple

from serialint.findings import LintError

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - exercised on older interpreters only
    import tomli as tomllib

CONFIG_FILES: Tuple[str, ...] = (".serialint.toml", "serialint.toml", "pyproject.toml")

DEFAULT_EXCLUDE: Tuple[str, ...] = (
    ".git",
    ".hg",
    ".svn",
    ".venv",
    "venv",
    ".tox",
    ".nox",
    ".mypy_cache",
    ".pytest_cache",
    ".serialint_cache",
    "build",
    "dist",
    "__pycache__",
    "node_modules",
    "site-packages",
)


class ConfigError(Exception):
    """A configuration problem, naming the file, and the key (or line) at fault."""

    def __init__(self, path: str, message: str, line: Optional[int] = None, column: Optional[int] = None) -> None:
        self.path = path
        self.line = line
        self.column = column  # 0-based, like LintError.column
        self.message = message
        where = f"{path}:{line}:{(column or 0) + 1}" if line is not None else path
        super().__init__(f"{where}: {message}")

    def as_lint_error(self) -> LintError:
        return LintError(self.path, self.message, self.line, self.column)


@dataclass(frozen=True)
class Settings:
    """Resolved settings for the files under one configuration."""

    select: Optional[Tuple[str, ...]] = None  # None = every default-enabled rule
    extend_select: Tuple[str, ...] = ()
    ignore: Tuple[str, ...] = ()
    per_file_ignores: Tuple[Tuple[str, Tuple[str, ...]], ...] = ()
    exclude: Tuple[str, ...] = DEFAULT_EXCLUDE
    extend_exclude: Tuple[str, ...] = ()
    respect_gitignore: bool = True
    module_bases: Tuple[str, ...] = ()
    target_torch: Optional[str] = None
    config_path: Optional[str] = None  # the file these came from
    root: str = "."  # directory globs are relative to
    cache_dir: Optional[str] = None  # `cache-dir`, absolute; read from the project root's configuration only

    def enabled_codes(self, all_codes: Sequence[str], default_codes: Iterable[str]) -> FrozenSet[str]:
        """Codes enabled by select/extend-select/ignore: the most specific prefix wins, ignore on a tie."""
        selectors = [*(self.select or ()), *self.extend_select]
        # The default set is as unspecific as ALL: `ignore = ["SER1"]` must switch off a
        # default-enabled SER101, which a selector spelled out in full would keep on.
        defaults = frozenset(default_codes) if self.select is None else frozenset()
        enabled = set()
        for code in all_codes:
            chosen = max(_longest_prefix(code, selectors), 0 if code in defaults else -1)
            ignored = _longest_prefix(code, self.ignore)
            if chosen >= 0 and chosen > ignored:
                enabled.add(code)
        return frozenset(enabled)

    def ignored_for(self, path: str) -> Tuple[str, ...]:
        """Codes `per-file-ignores` switches off for this path."""
        rel = _relative(path, self.root)
        codes: List[str] = []
        for pattern, pattern_codes in self.per_file_ignores:
            if _glob_match(rel, pattern):
                codes.extend(pattern_codes)
        return tuple(codes)

    def is_excluded(self, path: str) -> bool:
        """Whether `exclude`/`extend-exclude` match this file or directory itself.

        A pattern without a slash matches the name alone, wherever it is; a pattern with one is
        relative to the configuration's directory. Only the path's own name is looked at for the
        former, so a project that happens to live under a directory named `build` is still linted.
        """
        name = os.path.basename(os.path.normpath(path))
        rel = _relative(path, self.root)
        inside = _is_within(rel)
        for pattern in (*self.exclude, *self.extend_exclude):
            clean = pattern.replace(os.sep, "/").rstrip("/")
            if not clean:
                continue
            if os.path.isabs(clean):
                if _glob_regex(clean).match(os.path.abspath(path).replace(os.sep, "/")):
                    return True
            elif "/" in clean:
                if inside and _glob_match(rel, clean):
                    return True
            elif fnmatch.fnmatchcase(name, clean):
                return True
        return False

    def is_excluded_with_parents(self, path: str) -> bool:
        """For `--force-exclude`: the path, or a directory between it and the configuration's root."""
        current = os.path.abspath(path)
        root = os.path.abspath(self.root)
        while True:
            if self.is_excluded(current):
                return True
            parent = os.path.dirname(current)
            if parent == current or parent == root or not _is_within(_relative(parent, root)):
                return False
            current = parent


def _is_within(rel: str) -> bool:
    """Whether a path relative to a root (as `_relative` gives it) lies inside the root."""
    return rel != ".." and not rel.startswith("../")


def _longest_prefix(code: str, selectors: Iterable[str]) -> int:
    best = -1
    for selector in selectors:
        if selector == "ALL" or code.startswith(selector):
            best = max(best, 0 if selector == "ALL" else len(selector))
    return best


def _relative(path: str, root: str) -> str:
    try:
        rel = os.path.relpath(os.path.abspath(path), os.path.abspath(root))
    except ValueError:  # different drives on Windows
        rel = path
    return rel.replace(os.sep, "/")


def _glob_match(rel: str, pattern: str) -> bool:
    pattern = pattern.replace(os.sep, "/").rstrip("/")
    if pattern.startswith("./"):
        pattern = pattern[2:]
    regex = _glob_regex(pattern)
    if regex.match(rel):
        return True
    # a pattern without a slash matches the file name anywhere, like flake8 and ruff
    return "/" not in pattern and regex.match(rel.rsplit("/", 1)[-1]) is not None


_GLOB_CACHE: Dict[str, "re.Pattern[str]"] = {}


def _glob_regex(pattern: str) -> "re.Pattern[str]":
    cached = _GLOB_CACHE.get(pattern)
    if cached is not None:
        return cached
    out = []
    i = 0
    while i < len(pattern):
        ch = pattern[i]
        if pattern.startswith("**/", i):
            out.append("(?:.*/)?")
            i += 3
            continue
        if pattern.startswith("**", i):
            out.append(".*")
            i += 2
            continue
        if ch == "*":
            out.append("[^/]*")
        elif ch == "?":
            out.append("[^/]")
        elif ch == "[":
            end = pattern.find("]", i + 1)
            if end == -1:
                out.append(re.escape(ch))
            else:
                out.append(pattern[i : end + 1].replace("[!", "[^"))
                i = end
        else:
            out.append(re.escape(ch))
        i += 1
    # a directory pattern also matches everything below it
    compiled = re.compile("".join(out) + "(?:/.*)?$")
    _GLOB_CACHE[pattern] = compiled
    return compiled


# -- loading ---------------------------------------------------------------------------------

# PEP 440 clauses such as ">=2.1", "~=2.4", "==2.*", "2.6", comma-separated
_CLAUSE = r"\s*(?:(?:~=|===?|!=|<=|>=|<|>)\s*)?\d+(?:\.\d+)*(?:\.\*|[a-z]+\d*)?\s*"
_SPECIFIER = re.compile(f"{_CLAUSE}(?:,{_CLAUSE})*")
_DOTTED = re.compile(r"[A-Za-z_]\w*(?:\.[A-Za-z_]\w*)*")

_LIST_KEYS = ("select", "ignore", "extend-select", "exclude", "extend-exclude", "module-bases")
_KNOWN_KEYS = frozenset(_LIST_KEYS + ("per-file-ignores", "respect-gitignore", "target-torch", "cache-dir"))


def find_config(directory: str) -> Optional[str]:
    """The nearest configuration file in `directory` or above it."""
    directory = os.path.abspath(directory)
    while True:
        for name in CONFIG_FILES:
            candidate = os.path.join(directory, name)
            if os.path.isfile(candidate) and (name != "pyproject.toml" or _has_tool_table(candidate)):
                return candidate
        parent = os.path.dirname(directory)
        if parent == directory:
            return None
        directory = parent


def _has_tool_table(path: str) -> bool:
    """Whether a pyproject.toml configures serialint (and so ends the upward search)."""
    try:
        with open(path, "rb") as handle:
            data = handle.read()
    except OSError:
        return True  # load_config reports why it cannot be read
    if b"serialint" not in data:  # most pyproject.toml files: no need to parse
        return False
    try:
        parsed = tomllib.loads(data.decode("utf-8"))
    except (UnicodeDecodeError, tomllib.TOMLDecodeError):
        # broken, and it mentions serialint: report it rather than silently use another file
        return True
    tool = parsed.get("tool")
    return isinstance(tool, dict) and "serialint" in tool


def load_config(path: str, known_codes: Sequence[str]) -> Settings:
    """Read and validate one configuration file. Raises ConfigError naming the file and key."""
    try:
        with open(path, "rb") as handle:
            raw = handle.read()
    except OSError as exc:
        raise ConfigError(path, f"cannot read configuration: {exc.strerror or exc}") from None
    try:
        data = tomllib.loads(raw.decode("utf-8"))
    except UnicodeDecodeError as exc:
        line = raw.count(b"\n", 0, exc.start) + 1
        column = exc.start - (raw.rfind(b"\n", 0, exc.start) + 1)
        raise ConfigError(path, "invalid TOML: the file is not UTF-8", line, column) from None
    except tomllib.TOMLDecodeError as exc:
        # tomllib puts the position at the end of its message; serialint puts it in front
        text = str(exc)
        match = re.search(r"\s*\(at line (\d+), column (\d+)\)$", text)
        if match:
            text = text[: match.start()]
            raise ConfigError(path, f"invalid TOML: {text}", int(match.group(1)), int(match.group(2)) - 1) from None
        match = re.search(r"\s*\(at end of document\)$", text)
        if match:
            # point just past the last character of the file
            lines = raw.decode("utf-8").rstrip().splitlines() or [""]
            raise ConfigError(
                path, f"invalid TOML: {text[: match.start()]} at the end of the file", len(lines), len(lines[-1])
            ) from None
        raise ConfigError(path, f"invalid TOML: {text}") from None

    tool = data.get("tool")
    if os.path.basename(path) == "pyproject.toml":
        if tool is not None and not isinstance(tool, dict):
            raise ConfigError(path, "'tool' must be a table")
        table: Any = (tool or {}).get("serialint", {})
        prefix = "tool.serialint."
    elif isinstance(tool, dict) and "serialint" in tool and len(data) == 1:
        table = tool["serialint"]
        prefix = "tool.serialint."
    else:
        table = data
        prefix = ""
    if not isinstance(table, dict):
        raise ConfigError(path, f"'{prefix.rstrip('.')}' must be a table, got {_type_name(table)}")
    root = os.path.dirname(os.path.abspath(path))
    settings = settings_from_table(table, path, prefix, known_codes, root)
    if settings.target_torch is None and os.path.basename(path) == "pyproject.toml":
        declared = declared_torch_requirement(data)
        if declared is not None:
            settings = replace(settings, target_torch=declared)
    return settings


def settings_from_table(
    table: Mapping[str, Any], path: str, prefix: str, known_codes: Sequence[str], root: str
) -> Settings:
    values: Dict[str, Any] = {}
    for key, value in table.items():
        where = f"{prefix}{key}"
        if key not in _KNOWN_KEYS:
            raise ConfigError(path, f"unknown key '{where}' (known: {', '.join(sorted(_KNOWN_KEYS))})")
        if key in _LIST_KEYS:
            if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
                raise ConfigError(path, f"'{where}' must be a list of strings, got {_type_name(value)}")
            if key in ("select", "ignore", "extend-select"):
                for selector in value:
                    check_selector(selector, known_codes, path, where)
            elif key == "module-bases":
                for base in value:
                    if not _DOTTED.fullmatch(base):
                        raise ConfigError(path, f"'{where}': '{base}' is not a dotted class name")
            values[key] = tuple(value)
        elif key == "respect-gitignore":
            if not isinstance(value, bool):
                raise ConfigError(path, f"'{where}' must be true or false, got {_type_name(value)}")
            values[key] = value
        elif key == "cache-dir":
            if not isinstance(value, str):
                raise ConfigError(path, f"'{where}' must be a directory path string, got {_type_name(value)}")
            if not value.strip():
                raise ConfigError(path, f"'{where}' must not be empty")
            # relative to the configuration file, wherever serialint is run from
            values[key] = os.path.normpath(os.path.join(root, os.path.expanduser(value)))
        elif key == "target-torch":
            if not isinstance(value, str):
                raise ConfigError(path, f"'{where}' must be a version specifier string, got {_type_name(value)}")
            if not _SPECIFIER.fullmatch(value):
                raise ConfigError(path, f"'{where}': '{value}' is not a version specifier (e.g. \">=2.1\")")
            values[key] = value
        elif key == "per-file-ignores":
            if not isinstance(value, dict):
                raise ConfigError(path, f"'{where}' must be a table of glob = [codes], got {_type_name(value)}")
            entries = []
            for glob, codes in value.items():
                if not isinstance(codes, list) or not all(isinstance(c, str) for c in codes):
                    raise ConfigError(path, f"'{where}.\"{glob}\"' must be a list of rule codes")
                for code in codes:
                    check_selector(code, known_codes, path, f'{where}."{glob}"')
                entries.append((glob, tuple(codes)))
            values[key] = tuple(entries)
    return Settings(
        select=values.get("select"),
        extend_select=values.get("extend-select", ()),
        ignore=values.get("ignore", ()),
        per_file_ignores=values.get("per-file-ignores", ()),
        exclude=values.get("exclude", DEFAULT_EXCLUDE),
        extend_exclude=values.get("extend-exclude", ()),
        respect_gitignore=values.get("respect-gitignore", True),
        module_bases=values.get("module-bases", ()),
        target_torch=values.get("target-torch"),
        config_path=path,
        root=root,
        cache_dir=values.get("cache-dir"),
    )


def check_selector(selector: str, known_codes: Sequence[str], path: str, where: str) -> None:
    if selector == "ALL":
        return
    if not any(code.startswith(selector) for code in known_codes) or not re.fullmatch(r"SER\d{0,3}", selector):
        raise ConfigError(path, f"'{where}': unknown rule code or prefix '{selector}'")


_TYPE_NAMES: Dict[type, str] = {
    str: "a string",
    bool: "a boolean",
    int: "an integer",
    float: "a number",
    list: "a list",
    dict: "a table",
}


def _type_name(value: Any) -> str:
    return _TYPE_NAMES.get(type(value), type(value).__name__)


def declared_torch_requirement(pyproject: Mapping[str, Any]) -> Optional[str]:
    """The version specifier of `torch` in project.dependencies, else in an optional dependency group."""
    project = pyproject.get("project")
    if not isinstance(project, dict):
        return None
    requirements: List[str] = []
    deps = project.get("dependencies")
    if isinstance(deps, list):
        requirements.extend(d for d in deps if isinstance(d, str))
    optional = project.get("optional-dependencies")
    if isinstance(optional, dict):
        for group in optional.values():
            if isinstance(group, list):
                requirements.extend(d for d in group if isinstance(d, str))
    # the main dependencies come first, so they win over an extra's narrower pin
    for requirement in requirements:
        match = re.match(r"^\s*torch\s*(\[[^\]]*\])?\s*(?P<spec>[^;]*)", requirement)
        if match and not re.match(r"^\s*torch[\w.-]", requirement):
            return match.group("spec").strip() or None
    return None


def merge_cli(
    settings: Settings,
    select: Optional[Sequence[str]] = None,
    ignore: Sequence[str] = (),
    extend_select: Sequence[str] = (),
) -> Settings:
    """Command-line selection: --select replaces the configured one, the others add to it."""
    return replace(
        settings,
        select=tuple(select) if select else settings.select,
        ignore=settings.ignore + tuple(ignore),
        extend_select=settings.extend_select + tuple(extend_select),
    )


@dataclass
class ConfigResolver:
    """Finds and caches the configuration that applies to each linted path."""

    known_codes: Sequence[str]
    override_path: Optional[str] = None
    cli_select: Optional[Sequence[str]] = None
    cli_ignore: Sequence[str] = ()
    cli_extend_select: Sequence[str] = ()
    _by_file: Dict[Optional[str], Settings] = field(default_factory=dict)
    _by_dir: Dict[str, Optional[str]] = field(default_factory=dict)
    _declared_by_dir: Dict[str, Optional[str]] = field(default_factory=dict)
    _with_declared: Dict[Tuple[Optional[str], str], Settings] = field(default_factory=dict)

    def for_path(self, path: str) -> Settings:
        """Settings for a file or directory. Raises ConfigError for a bad configuration file."""
        config_path = self.override_path if self.override_path else self._find(path)
        settings = self._by_file.get(config_path)
        if settings is None:
            base = load_config(config_path, self.known_codes) if config_path else Settings(root=os.getcwd())
            settings = merge_cli(base, self.cli_select, self.cli_ignore, self.cli_extend_select)
            self._by_file[config_path] = settings
        if settings.target_torch is None:
            # no configured range: the project's own declared torch requirement says which versions it supports
            declared = self._declared_torch(path)
            if declared is not None:
                key = (config_path, declared)
                if key not in self._with_declared:
                    self._with_declared[key] = replace(settings, target_torch=declared)
                settings = self._with_declared[key]
        return settings

    def _declared_torch(self, path: str) -> Optional[str]:
        """The torch requirement declared by the nearest pyproject.toml at or above `path`."""
        directory = os.path.abspath(path if os.path.isdir(path) else os.path.dirname(path) or ".")
        visited = []
        declared: Optional[str] = None
        while True:
            if directory in self._declared_by_dir:
                declared = self._declared_by_dir[directory]
                break
            visited.append(directory)
            candidate = os.path.join(directory, "pyproject.toml")
            if os.path.isfile(candidate):
                # the nearest pyproject.toml is the project boundary, whether or not it names torch;
                # a file that does not parse is not ours to report unless it configures serialint
                try:
                    with open(candidate, "rb") as handle:
                        declared = declared_torch_requirement(tomllib.load(handle))
                except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError):
                    declared = None
                break
            parent = os.path.dirname(directory)
            if parent == directory:
                break
            directory = parent
        for seen in visited:
            self._declared_by_dir[seen] = declared
        return declared

    def _find(self, path: str) -> Optional[str]:
        directory = os.path.abspath(path if os.path.isdir(path) else os.path.dirname(path) or ".")
        if directory not in self._by_dir:
            found = find_config(directory)
            self._by_dir[directory] = _display_path(found) if found else None
        return self._by_dir[directory]


def _display_path(path: str) -> str:
    """A found configuration file as messages name it: relative below the working directory."""
    try:
        rel = os.path.relpath(path)
    except ValueError:  # another drive on Windows
        return path
    return path if rel.startswith(os.pardir + os.sep) else rel
