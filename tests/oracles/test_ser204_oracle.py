"""SER204: a pickled class holding a resource cannot be pickled, saved whole or deep-copied."""

from __future__ import annotations

import ast
import copy
import gzip
import importlib
import importlib.util
import io
import os
import pickle
import queue
import re
import socket
import sys
import threading
import uuid
from types import ModuleType
from typing import Any, Callable, Dict, Iterator, List, Optional, Tuple, Type

import libcst as cst

import pytest

torch = pytest.importorskip("torch")

from serialint.config import Settings  # noqa: E402
from serialint.findings import Finding  # noqa: E402
from serialint.index import ProjectIndex, summarize  # noqa: E402
from serialint.model import FileContext  # noqa: E402
from serialint.resources import RESOURCE_CALLS, STREAMS, Resource, ResourceClassifier  # noqa: E402
from support import CORPUS, fix_text, lint_corpus_file, load_corpus, load_source, positions  # noqa: E402

pytestmark = pytest.mark.oracle

FLAGGED = {
    "resources/diagnostics_log.py": [(18, 9, "SER204")],
    "resources/audited_encoder.py": [(19, 9, "SER204")],
    "resources/position_cache.py": [(15, 9, "SER204")],
    "resources/async_features.py": [(15, 9, "SER204")],
    "resources/calibration_stream.py": [(17, 9, "SER204"), (36, 9, "SER204")],
    "resources/embedding_store.py": [(12, 9, "SER204")],
    "resources/async_eval.py": [(10, 9, "SER204")],
    "resources/tensorboard_monitor.py": [(18, 13, "SER204")],
}
CLEAN = [
    "resources/transient_state.py",
    "resources/resource_base.py",
    "resources/event_log_model.py",
    "resources/safe_patterns.py",
]


def _findings(relpath: str) -> List[Finding]:
    """SER204 findings of one corpus file, from one run over the whole corpus."""
    return [f for f in lint_corpus_file(relpath) if f.code == "SER204"]


@pytest.mark.parametrize("relpath", sorted(FLAGGED))
def test_the_linter_flags_the_corpus_cases(relpath: str) -> None:
    assert positions(_findings(relpath)) == FLAGGED[relpath]


@pytest.mark.parametrize("relpath", CLEAN)
def test_the_linter_leaves_the_safe_corpus_alone(relpath: str) -> None:
    assert positions(_findings(relpath)) == []


Factory = Callable[[Any], Iterator[Any]]


def _diagnostics(tmp_path) -> Iterator[Any]:  # type: ignore[no-untyped-def]
    model = load_corpus("resources/diagnostics_log.py").DiagnosticClassifier(4, 2, str(tmp_path))
    yield model
    model.close()


def _audited(tmp_path) -> Iterator[Any]:  # type: ignore[no-untyped-def]
    model = load_corpus("resources/audited_encoder.py").AuditedEncoder(4, str(tmp_path / "audit.log"))
    yield model
    model.detach()


def _positions(tmp_path) -> Iterator[Any]:  # type: ignore[no-untyped-def]
    yield load_corpus("resources/position_cache.py").CachedSinusoidalPositions(8)


def _background(tmp_path) -> Iterator[Any]:  # type: ignore[no-untyped-def]
    yield load_corpus("resources/async_features.py").BackgroundFeatures(4)


def _calibrator(tmp_path) -> Iterator[Any]:  # type: ignore[no-untyped-def]
    yield load_corpus("resources/calibration_stream.py").StreamingCalibrator(torch.randn(64, 4), 16)


def _augment(tmp_path) -> Iterator[Any]:  # type: ignore[no-untyped-def]
    yield load_corpus("resources/calibration_stream.py").NoisyAugment(4)


def _embedding(tmp_path) -> Iterator[Any]:  # type: ignore[no-untyped-def]
    model = load_corpus("resources/embedding_store.py").CachedEmbedding(10, 4)
    yield model
    model.db.close()


