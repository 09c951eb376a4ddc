"""The resource classifier: which stored values pickle cannot copy, and what it says about them."""

from __future__ import annotations

import ast
import textwrap
from typing import List, Optional

import libcst as cst
import pytest

from serialint.config import Settings
from serialint.index import ProjectIndex, summarize
from serialint.model import FileContext
from serialint.resources import FILE_OPENERS, RESOURCE_CALLS, STREAMS, Resource, ResourceClassifier
from support import lint_text

LOCK = "cannot pickle '_thread.lock' object"
RLOCK = "cannot pickle '_thread.RLock' object"
TEXT = "cannot pickle '_io.TextIOWrapper' object"
READER = "cannot pickle '_io.BufferedReader' object"
WRITER = "cannot pickle '_io.BufferedWriter' object"
RANDOM = "cannot pickle '_io.BufferedRandom' object"
RAW = "cannot pickle '_io.FileIO' object"
GENERATOR = "cannot pickle 'generator' object"


def classify_source(code: str, attr: str = "x") -> Optional[Resource]:
    """Classify the first value stored on `self.<attr>` in class `C` of `code`."""
    text = textwrap.dedent(code)
    summary = summarize("m.py", ast.parse(text), "m", False)
    ctx = FileContext("m.py", cst.parse_module(text), summary, ProjectIndex([summary]), Settings())
    cls = next(c for c in ctx.classes if c.name == "C")
    stores = cls.stores_of(attr)
    assert stores, f"no store of self.{attr}"
    return ResourceClassifier(ctx).classify_store(stores[0], cls)


def classify_value(imports: str, value: str) -> Optional[Resource]:
    code = f"{imports}\n\n\nclass C:\n    def __init__(self, path, mode, size, fd, addr, cmd, out, lock, kw, args):\n"
    return classify_source(code + f"        self.x = {value}\n")


