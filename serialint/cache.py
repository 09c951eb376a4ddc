"""The result cache: a file whose text, settings and cross-file answers are unchanged is not re-linted.

One JSON entry per linted file, named after a hash of its absolute path, under the cache directory
(default `.serialint_cache` in the project root). An entry holds:

- `code`: a fingerprint of the linter itself: serialint's version, the text of every module of the
  package, the Python version and libcst's version. Any change discards every entry.
- `source`, `module`: a digest of the file's text, and the module name its place in the packages
  gives it. With them the file's index summary (the cheap `ast` pass) is kept, so that a warm run
  does not parse anything.
- `result`: the findings and errors of the last lint, under `key` (a digest of the text, the
  display path, the enabled rules and every setting that can change a result) and `log`.

The log is what makes cross-file reuse sound. A file's analysis learns about other files only by
asking the project index (is this class a Module? what are its bases? ...) and whether a class is
pickled somewhere. While a file is linted, those questions go through a recording stand-in, which
notes each question with its answer; an answer naming another file's summary is noted as that
summary's digest (all of it: imports, bindings, classes with their bases and methods; it holds no
line numbers except where a class's base name is rebound later in its module, so such a file's
dependents are re-linted when lines move above that class). Before a cached result is used, every
noted question is asked again of the current index, and the result is used only if every answer is
the same. So an edit that leaves a file's summary unchanged (a comment, a function body) re-lints
that file alone, and an edit that changes what a class derives from re-lints exactly the files
whose analysis would now get another answer. A question the stand-in does not know makes the
result uncacheable rather than trusted.

Entries are written to a temporary file and renamed into place. An entry that cannot be read,
does not parse, or does not have exactly the expected shape is ignored (and later overwritten); a
directory that cannot be written means no caching, silently. Nothing is pickled.
"""

from __future__ import annotations

import dataclasses
import enum
import hashlib
import json
import os
import sys
import tempfile
import types
import typing
from collections.abc import Set as AbstractSet
from typing import TYPE_CHECKING, Any, Dict, FrozenSet, Iterable, Iterator, List, Optional, Tuple

from serialint import __version__
from serialint.config import CONFIG_FILES, ConfigError, ConfigResolver, Settings
from serialint.findings import FileResult, Finding, LintError
from serialint.index import BaseClass, ClassSummary, FileSummary, ProjectIndex

if TYPE_CHECKING:
    from serialint.engine import Linter, SourceFile

SCHEMA = 1
DEFAULT_DIRECTORY = ".serialint_cache"
ENV_DIRECTORY = "SERIALINT_CACHE_DIR"

# Settings that only decide which files are linted, not what is found in one.
_DISCOVERY_SETTINGS = frozenset({"exclude", "extend_exclude", "respect_gitignore", "cache_dir"})


class CacheFormatError(ValueError):
    """An entry that is not exactly what this version writes."""


class _Uncacheable(Exception):
    """The analysis used the index in a way the log cannot replay."""


# -- where the cache lives ---------------------------------------------------------------------


def project_root(config_path: Optional[str] = None, start: Optional[str] = None) -> str:
    """The directory of `--config`, else of the nearest configuration file or pyproject.toml at or
    above the working directory, else the working directory."""
    if config_path:
        return os.path.dirname(os.path.abspath(config_path))
    here = os.path.abspath(start or os.getcwd())
    directory = here
    while True:
        if any(os.path.isfile(os.path.join(directory, name)) for name in CONFIG_FILES):
            return directory
        parent = os.path.dirname(directory)
        if parent == directory:
            return here
        directory = parent


def cache_directory(
    option: Optional[str], configured: Optional[str], root: str, environ: Optional[typing.Mapping[str, str]] = None
) -> str:
    """`--cache-dir`, else $SERIALINT_CACHE_DIR, else the configured `cache-dir`, else
    `.serialint_cache` in the project root."""
    env = (environ if environ is not None else os.environ).get(ENV_DIRECTORY)
    for candidate in (option, env, configured):
        if candidate:
            return os.path.abspath(os.path.expanduser(candidate))
    return os.path.join(root, DEFAULT_DIRECTORY)