def _scored(tmp_path) -> Iterator[Any]:  # type: ignore[no-untyped-def]
    model = load_corpus("resources/async_eval.py").ScoredModel(4, 3)
    yield model
    model.outbox.close()
    model.outbox.join_thread()


def _monitored(tmp_path) -> Iterator[Any]:  # type: ignore[no-untyped-def]
    pytest.importorskip("tensorboard")
    model = load_corpus("resources/tensorboard_monitor.py").MonitoredMLP([4, 8, 2], log_dir=str(tmp_path))
    yield model
    model.writer.close()


# (corpus file, finding index, factory, exception raised, its exact text)
CASES: List[Tuple[str, int, Factory, Type[Exception], str]] = [
    ("resources/diagnostics_log.py", 0, _diagnostics, TypeError, "cannot pickle '_io.TextIOWrapper' object"),
    ("resources/audited_encoder.py", 0, _audited, TypeError, "cannot pickle '_thread.RLock' object"),
    ("resources/position_cache.py", 0, _positions, TypeError, "cannot pickle '_thread.RLock' object"),
    ("resources/async_features.py", 0, _background, TypeError, "cannot pickle '_thread.lock' object"),
    ("resources/calibration_stream.py", 0, _calibrator, TypeError, "cannot pickle 'generator' object"),
    ("resources/calibration_stream.py", 1, _augment, TypeError, "cannot pickle 'generator' object"),
    ("resources/embedding_store.py", 0, _embedding, TypeError, "cannot pickle 'sqlite3.Connection' object"),
    (
        "resources/async_eval.py",
        0,
        _scored,
        RuntimeError,
        "Queue objects should only be shared between processes through inheritance",
    ),
    ("resources/tensorboard_monitor.py", 0, _monitored, TypeError, "cannot pickle '_thread.lock' object"),
]


@pytest.mark.parametrize(
    "relpath, finding, factory, exception, text",
    CASES,
    ids=[f"{case[0].split('/')[-1]}-{case[1]}" for case in CASES],
)
def test_pickle_save_and_deepcopy_fail_as_the_message_says(relpath, finding, factory, exception, text, tmp_path):
    message = _findings(relpath)[finding].message
    assert message.endswith(f"torch.save(model), pickle and copy.deepcopy fail ({text})")
    made = factory(tmp_path)
    model = next(made)
    pattern = f"^{re.escape(text)}$"
    with pytest.raises(exception, match=pattern):
        pickle.dumps(model)
    with pytest.raises(exception, match=pattern):
        torch.save(model, io.BytesIO())
    with pytest.raises(exception, match=pattern):
        copy.deepcopy(model)
    # the parameters alone were never the problem
    torch.save(model.state_dict(), io.BytesIO())
    next(made, None)


def _load_from_package(module: str) -> ModuleType:
    """Import a corpus module as part of a fresh copy of its package, so relative imports work."""
    package_dir = os.path.join(CORPUS, "resources")
    package = f"corpus_{uuid.uuid4().hex}"
    spec = importlib.util.spec_from_file_location(
        package, os.path.join(package_dir, "__init__.py"), submodule_search_locations=[package_dir]
    )
    assert spec is not None and spec.loader is not None
    sys.modules[package] = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(sys.modules[package])
    return importlib.import_module(f"{package}.{module}")


def _round_trip(model):  # type: ignore[no-untyped-def]
    buffer = io.BytesIO()
    torch.save(model, buffer)
    buffer.seek(0)
    return torch.load(buffer, weights_only=False)


def test_getstate_pattern_round_trips_and_reopens_the_resources(tmp_path):
    corpus = load_corpus("resources/transient_state.py")
    log_path = tmp_path / "diag.tsv"
    model = corpus.DiagnosticClassifier(4, 2, str(log_path))
    model(torch.randn(3, 4))
    for restored in (_round_trip(model), copy.deepcopy(model)):
        assert restored.log_file is not model.log_file and not restored.log_file.closed
        assert type(restored._write_lock) is type(threading.Lock())
        assert restored._write_lock is not model._write_lock
        assert torch.equal(restored.head.weight, model.head.weight)
        restored(torch.randn(5, 4))
        restored.log_file.close()
    # the live instance kept its resources: the pickled state was a copy
    assert not model.log_file.closed and "log_file" in vars(model)
    model(torch.randn(2, 4))
    model.log_file.close()
    # one line per forward call: the original's two and one from each restored copy
    assert sorted(log_path.read_text().splitlines()) == ["2", "3", "5", "5"]