@pytest.mark.parametrize(
    "imports, value, kind, error",
    [
        ("import threading", "threading.Lock()", "threading.Lock", LOCK),
        ("from threading import Lock as L", "L()", "threading.Lock", LOCK),
        ("import threading as th", "th.RLock()", "threading.RLock", RLOCK),
        ("import threading", "threading.Event()", "threading.Event", LOCK),
        ("import threading", "threading.Thread(target=print)", "threading.Thread", LOCK),
        ("import threading", "threading.local()", "threading.local", "cannot pickle '_thread._local' object"),
        ("import threading", "threading.Condition()", "threading.Condition", RLOCK),
        ("import threading", "threading.Condition(threading.Lock())", "threading.Condition", LOCK),
        ("import threading", "threading.Condition(lock=threading.RLock())", "threading.Condition", RLOCK),
        ("import threading", "threading.Condition(lock)", "threading.Condition", None),
        ("import queue", "queue.Queue(maxsize=4)", "queue.Queue", LOCK),
        (
            "from queue import SimpleQueue",
            "SimpleQueue()",
            "queue.SimpleQueue",
            "cannot pickle '_queue.SimpleQueue' object",
        ),
        (
            "import multiprocessing as mp",
            "mp.Queue()",
            "multiprocessing.Queue",
            "Queue objects should only be shared between processes through inheritance",
        ),
        (
            "import multiprocessing",
            "multiprocessing.Event()",
            "multiprocessing.Event",
            "Condition objects should only be shared between processes through inheritance",
        ),
        (
            "from multiprocessing import Process",
            "Process(target=print)",
            "multiprocessing.Process",
            "Pickling an AuthenticationString object is disallowed for security reasons",
        ),
        (
            "import torch.multiprocessing as mp",
            "mp.Pool(2)",
            "torch.multiprocessing.Pool",
            "pool objects cannot be passed between processes or pickled",
        ),
        ("import socket", "socket.create_connection(addr)", "socket", "cannot pickle 'socket' object"),
        ("from socket import socket", "socket()", "socket", "cannot pickle 'socket' object"),
        ("import sqlite3", "sqlite3.connect(path)", "sqlite3 connection", "cannot pickle 'sqlite3.Connection' object"),
        ("import logging", "logging.StreamHandler()", "logging.StreamHandler", RLOCK),
        (
            "import logging.handlers",
            "logging.handlers.RotatingFileHandler(path)",
            "logging.handlers.RotatingFileHandler",
            RLOCK,
        ),
        ("from logging import handlers", "handlers.QueueHandler(out)", "logging.handlers.QueueHandler", RLOCK),
        ("from torch.utils.tensorboard import SummaryWriter", "SummaryWriter(path)", "TensorBoard SummaryWriter", LOCK),
        (
            "import tensorboardX",
            "tensorboardX.SummaryWriter(path)",
            "tensorboardX SummaryWriter",
            "Queue objects should only be shared between processes through inheritance",
        ),
        (
            "from concurrent.futures import ThreadPoolExecutor",
            "ThreadPoolExecutor(4)",
            "concurrent.futures.ThreadPoolExecutor",
            "cannot pickle '_queue.SimpleQueue' object",
        ),
        ("import subprocess", "subprocess.Popen(cmd)", "subprocess.Popen", LOCK),
        ("import mmap", "mmap.mmap(fd, 0)", "mmap.mmap", "cannot pickle 'mmap.mmap' object"),
        ("import sys", "sys.stdout", "sys.stdout", None),
        ("from sys import stderr", "stderr", "sys.stderr", None),
        ("import sys", "sys.__stderr__", "sys.__stderr__", TEXT),
        # files: the io class follows the literal mode and buffering
        ("", "open(path)", "open file", TEXT),
        ("", "open(path, 'rb')", "open file", READER),
        ("", "open(path, mode='wb')", "open file", WRITER),
        ("", "open(path, 'xb')", "open file", WRITER),
        ("", "open(path, 'r+b')", "open file", RANDOM),
        ("", "open(path, 'ab', 0)", "open file", RAW),
        ("", "open(path, 'rb', buffering=4096)", "open file", READER),
        ("", "open(path, 'rb', -1)", "open file", READER),
        ("", "open(path, 'w', **kw)", "open file", TEXT),
        ("", "open(path, mode)", "open file", None),
        ("", "open(path, f'{mode}b')", "open file", None),
        ("", "open(path, 'rb', size)", "open file", None),
        ("", "open(path, *args)", "open file", None),
        ("", "open(path, **kw)", "open file", None),
        ("import io", "io.open(path, 'a')", "open file", TEXT),
        ("import os", "os.fdopen(fd, 'rb')", "open file", READER),
        ("import gzip", "gzip.open(path)", "open gzip file", READER),
        ("import gzip", "gzip.open(path, 'w')", "open gzip file", WRITER),
        ("import gzip", "gzip.open(path, 'wt')", "open gzip file", TEXT),
        ("import bz2", "bz2.open(path, 'ab')", "open bz2 file", WRITER),
        ("from lzma import open as xz_open", "xz_open(path, mode='rt')", "open lzma file", TEXT),
        ("import tempfile", "tempfile.TemporaryFile()", "temporary file", RANDOM),
        ("import tempfile", "tempfile.NamedTemporaryFile('w+')", "temporary file", TEXT),
        ("import tempfile", "tempfile.NamedTemporaryFile(buffering=0)", "temporary file", RAW),
        ("from pathlib import Path", "Path(path).open('wb')", "open file", WRITER),
        ("import pathlib", "pathlib.Path(path).open()", "open file", TEXT),
        # generators, containers, either branch
        ("", "(line for line in path)", "generator", GENERATOR),
        ("import threading", "[threading.Lock() for _ in range(4)]", "threading.Lock in a list", LOCK),
        ("import threading", "{n: threading.Event() for n in cmd}", "threading.Event in a dict", LOCK),
        ("import threading", "{'io': threading.RLock()}", "threading.RLock in a dict", RLOCK),
        ("import threading", "(threading.Semaphore(2), 1)", "threading.Semaphore in a tuple", LOCK),
        ("", "open(path, 'rb') if path else None", "open file", READER),
        ("import sys", "out or sys.stdout", "sys.stdout", None),
    ],
)
def test_resources_are_classified(imports: str, value: str, kind: str, error: Optional[str]) -> None:
    assert classify_value(imports, value) == Resource(kind, error, _closed_kind(kind))