def open_project_cache(
    resolver: ConfigResolver, config_path: Optional[str], option: Optional[str]
) -> Optional[ResultCache]:
    """The cache of the project the working directory is in (see `cache_directory`); None when it
    cannot be written."""
    root = project_root(config_path)
    configured: Optional[str] = None
    if not option and not os.environ.get(ENV_DIRECTORY):
        try:
            configured = resolver.for_path(root).cache_dir
        except ConfigError:
            pass  # reported for the files under that configuration
    return ResultCache.open(cache_directory(option, configured, root))


# -- the linter's fingerprint -------------------------------------------------------------------

_FINGERPRINT: Optional[str] = None


def code_fingerprint() -> str:
    """A digest of everything besides the input that decides a result: serialint's own source,
    its version, the Python version, libcst's version."""
    global _FINGERPRINT
    if _FINGERPRINT is None:
        digest = hashlib.blake2b(digest_size=16)
        for part in (__version__, sys.version, sys.implementation.cache_tag or "", str(SCHEMA)):
            digest.update(part.encode("utf-8") + b"\0")
        package = os.path.dirname(os.path.abspath(__file__))
        for relative in _package_sources(package):
            digest.update(relative.encode("utf-8") + b"\0")
            digest.update(_read_bytes(os.path.join(package, relative)) + b"\0")
        digest.update(_libcst_version())
        _FINGERPRINT = digest.hexdigest()
    return _FINGERPRINT


def _package_sources(package: str) -> List[str]:
    found = []
    for directory, subdirectories, files in os.walk(package):
        subdirectories[:] = sorted(d for d in subdirectories if d != "__pycache__")
        for name in files:
            if name.endswith(".py"):
                found.append(os.path.relpath(os.path.join(directory, name), package).replace(os.sep, "/"))
    return sorted(found)


def _read_bytes(path: str) -> bytes:
    try:
        with open(path, "rb") as handle:
            return handle.read()
    except OSError:
        return b"<unreadable>"


def _libcst_version() -> bytes:
    """libcst's generated version file, found without importing libcst."""
    import importlib.util

    try:
        spec = importlib.util.find_spec("libcst")
    except (ImportError, ValueError):
        spec = None
    if spec is None or not spec.origin:
        return b"<no libcst>"
    return spec.origin.encode("utf-8") + _read_bytes(os.path.join(os.path.dirname(spec.origin), "_version.py"))


def content_digest(text: str) -> str:
    return hashlib.blake2b(text.encode("utf-8", "surrogatepass"), digest_size=16).hexdigest()


def _digest(data: Any) -> str:
    encoded = json.dumps(data, sort_keys=True, ensure_ascii=True, separators=(",", ":"))
    return hashlib.blake2b(encoded.encode("ascii"), digest_size=16).hexdigest()


# -- plain-data encoding, driven by the dataclasses' type hints ----------------------------------

_HINTS: Dict[type, Dict[str, Any]] = {}
_CODEC_TYPES = (FileSummary, ClassSummary, Finding, LintError)


def _hints(cls: type) -> Dict[str, Any]:
    hints = _HINTS.get(cls)
    if hints is None:
        hints = _HINTS[cls] = typing.get_type_hints(cls)
    return hints


def _is_union(origin: Any) -> bool:
    return origin is typing.Union or (_UNION_TYPE is not None and origin is _UNION_TYPE)


_UNION_TYPE = getattr(types, "UnionType", None)  # `X | None`, Python 3.10+