def test_getstate_from_super_survives_in_place_compile(tmp_path):
    corpus = load_corpus("resources/transient_state.py")
    model = corpus.DiagnosticClassifier(4, 2, str(tmp_path / "diag.tsv"))
    model.compile()  # wraps the call; nothing is compiled until the first forward
    restored = _round_trip(model)
    assert "_compiled_call_impl" not in vars(restored)
    restored.log_file.close()

    class HandMade(corpus.DiagnosticClassifier):
        def __getstate__(self):
            state = self.__dict__.copy()
            state.pop("log_file")
            state.pop("_write_lock")
            return state

    # pickle finds classes by module and name: place it where it can be found
    HandMade.__module__, HandMade.__qualname__ = corpus.__name__, "HandMade"
    corpus.HandMade = HandMade

    # the pattern the rule warns against: the compiled call is copied along and cannot pickle
    hand_made = HandMade(4, 2, str(tmp_path / "other.tsv"))
    hand_made.compile()
    with pytest.raises(pickle.PicklingError, match="Can't pickle <function Module._call_impl"):
        torch.save(hand_made, io.BytesIO())
    model.log_file.close()
    hand_made.log_file.close()


def test_base_class_in_another_file_handles_the_subclass_resource(tmp_path):
    corpus = _load_from_package("event_log_model")
    model = corpus.EventLoggedNet(3, str(tmp_path / "events.log"))
    model(torch.randn(1, 3))
    restored = _round_trip(model)
    copied = copy.deepcopy(model)
    for clone in (restored, copied):
        assert clone.events is not model.events and not clone.events.closed
        clone(torch.randn(1, 3))
        clone.events.close()
    model.events.close()
    assert (tmp_path / "events.log").read_text() == "forward\n" * 3


def test_safe_patterns_pickle(tmp_path):
    corpus = load_corpus("resources/safe_patterns.py")
    vocab = tmp_path / "vocab.txt"
    vocab.write_text("<pad>\nhello\nworld\n")
    tokenizer = corpus.Tokenizer(str(vocab))
    tokenizer(torch.tensor([1, 2]))
    for clone in (_round_trip(tokenizer), copy.deepcopy(tokenizer), pickle.loads(pickle.dumps(tokenizer))):
        assert clone.vocab == ["<pad>", "hello", "world"] and clone.header == "<pad>\n"
        assert clone.log is tokenizer.log  # loggers pickle by name
    scorer = corpus.Scorer(2)
    scorer.dump_stats(str(tmp_path / "stats.txt"))
    (tmp_path / "calibration.txt").write_text("0.5 2\n")
    scorer.read_calibration(str(tmp_path / "calibration.txt"))
    restored = _round_trip(scorer)
    assert restored.stats_out == str(tmp_path / "stats.txt") and restored.calibration == [0.5, 2.0]
    assert restored.source is None


def test_the_fixed_corpus_case_round_trips_and_reopens_its_log(tmp_path):
    with open(os.path.join(CORPUS, "resources/diagnostics_log.py"), encoding="utf-8") as handle:
        outcome = fix_text(handle.read(), unsafe=True)
    assert outcome.applied == {"SER204": 1} and [f for f in outcome.remaining if f.code == "SER204"] == []
    model = load_source(outcome.fixed, tmp_path).DiagnosticClassifier(4, 2, str(tmp_path))
    model(torch.randn(3, 4))
    model.compile()  # in place: the compiled call stays out of the pickled state
    for clone in (_round_trip(model), copy.deepcopy(model), pickle.loads(pickle.dumps(model))):
        assert clone.log_file is not model.log_file and not clone.log_file.closed
        assert clone._write_lock is not model._write_lock and clone._write_lock.acquire(blocking=False)
        clone._write_lock.release()
        assert "_compiled_call_impl" not in vars(clone)
        clone.log_file.write("restored\n")
        clone.log_file.close()
    assert not model.log_file.closed
    model.close()
    lines = (tmp_path / "diagnostics.tsv").read_text().splitlines()
    assert lines[0].startswith("3\t") and lines[1:] == ["restored"] * 3