def _closed_kind(kind: str) -> Optional[str]:
    return {
        "open file": "closed file",
        "temporary file": "closed temporary file",
        "socket": "closed socket",
        "sqlite3 connection": "sqlite3 connection",
    }.get(kind)


@pytest.mark.parametrize(
    "imports, value",
    [
        ("import logging", "logging.getLogger(__name__)"),
        ("import logging", "logging.getLogger()"),
        ("from logging import getLogger", "getLogger('train').getChild('eval')"),
        ("import logging", "logging.NullHandler()"),
        ("import tempfile", "tempfile.SpooledTemporaryFile()"),
        ("import tempfile", "tempfile.TemporaryDirectory()"),
        ("import tempfile", "tempfile.mkstemp()"),
        ("import io", "io.StringIO()"),
        ("import io", "io.BytesIO(b'')"),
        ("", "open"),
        ("", "path.open('w')"),
        ("", "list(line for line in path)"),
        ("", "sum(1 for _ in path)"),
        ("from mylib import open", "open(path)"),
        ("from mylib import threading", "threading.Lock()"),
        ("import threading", "threading.get_ident()"),
        ("import multiprocessing as mp", "mp.cpu_count()"),
        ("import multiprocessing as mp", "mp.get_context('spawn')"),
        ("import queue", "queue.Empty"),
        ("import threading", "[lock for lock in cmd]"),
        ("import threading", "[threading() for threading in cmd]"),
        ("import threading", "[path, 3]"),
        ("", "None"),
        ("", "out and open(path)"),
        ("import sys", "sys.argv"),
        ("import socket", "socket.gethostname()"),
    ],
)
def test_values_that_pickle_are_not_resources(imports: str, value: str) -> None:
    assert classify_value(imports, value) is None


# -- names: shadowing, local bindings, with blocks ------------------------------------------


def test_builtin_open_shadowed_by_a_module_level_def_is_not_a_file() -> None:
    code = """\
    def open(path):
        return path


    class C:
        def __init__(self, path):
            self.x = open(path)
    """
    assert classify_source(code) is None


def test_builtin_open_shadowed_by_a_module_level_assignment_is_not_a_file() -> None:
    code = """\
    import functools

    open = functools.partial(dict)


    class C:
        def __init__(self, path):
            self.x = open(path)
    """
    assert classify_source(code) is None


@pytest.mark.parametrize(
    "method",
    [
        "    def __init__(self, Lock):\n        self.x = Lock()\n",
        "    def __init__(self):\n        Lock = dict\n        self.x = Lock()\n",
        "    def __init__(self, threading):\n        self.x = threading.Lock()\n",
    ],
)
def test_imported_name_shadowed_in_the_method_is_unknown(method: str) -> None:
    code = "import threading\nfrom threading import Lock\n\n\nclass C:\n" + method
    assert classify_source(code) is None


def test_local_name_bound_once_is_followed() -> None:
    code = """\
    import threading


    class C:
        def __init__(self):
            first = threading.Lock()
            second = first
            self.x = second
    """
    assert classify_source(code) == Resource("threading.Lock", LOCK)


def test_local_name_bound_twice_is_unknown() -> None:
    code = """\
    class C:
        def __init__(self, path):
            f = open(path)
            f = f.read()
            self.x = f
    """
    assert classify_source(code) is None


def test_global_name_is_unknown() -> None:
    code = """\
    import threading

    LOCK = threading.Lock()


    class C:
        def __init__(self):
            global LOCK
            self.x = LOCK
    """
    assert classify_source(code) is None