def _encode(value: Any, hint: Any) -> Any:
    origin = typing.get_origin(hint)
    args = typing.get_args(hint)
    if hint is Any:
        raise CacheFormatError("untyped value")
    if _is_union(origin):
        if value is None:
            return None
        return _encode(value, next(a for a in args if a is not type(None)))
    if hint in (str, bool, int):
        if type(value) is not hint:
            raise CacheFormatError(f"expected {hint.__name__}")
        return value
    if isinstance(hint, type) and issubclass(hint, enum.Enum):
        return hint(value).value
    if isinstance(hint, type) and dataclasses.is_dataclass(hint):
        return {f.name: _encode(getattr(value, f.name), _hints(hint)[f.name]) for f in dataclasses.fields(hint)}
    if origin is tuple:
        if len(args) == 2 and args[1] is Ellipsis:
            return [_encode(item, args[0]) for item in value]
        return _encode_fixed(value, args)
    if origin in (list, frozenset, set):
        items = [_encode(item, args[0]) for item in value]
        if origin is not list:
            items.sort(key=lambda item: json.dumps(item, sort_keys=True))
        return items
    if origin is dict:
        return [[_encode(key, args[0]), _encode(item, args[1])] for key, item in value.items()]
    raise CacheFormatError(f"cannot encode {hint!r}")


def _encode_fixed(value: Any, args: Tuple[Any, ...]) -> List[Any]:
    if len(value) != len(args):
        raise CacheFormatError("tuple of the wrong length")
    return [_encode(item, arg) for item, arg in zip(value, args)]


def _decode(data: Any, hint: Any) -> Any:
    origin = typing.get_origin(hint)
    args = typing.get_args(hint)
    if _is_union(origin):
        if data is None and type(None) in args:
            return None
        return _decode(data, next(a for a in args if a is not type(None)))
    if hint in (str, bool, int):
        if type(data) is not hint:
            raise CacheFormatError(f"expected {hint.__name__}")
        return data
    if isinstance(hint, type) and issubclass(hint, enum.Enum):
        return hint(data)
    if isinstance(hint, type) and dataclasses.is_dataclass(hint):
        if hint not in _CODEC_TYPES and hint not in _NESTED_TYPES:
            raise CacheFormatError(f"unexpected type {hint.__name__}")
        names = [f.name for f in dataclasses.fields(hint)]
        if not isinstance(data, dict) or sorted(data) != sorted(names):
            raise CacheFormatError(f"not a {hint.__name__}")
        hints = _hints(hint)
        return hint(**{name: _decode(data[name], hints[name]) for name in names})
    if not isinstance(data, list):
        raise CacheFormatError("expected a list")
    if origin is tuple:
        if len(args) == 2 and args[1] is Ellipsis:
            return tuple(_decode(item, args[0]) for item in data)
        if len(data) != len(args):
            raise CacheFormatError("tuple of the wrong length")
        return tuple(_decode(item, arg) for item, arg in zip(data, args))
    if origin is list:
        return [_decode(item, args[0]) for item in data]
    if origin in (frozenset, set):
        return frozenset(_decode(item, args[0]) for item in data)
    if origin is dict:
        result = {}
        for pair in data:
            if not isinstance(pair, list) or len(pair) != 2:
                raise CacheFormatError("expected a key and a value")
            result[_decode(pair[0], args[0])] = _decode(pair[1], args[1])
        return result
    raise CacheFormatError(f"cannot decode {hint!r}")


def _nested_types() -> FrozenSet[type]:
    from serialint.findings import Edit, Fix
    from serialint.index import Binding

    return frozenset({Binding, Edit, Fix})


_NESTED_TYPES = _nested_types()


def encode_summary(summary: FileSummary) -> Dict[str, Any]:
    return _encode(summary, FileSummary)  # type: ignore[no-any-return]


def decode_summary(data: Any) -> FileSummary:
    return _decode(data, FileSummary)  # type: ignore[no-any-return]


def encode_result(result: FileResult) -> Dict[str, Any]:
    return {
        "findings": [_encode(f, Finding) for f in result.findings],
        "errors": [_encode(e, LintError) for e in result.errors],
    }


def decode_result(data: Any, path: str) -> FileResult:
    if not isinstance(data, dict) or sorted(data) != ["errors", "findings"]:
        raise CacheFormatError("not a result")
    if not isinstance(data["findings"], list) or not isinstance(data["errors"], list):
        raise CacheFormatError("not a result")
    result = FileResult(path)
    result.findings = [dataclasses.replace(_decode(f, Finding), path=path) for f in data["findings"]]
    result.errors = [dataclasses.replace(_decode(e, LintError), path=path) for e in data["errors"]]
    return result