# -- every text the classifier quotes is the one CPython raises ------------------------------


def _classify(imports: str, value: str) -> Optional[Resource]:
    text = (
        f"{imports}\n\n\nclass C:\n"
        "    def __init__(self, path, new, packed, fd, tmp):\n"
        f"        self.x = {value}\n"
    )
    summary = summarize("m.py", ast.parse(text), "m", False)
    ctx = FileContext("m.py", cst.parse_module(text), summary, ProjectIndex([summary]), Settings())
    cls = ctx.classes[0]
    return ResourceClassifier(ctx).classify_store(cls.stores_of("x")[0], cls)


def _pickle_error(obj: Any) -> str:
    with pytest.raises(Exception) as pickled:
        pickle.dumps(obj)
    with pytest.raises(Exception) as copied:
        copy.deepcopy(obj)
    assert str(copied.value) == str(pickled.value)
    return str(pickled.value)


@pytest.fixture
def listening_socket() -> Iterator[socket.socket]:
    server = socket.create_server(("127.0.0.1", 0))
    yield server
    server.close()


# how to release what a constructor started; anything else with a close() is closed
_RELEASE: Dict[str, Tuple[str, ...]] = {
    "Pool": ("terminate", "join"),
    "Manager": ("shutdown",),
    "ThreadPoolExecutor": ("shutdown",),
    "ProcessPoolExecutor": ("shutdown",),
    "Popen": ("wait",),
}
# optional packages, by the prefix of the names they provide
_OPTIONAL = {"torch.utils.tensorboard.": "tensorboard", "tensorboardX.": "tensorboardX"}


def _make(qualname: str, tmp_path: Any, server: socket.socket) -> Tuple[Any, Callable[[], None]]:
    """An instance of what `qualname` builds, and how to release it."""
    for prefix, package in _OPTIONAL.items():
        if qualname.startswith(prefix):
            pytest.importorskip(package)
    module_name, _, attr = qualname.rpartition(".")
    factory = getattr(importlib.import_module(module_name), attr)
    log = str(tmp_path / "h.log")
    arguments: Dict[str, Tuple[Any, ...]] = {
        "Barrier": (2,),
        "Timer": (1.0, print),
        "create_connection": (server.getsockname(),),
        "create_server": (("127.0.0.1", 0),),
        "fromfd": (server.fileno(), socket.AF_INET, socket.SOCK_STREAM),
        "connect": (":memory:",),
        "Connection": (":memory:",),
        "FileHandler": (log, "a", None, True),  # delay=True: no file until the first record
        "RotatingFileHandler": (log, "a", 0, 0, None, True),
        "TimedRotatingFileHandler": (log, "h", 1, 0, None, True),
        "WatchedFileHandler": (log, "a", None, True),
        "SocketHandler": ("127.0.0.1", 9),  # connects only on the first record
        "DatagramHandler": ("127.0.0.1", 9),
        "SysLogHandler": (("127.0.0.1", 514),),
        "SMTPHandler": ("localhost", "from@example.org", ["to@example.org"], "subject"),
        "HTTPHandler": ("localhost", "/log"),
        "BufferingHandler": (8,),
        "MemoryHandler": (8,),
        "QueueHandler": (queue.SimpleQueue(),),
        "SummaryWriter": (str(tmp_path),),
        "ThreadPoolExecutor": (1,),
        "ProcessPoolExecutor": (1,),
        "Pool": (1,),
        "Popen": ([sys.executable, "-c", "pass"],),
        "mmap": (-1, 16),
    }
    obj = factory(target=print) if attr in ("Thread", "Process") else factory(*arguments.get(attr, ()))
    names = _RELEASE.get(attr, ("close",) if hasattr(obj, "close") else ())

    def release() -> None:
        for name in names:
            getattr(obj, name)()

    return obj, release