def test_condition_over_a_local_lock() -> None:
    code = """\
    import threading


    class C:
        def __init__(self):
            lock = threading.Lock()
            self.x = threading.Condition(lock)
    """
    assert classify_source(code) == Resource("threading.Condition", LOCK)


@pytest.mark.parametrize("inside", [True, False])
def test_file_bound_by_a_with_block_is_a_closed_file(inside: bool) -> None:
    store = "            self.x = f" if inside else "        self.x = f"
    code = f"""\
    class C:
        def __init__(self, path):
            with open(path, "rb") as f:
                self.header = f.read(4)
    {store}
    """
    assert classify_source(code) == Resource("closed file", READER, "closed file")


@pytest.mark.parametrize(
    "imports, item, kind, error",
    [
        ("import socket", "socket.socket()", "closed socket", "cannot pickle 'socket' object"),
        ("import tempfile", "tempfile.NamedTemporaryFile()", "closed temporary file", RANDOM),
        ("import sqlite3", "sqlite3.connect(path)", "sqlite3 connection", "cannot pickle 'sqlite3.Connection' object"),
    ],
)
def test_other_with_bound_resources_that_fail_once_closed(imports: str, item: str, kind: str, error: str) -> None:
    code = f"""\
    {imports}


    class C:
        def __init__(self, path):
            with {item} as f:
                self.x = f
    """
    assert classify_source(code) == Resource(kind, error, kind)


@pytest.mark.parametrize(
    "imports, item",
    [
        # a closed bz2/lzma file pickles; a closed gzip file fails differently in pickle and deepcopy
        ("import bz2", "bz2.open(path, 'wb')"),
        ("import gzip", "gzip.open(path, 'wb')"),
        # __enter__ of TemporaryDirectory returns the path; a closed writer pickles
        ("import tempfile", "tempfile.TemporaryDirectory()"),
        ("from torch.utils.tensorboard import SummaryWriter", "SummaryWriter(path)"),
        ("import threading", "threading.Lock()"),
    ],
)
def test_with_bound_values_that_are_not_known_to_fail(imports: str, item: str) -> None:
    code = f"""\
    {imports}


    class C:
        def __init__(self, path):
            with {item} as f:
                self.x = f
    """
    assert classify_source(code) is None


def test_name_bound_by_two_with_blocks_is_unknown() -> None:
    code = """\
    class C:
        def __init__(self, a, b):
            with open(a) as f:
                pass
            with open(b) as f:
                self.x = f
    """
    assert classify_source(code) is None


def test_loop_target_is_unknown() -> None:
    code = """\
    class C:
        def __init__(self, files):
            for f in files:
                self.x = f
    """
    assert classify_source(code) is None


# -- generator functions ---------------------------------------------------------------------


def test_module_level_generator_function() -> None:
    code = """\
    def batches(data):
        for item in data:
            yield item


    class C:
        def __init__(self, data):
            self.x = batches(data)
    """
    assert classify_source(code) == Resource("generator", GENERATOR)


def test_yield_from_makes_a_generator() -> None:
    code = """\
    def chained(parts):
        yield from parts


    class C:
        def __init__(self, parts):
            self.x = chained(parts)
    """
    assert classify_source(code) == Resource("generator", GENERATOR)


def test_async_generator_function() -> None:
    code = """\
    async def ticks():
        yield 1


    class C:
        def __init__(self):
            self.x = ticks()
    """
    assert classify_source(code) == Resource("async generator", "cannot pickle 'async_generator' object")


@pytest.mark.parametrize(
    "definition",
    [
        # no yield of its own: the nested def is the generator
        "def make(data):\n    def inner():\n        yield data\n    return list(inner())",
        "def make(data):\n    return data",
        # a decorator may return anything
        "import contextlib\n\n\n@contextlib.contextmanager\ndef make(data):\n    yield data",
        "class make:\n    def __init__(self, data):\n        pass",
    ],
)
def test_calls_that_do_not_make_a_generator(definition: str) -> None:
    code = f"{definition}\n\n\nclass C:\n    def __init__(self, data):\n        self.x = make(data)\n"
    assert classify_source(code) is None