def summary_digest(summary: FileSummary) -> str:
    """A digest of everything another file's analysis can read of `summary`."""
    return _digest(encode_summary(summary))


# -- recording the analysis' cross-file questions -------------------------------------------------

# ProjectIndex queries a file's analysis may ask, with the kind of each argument ("file": a summary,
# "file?": a summary or None, "names": method names); anything else on the index makes a result
# uncacheable.
QUERIES: Dict[str, Tuple[str, ...]] = {
    "is_module_class": ("str", "file?"),
    "is_module_class_in": ("file", "str"),
    "is_module_reference": ("file", "str"),
    "resolve_reference": ("file", "str"),
    "resolve_class": ("str", "file?"),
    "canonical": ("str", "file?"),
    "bases_of": ("file", "str"),
    "defines_in_hierarchy": ("str", "names", "file?"),
    "defines_in_hierarchy_in": ("file", "str", "names"),
}
_PICKLED = "pickled"
_EXTRA_BASES = "extra_bases"


def _norm(path: str) -> str:
    return os.path.normcase(os.path.normpath(os.path.abspath(path)))


class SummaryDigests:
    """Digests of the run's summaries (computed once each), and the summaries by path."""

    def __init__(self, index: ProjectIndex) -> None:
        self.index = index
        self._digests: Dict[int, str] = {}
        self._by_path: Optional[Dict[str, FileSummary]] = None

    def digest(self, summary: FileSummary) -> str:
        found = self._digests.get(id(summary))
        if found is None:
            found = self._digests[id(summary)] = summary_digest(summary)
        return found

    def by_path(self, path: str) -> Optional[FileSummary]:
        if self._by_path is None:
            self._by_path = {}
            for summary in self.index.summaries:
                self._by_path.setdefault(_norm(summary.path), summary)
        return self._by_path.get(path)

    def answer(self, value: Any) -> Any:
        """An answer as plain data; another file's summary as its path and digest."""
        if value is None or isinstance(value, (bool, str)):
            return value
        if isinstance(value, FileSummary):
            return {"file": _norm(value.path), "digest": self.digest(value)}
        if isinstance(value, ClassSummary):
            return {"class": _encode(value, ClassSummary)}
        if isinstance(value, BaseClass):
            return {"base": [value.qualname, self.answer(value.summary), self.answer(value.cls)]}
        if isinstance(value, (list, tuple)):
            return [self.answer(item) for item in value]
        raise _Uncacheable(type(value).__name__)

    def argument(self, value: Any) -> Any:
        if value is None or isinstance(value, str):
            return value
        if isinstance(value, FileSummary):
            return {"file": _norm(value.path)}
        if isinstance(value, (list, tuple, frozenset, set)) and all(isinstance(v, str) for v in value):
            return {"names": sorted(value)}
        raise _Uncacheable(type(value).__name__)

    def restore(self, data: Any) -> Any:
        """An argument for replay; raises KeyError for a file no longer in the project."""
        if data is None or isinstance(data, str):
            return data
        if isinstance(data, dict) and list(data) == ["file"] and isinstance(data["file"], str):
            summary = self.by_path(data["file"])
            if summary is None:
                raise KeyError(data["file"])
            return summary
        if isinstance(data, dict) and list(data) == ["names"] and isinstance(data["names"], list):
            return tuple(str(name) for name in data["names"])
        raise CacheFormatError("not an argument")


class Recorder:
    """Stands in for the index and the pickled-class set during one file's analysis."""

    def __init__(self, index: ProjectIndex, pickled: FrozenSet[str], summaries: SummaryDigests) -> None:
        self.summaries = summaries
        self.log: Dict[str, List[Any]] = {}
        self.uncacheable = False
        self.index = RecordingIndex(index, self)
        self.pickled = RecordingSet(pickled, self)

    def note(self, query: str, arguments: List[Any], answer: Any) -> None:
        if self.uncacheable:
            return
        try:
            plain_arguments = [self.summaries.argument(a) for a in arguments]
            key = json.dumps([query, plain_arguments], sort_keys=True)
            if key not in self.log:
                self.log[key] = [query, plain_arguments, self.summaries.answer(answer)]
        except _Uncacheable:
            self.uncacheable = True

    def entries(self) -> Optional[List[List[Any]]]:
        """The questions and answers in the order first asked; None when they cannot be replayed."""
        return None if self.uncacheable else list(self.log.values())