@pytest.mark.parametrize("qualname", sorted(RESOURCE_CALLS))
def test_every_known_resource_fails_with_the_stated_text(qualname: str, tmp_path, listening_socket) -> None:
    resource = RESOURCE_CALLS[qualname]
    assert resource.error is not None
    obj, release = _make(qualname, tmp_path, listening_socket)
    try:
        assert _pickle_error(obj) == resource.error
        if resource.closed_kind is not None:
            obj.close()
            assert _pickle_error(obj) == resource.error
    finally:
        release()


@pytest.mark.parametrize("qualname", sorted(STREAMS))
def test_standard_streams(qualname: str) -> None:
    resource = STREAMS[qualname]
    stream = getattr(sys, qualname.split(".")[1])
    if resource.error is None:
        # replaced under pytest: what pickle names depends on who replaced it, but it fails
        _pickle_error(stream)
    else:
        assert _pickle_error(stream) == resource.error


FILE_CALLS = [
    ("", "open(path)"),
    ("", "open(path, 'rb')"),
    ("", "open(new, 'wb')"),
    ("", "open(new, 'xb')"),
    ("", "open(path, 'ab')"),
    ("", "open(path, 'r+b')"),
    ("", "open(path, 'w+')"),
    ("", "open(path, 'rb', 0)"),
    ("", "open(path, mode='rb', buffering=4096)"),
    ("import io", "io.open(path, 'a', encoding='utf-8')"),
    ("import os", "os.fdopen(fd, 'rb')"),
    ("import os", "os.fdopen(fd)"),
    ("import gzip", "gzip.open(packed)"),
    ("import gzip", "gzip.open(new, 'wb')"),
    ("import gzip", "gzip.open(new, 'wt')"),
    ("import gzip", "gzip.open(packed, 'ab')"),
    ("import bz2", "bz2.open(new, 'w')"),
    ("import bz2", "bz2.open(new, 'wt')"),
    ("import lzma", "lzma.open(new, 'wb')"),
    ("import lzma", "lzma.open(new, mode='at')"),
    ("import tempfile", "tempfile.TemporaryFile(dir=tmp)"),
    ("import tempfile", "tempfile.TemporaryFile('w+', dir=tmp)"),
    ("import tempfile", "tempfile.TemporaryFile(buffering=0, dir=tmp)"),
    ("import tempfile", "tempfile.NamedTemporaryFile(dir=tmp)"),
    ("import tempfile", "tempfile.NamedTemporaryFile('w', dir=tmp)"),
    ("from pathlib import Path", "Path(path).open()"),
    ("from pathlib import Path", "Path(new).open('wb')"),
]


@pytest.mark.parametrize("imports, call", FILE_CALLS)
def test_file_errors_follow_the_mode(imports: str, call: str, tmp_path) -> None:
    resource = _classify(imports, call)
    assert resource is not None and resource.error is not None
    path = tmp_path / "data.txt"
    path.write_text("header\n")
    packed = tmp_path / "data.gz"
    packed.write_bytes(gzip.compress(b"header\n"))
    namespace: Dict[str, Any] = {
        "path": str(path),
        "new": str(tmp_path / "new.bin"),
        "packed": str(packed),
        "fd": os.open(str(path), os.O_RDONLY),
        "tmp": str(tmp_path),
    }
    if imports:
        exec(imports, namespace)
    opened = eval(call, namespace)
    try:
        assert _pickle_error(opened) == resource.error
        if resource.closed_kind is not None:
            opened.close()
            assert _pickle_error(opened) == resource.error
    finally:
        opened.close()


def test_a_generator_and_an_async_generator() -> None:
    async def ticks():  # type: ignore[no-untyped-def]
        yield 1

    assert _pickle_error(i for i in range(3)) == "cannot pickle 'generator' object"
    ticking = ticks()
    assert _pickle_error(ticking) == "cannot pickle 'async_generator' object"
