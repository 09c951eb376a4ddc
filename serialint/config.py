"""Configuration: `[tool.serialint]` in pyproject.toml, or serialint.toml / .serialint.toml."""

from __future__ import annotations

import fnmatch
import os
import re
import sys
from dataclasses import dataclass, field, replace
from typing import Any, Dict, FrozenSet, Iterable, List, Mapping, Optional, Sequence, Tuple

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

    def __init__(self, path: str, message: str, line: Optional[int] = None) -> None:
        self.path = path
        self.line = line
        self.message = message
        where = f"{path}:{line}" if line is not None else path
        super().__init__(f"{where}: {message}")


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

    def enabled_codes(self, all_codes: Sequence[str], default_codes: Iterable[str]) -> FrozenSet[str]:
        """Codes enabled by select/extend-select/ignore: the most specific prefix wins, ignore on a tie."""
        selectors = list(self.select) if self.select is not None else list(default_codes)
        selectors += list(self.extend_select)
        enabled = set()
        for code in all_codes:
            chosen = _longest_prefix(code, selectors)
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
        rel = _relative(path, self.root)
        parts = rel.split("/")
        for pattern in (*self.exclude, *self.extend_exclude):
            if _glob_match(rel, pattern) or any(fnmatch.fnmatchcase(part, pattern) for part in parts):
                return True
        return False


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

_LIST_KEYS = ("select", "ignore", "extend-select", "exclude", "extend-exclude", "module-bases")
_KNOWN_KEYS = frozenset(_LIST_KEYS + ("per-file-ignores", "respect-gitignore", "target-torch"))


def find_config(start: str) -> Optional[str]:
    """The nearest configuration file at or above `start` (a file or a directory)."""
    directory = os.path.abspath(start)
    if not os.path.isdir(directory):
        directory = os.path.dirname(directory)
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
    # Cheap text check first; a broken pyproject.toml that mentions the table is reported on load.
    try:
        with open(path, "rb") as handle:
            return b"tool.serialint" in handle.read()
    except OSError:
        return False


def load_config(path: str, known_codes: Sequence[str]) -> Settings:
    """Read and validate one configuration file. Raises ConfigError naming the file and key."""
    try:
        with open(path, "rb") as handle:
            data = tomllib.load(handle)
    except OSError as exc:
        raise ConfigError(path, f"cannot read configuration: {exc.strerror or exc}") from None
    except tomllib.TOMLDecodeError as exc:
        match = re.search(r"\(at line (\d+), column (\d+)\)", str(exc))
        line = int(match.group(1)) if match else None
        raise ConfigError(path, f"invalid TOML: {exc}", line) from None

    if os.path.basename(path) == "pyproject.toml":
        table: Any = data.get("tool", {}).get("serialint", {})
        prefix = "tool.serialint."
    else:
        table = data.get("tool", {}).get("serialint", data)
        prefix = ""
    if not isinstance(table, dict):
        raise ConfigError(path, f"[{prefix.rstrip('.') or 'serialint'}] must be a table")
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
            values[key] = tuple(value)
        elif key == "respect-gitignore":
            if not isinstance(value, bool):
                raise ConfigError(path, f"'{where}' must be true or false, got {_type_name(value)}")
            values[key] = value
        elif key == "target-torch":
            if not isinstance(value, str):
                raise ConfigError(path, f"'{where}' must be a version specifier string, got {_type_name(value)}")
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
    )


def check_selector(selector: str, known_codes: Sequence[str], path: str, where: str) -> None:
    if selector == "ALL":
        return
    if not any(code.startswith(selector) for code in known_codes) or not re.fullmatch(r"SER\d{0,3}", selector):
        raise ConfigError(path, f"'{where}': unknown rule code or prefix '{selector}'")


def _type_name(value: Any) -> str:
    return {str: "a string", bool: "a boolean", int: "an integer", float: "a number", list: "a list", dict: "a table"}.get(
        type(value), type(value).__name__
    )


def declared_torch_requirement(pyproject: Mapping[str, Any]) -> Optional[str]:
    """The version specifier of `torch` in project.dependencies or optional dependencies."""
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

    def for_path(self, path: str) -> Settings:
        """Settings for a file or directory. Raises ConfigError for a bad configuration file."""
        config_path = self.override_path if self.override_path else self._find(path)
        settings = self._by_file.get(config_path)
        if settings is None:
            base = load_config(config_path, self.known_codes) if config_path else Settings(root=os.getcwd())
            settings = merge_cli(base, self.cli_select, self.cli_ignore, self.cli_extend_select)
            self._by_file[config_path] = settings
        return settings

    def _find(self, path: str) -> Optional[str]:
        directory = os.path.abspath(path if os.path.isdir(path) else os.path.dirname(path) or ".")
        if directory not in self._by_dir:
            self._by_dir[directory] = find_config(directory)
        return self._by_dir[directory]