class RecordingIndex:
    """A ProjectIndex that notes every question and its answer (see the module docstring)."""

    def __init__(self, index: ProjectIndex, recorder: Recorder) -> None:
        self._recorded_index = index
        self._recorder = recorder

    def _ask(self, query: str, *arguments: Any) -> Any:
        materialised = [tuple(a) if _is_name_iterable(a) else a for a in arguments]
        answer = getattr(self._recorded_index, query)(*materialised)
        self._recorder.note(query, materialised, answer)
        return answer

    def is_module_class(self, qualname: str, context: Optional[FileSummary] = None) -> bool:
        return self._ask("is_module_class", qualname, context)  # type: ignore[no-any-return]

    def is_module_class_in(self, summary: FileSummary, class_name: str) -> bool:
        return self._ask("is_module_class_in", summary, class_name)  # type: ignore[no-any-return]

    def is_module_reference(self, summary: FileSummary, dotted: str) -> bool:
        return self._ask("is_module_reference", summary, dotted)  # type: ignore[no-any-return]

    def resolve_reference(self, summary: FileSummary, dotted: str) -> Optional[str]:
        return self._ask("resolve_reference", summary, dotted)  # type: ignore[no-any-return]

    def resolve_class(
        self, qualname: str, context: Optional[FileSummary] = None
    ) -> Optional[Tuple[FileSummary, ClassSummary]]:
        return self._ask("resolve_class", qualname, context)  # type: ignore[no-any-return]

    def canonical(self, qualname: str, context: Optional[FileSummary] = None) -> str:
        return self._ask("canonical", qualname, context)  # type: ignore[no-any-return]

    def bases_of(self, summary: FileSummary, class_name: str) -> List[BaseClass]:
        return self._ask("bases_of", summary, class_name)  # type: ignore[no-any-return]

    def defines_in_hierarchy(
        self, qualname: str, method_names: Iterable[str], context: Optional[FileSummary] = None
    ) -> bool:
        return self._ask("defines_in_hierarchy", qualname, method_names, context)  # type: ignore[no-any-return]

    def defines_in_hierarchy_in(self, summary: FileSummary, class_name: str, method_names: Iterable[str]) -> bool:
        return self._ask("defines_in_hierarchy_in", summary, class_name, method_names)  # type: ignore[no-any-return]

    @property
    def extra_bases(self) -> FrozenSet[str]:
        value = self._recorded_index.extra_bases
        self._recorder.note(_EXTRA_BASES, [], sorted(value))
        return value

    def __getattr__(self, name: str) -> Any:
        # a use of the index the log cannot replay: still answered, never cached
        self._recorder.uncacheable = True
        return getattr(self._recorded_index, name)


def _is_name_iterable(value: Any) -> bool:
    return not isinstance(value, (str, FileSummary)) and value is not None and isinstance(value, Iterable)


class RecordingSet(AbstractSet):  # type: ignore[type-arg]
    """The pickled-class set; membership tests are noted, anything else makes the result uncacheable."""

    def __init__(self, items: FrozenSet[str], recorder: Recorder) -> None:
        self._items = items
        self._recorder = recorder

    def __contains__(self, item: object) -> bool:
        answer = item in self._items
        if isinstance(item, str):
            self._recorder.note(_PICKLED, [item], answer)
        else:
            self._recorder.uncacheable = True
        return answer

    def __iter__(self) -> Iterator[str]:
        self._recorder.uncacheable = True
        return iter(self._items)

    def __len__(self) -> int:
        self._recorder.uncacheable = True
        return len(self._items)

    def __hash__(self) -> int:
        self._recorder.uncacheable = True
        return hash(self._items)