def test_name_imported_after_a_module_generator_replaces_it() -> None:
    code = """\
    def batches(data):
        yield data


    from mylib import batches


    class C:
        def __init__(self, data):
            self.x = batches(data)
    """
    assert classify_source(code) is None


def test_generator_defined_in_the_method() -> None:
    code = """\
    class C:
        def __init__(self, data):
            def stream():
                yield from data
            self.x = stream()
    """
    assert classify_source(code) == Resource("generator", GENERATOR)


@pytest.mark.parametrize("decorator", ["", "@staticmethod\n    "])
def test_generator_method_of_the_class(decorator: str) -> None:
    params = "data" if decorator else "self, data"
    code = (
        "class C:\n"
        "    def __init__(self, data):\n"
        "        self.x = self.stream(data)\n\n"
        f"    {decorator}def stream({params}):\n"
        "        for item in data:\n"
        "            yield item\n"
    )
    assert classify_source(code) == Resource("generator", GENERATOR)


def test_property_like_decorated_method_is_not_a_generator() -> None:
    code = """\
    import functools


    class C:
        def __init__(self, data):
            self.x = self.stream(data)

        @functools.lru_cache(None)
        def stream(self, data):
            yield data
    """
    assert classify_source(code) is None


# -- the tables ------------------------------------------------------------------------------


def test_tables_do_not_overlap_and_name_loggers_nowhere() -> None:
    names = set(RESOURCE_CALLS) | set(FILE_OPENERS) | set(STREAMS)
    assert len(names) == len(RESOURCE_CALLS) + len(FILE_OPENERS) + len(STREAMS)
    assert not {"logging.Logger", "logging.getLogger", "logging.NullHandler"} & names
    assert not {"tempfile.SpooledTemporaryFile", "tempfile.TemporaryDirectory"} & names


# -- SER204's reading of stores: a resource released before the method returns ---------------


def _ser204_lines(body: str) -> List[int]:
    code = "import torch.nn as nn\n\n\nclass Net(nn.Module):\n    def load(self, path, flag, items):\n" + body
    return [f.line for f in lint_text(code) if f.code == "SER204"]


@pytest.mark.parametrize(
    "body",
    [
        "        self.fh = open(path)\n        self.fh.close()\n        self.fh = None\n",
        "        self.fh = open(path)\n        try:\n            pass\n        finally:\n            self.fh = None\n",
        "        self.fh = open(path)\n        with self.fh:\n            self.fh = None\n",
        "        if flag:\n            self.fh = open(path)\n            self.fh = None\n",
    ],
)
def test_a_resource_released_in_the_same_block_is_not_reported(body: str) -> None:
    assert _ser204_lines(body) == []


@pytest.mark.parametrize(
    "body, line",
    [
        ("        self.fh = open(path)\n        if flag:\n            self.fh = None\n", 6),
        ("        self.fh = open(path)\n        for item in items:\n            self.fh = None\n", 6),
        (
            "        self.fh = open(path)\n"
            "        try:\n            self.fh = None\n        except OSError:\n            pass\n",
            6,
        ),
        ("        self.fh = None\n        self.fh = open(path)\n", 7),
        ("        self.fh = open(path)\n        self.other = None\n", 6),
        # released after the loop, but a block may return early: only the same block is trusted
        ("        for item in items:\n            self.fh = open(path)\n        self.fh = None\n", 7),
    ],
)
def test_a_resource_not_surely_released_is_reported(body: str, line: int) -> None:
    assert _ser204_lines(body) == [line]


def test_a_release_in_another_method_does_not_count() -> None:
    body = "        self.fh = open(path)\n\n    def close(self):\n        self.fh.close()\n        self.fh = None\n"
    assert _ser204_lines(body) == [6]