def replay(log: Any, index: ProjectIndex, pickled: FrozenSet[str], summaries: SummaryDigests) -> bool:
    """Whether every noted question gets the same answer from the current index."""
    if not isinstance(log, list):
        raise CacheFormatError("not a log")
    for entry in log:
        if not isinstance(entry, list) or len(entry) != 3 or not isinstance(entry[0], str):
            raise CacheFormatError("not a log entry")
        query, arguments, expected = entry
        if not isinstance(arguments, list):
            raise CacheFormatError("not a log entry")
        try:
            restored = [summaries.restore(a) for a in arguments]
        except KeyError:
            return False
        if query == _PICKLED:
            if len(restored) != 1 or not isinstance(restored[0], str):
                raise CacheFormatError("not a log entry")
            answer: Any = restored[0] in pickled
        elif query == _EXTRA_BASES:
            answer = sorted(index.extra_bases)
        elif query in QUERIES:
            if not _fits(restored, QUERIES[query]):
                raise CacheFormatError(f"arguments that do not fit {query}")
            answer = getattr(index, query)(*restored)
        else:
            raise CacheFormatError(f"unknown query {query!r}")
        try:
            if summaries.answer(answer) != expected:
                return False
        except _Uncacheable:
            return False
    return True


def _fits(arguments: List[Any], kinds: Tuple[str, ...]) -> bool:
    if len(arguments) != len(kinds):
        return False
    for argument, kind in zip(arguments, kinds):
        if kind == "str":
            fits = isinstance(argument, str)
        elif kind == "names":
            fits = isinstance(argument, tuple)
        else:
            fits = isinstance(argument, FileSummary) or (kind == "file?" and argument is None)
        if not fits:
            return False
    return True


# -- the entries ---------------------------------------------------------------------------------


@dataclasses.dataclass
class Entry:
    """One file's entry as read: its summary (when still valid) and its last result."""

    path: str  # the entry file
    data: Dict[str, Any]
    summary: Optional[FileSummary] = None
    pickled_refs: FrozenSet[str] = frozenset()


def result_key(source: SourceFile, linter: Linter) -> str:
    """A digest of what, besides other files, decides the file's result."""
    settings = source.settings
    assert settings is not None and source.summary is not None
    enabled = linter.enabled_for(source.path, settings)
    relevant = {
        f.name: _plain(getattr(settings, f.name))
        for f in dataclasses.fields(Settings)
        if f.name not in _DISCOVERY_SETTINGS
    }
    return _digest(
        {
            "code": code_fingerprint(),
            "path": source.path,
            "source": source.digest,
            "module": [source.summary.module, source.summary.is_package],
            "rules": sorted(enabled),
            "rule_classes": linter.rule_identity(enabled),
            "prefilter": linter.prefilter,
            "settings": relevant,
        }
    )


def _plain(value: Any) -> Any:
    if isinstance(value, (tuple, list)):
        return [_plain(v) for v in value]
    if isinstance(value, (frozenset, set)):
        return sorted(_plain(v) for v in value)
    if value is None or isinstance(value, (str, int, bool, float)):
        return value
    return repr(value)


class ResultCache:
    """Per-file entries in one directory (see the module docstring)."""

    def __init__(self, directory: str) -> None:
        self.directory = directory
        self.entries_directory = os.path.join(directory, f"v{SCHEMA}")
        self.hits: List[str] = []  # display paths served from the cache, in this run
        self.misses: List[str] = []  # display paths linted
        self.summaries_reused = 0
        self._summaries: Optional[SummaryDigests] = None

    @classmethod
    def open(cls, directory: str) -> Optional[ResultCache]:
        """The cache in `directory`, created with a `.gitignore` if needed; None if it cannot be written."""
        cache = cls(directory)
        try:
            os.makedirs(cache.entries_directory, exist_ok=True)
            ignore = os.path.join(directory, ".gitignore")
            if not os.path.isfile(ignore):
                _write_atomically(ignore, "# created by serialint\n*\n")
                os.chmod(ignore, 0o644)  # a temporary file is private; git should read this one like any
            if not os.access(cache.entries_directory, os.W_OK):
                return None
        except (OSError, ValueError):
            return None
        return cache

    # -- reading ----------------------------------------------------------------------------------
    def _entry_path(self, path: str) -> str:
        name = hashlib.blake2b(_norm(path).encode("utf-8", "surrogatepass"), digest_size=16).hexdigest()
        return os.path.join(self.entries_directory, f"{name}.json")

    def attach(self, source: SourceFile, module: Tuple[str, bool]) -> None:
        """Give `source` its cached summary, when the entry is for this text and place."""
        assert source.text is not None
        source.digest = content_digest(source.text)
        entry_path = self._entry_path(source.path)
        data = _load(entry_path)
        if data is None:
            return
        entry = Entry(entry_path, data)
        source.cache_entry = entry
        if data.get("source") != source.digest or data.get("module") != [module[0], module[1]]:
            return
        try:
            summary = decode_summary(data.get("summary"))
            refs = data.get("pickled_refs")
            if not isinstance(refs, list) or not all(isinstance(r, str) for r in refs):
                raise CacheFormatError("not a list of names")
        except (CacheFormatError, ValueError, TypeError, RecursionError):
            source.cache_entry = None
            return
        if summary.path != "" or summary.module != module[0] or summary.is_package != module[1]:
            source.cache_entry = None
            return
        source.summary = dataclasses.replace(summary, path=source.path)
        source.pickled_refs = frozenset(refs)
        entry.summary = source.summary
        self.summaries_reused += 1

    def result(self, source: SourceFile, key: str, index: ProjectIndex, pickled: FrozenSet[str]) -> Optional[FileResult]:
        """The cached result, if its key matches and every cross-file answer it used still holds."""
        entry = source.cache_entry
        if entry is None or entry.summary is None:
            return None
        stored = entry.data.get("result")
        if not isinstance(stored, dict) or stored.get("key") != key:
            return None
        try:
            if not replay(stored.get("log"), index, pickled, self.summaries_for(index)):
                return None
            return decode_result({k: stored.get(k) for k in ("findings", "errors")}, source.path)
        except (CacheFormatError, ValueError, TypeError, RecursionError):
            return None

    def summaries_for(self, index: ProjectIndex) -> SummaryDigests:
        if self._summaries is None or self._summaries.index is not index:
            self._summaries = SummaryDigests(index)
        return self._summaries

    # -- writing ----------------------------------------------------------------------------------
    def store(self, source: SourceFile, key: str, result: FileResult, log: Optional[List[List[Any]]]) -> None:
        """Write the file's entry; silently nothing when it cannot be."""
        if source.summary is None or source.text is None or source.digest is None:
            return
        if any(f.path != source.path for f in result.findings) or any(e.path != source.path for e in result.errors):
            return  # only results about the file itself can be re-attached to it
        try:
            data: Dict[str, Any] = {
                "schema": SCHEMA,
                "code": code_fingerprint(),
                "source": source.digest,
                "module": [source.summary.module, source.summary.is_package],
                "summary": encode_summary(dataclasses.replace(source.summary, path="")),
                "pickled_refs": sorted(source.pickled_refs),
                "result": None,
            }
            if log is not None:
                data["result"] = {"key": key, "log": log, **encode_result(result)}
            text = json.dumps(data, ensure_ascii=True, separators=(",", ":"))
        except (CacheFormatError, TypeError, ValueError, RecursionError):
            return
        try:
            _write_atomically(self._entry_path(source.path), text)
        except OSError:
            pass


def _load(path: str) -> Optional[Dict[str, Any]]:
    try:
        with open(path, "rb") as handle:
            raw = handle.read()
    except OSError:
        return None
    try:
        data = json.loads(raw.decode("ascii"))
    except (ValueError, RecursionError):
        return None
    if not isinstance(data, dict) or data.get("schema") != SCHEMA or data.get("code") != code_fingerprint():
        return None
    return data


def _write_atomically(path: str, text: str) -> None:
    directory = os.path.dirname(path)
    handle, temporary = tempfile.mkstemp(dir=directory, prefix=".tmp-", suffix=".part")
    try:
        with os.fdopen(handle, "w", encoding="ascii", newline="") as stream:
            stream.write(text)
        os.replace(temporary, path)
    except BaseException:
        try:
            os.unlink(temporary)
        except OSError:
            pass
        raise

