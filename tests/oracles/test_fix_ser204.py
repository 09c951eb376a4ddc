"""SER204's fix: __getstate__ / __setstate__ that leave resources out and re-create them.

The golden pair under test_corpus/fixes/ser204/ is fixed exactly; the fixed code is then run:
pickle, torch.save + torch.load and copy.deepcopy work, re-created resources work, the original
keeps its own, and an in-place `.compile()` does not break pickling.
"""

from __future__ import annotations

import copy
import io
import os
import pickle
import queue
import threading
from typing import Any, List, Optional

import pytest

torch = pytest.importorskip("torch")

from serialint.findings import Applicability  # noqa: E402
from support import CORPUS, fix_text, lint_text, load_source, positions  # noqa: E402

pytestmark = pytest.mark.oracle

GOLDEN = os.path.join(CORPUS, "fixes", "ser204")


def _read(name: str) -> str:
    with open(os.path.join(GOLDEN, name), encoding="utf-8", newline="") as handle:
        return handle.read()


def _round_trip(obj: Any) -> Any:
    buffer = io.BytesIO()
    torch.save(obj, buffer)
    buffer.seek(0)
    return torch.load(buffer, weights_only=False)


def _clones(obj: Any) -> List[Any]:
    return [pickle.loads(pickle.dumps(obj)), _round_trip(obj), copy.deepcopy(obj)]


def _fixed(text: str) -> str:
    outcome = fix_text(text, unsafe=True)
    assert outcome.broken_by is None
    return outcome.fixed


# -- the golden pair ---------------------------------------------------------------------------


def test_golden_in_fixes_to_golden_out() -> None:
    outcome = fix_text(_read("journal_encoder.in.py"), unsafe=True)
    assert outcome.fixed == _read("journal_encoder.out.py")
    assert outcome.applied == {"SER204": 2}
    # the class that already defines __setstate__ is left for a person to finish
    assert positions(outcome.remaining) == [(75, 9, "SER204")]
    assert outcome.remaining[0].fix is None


def test_the_fix_is_unsafe_and_not_applied_without_unsafe_fixes() -> None:
    text = _read("journal_encoder.in.py")
    found = [f for f in lint_text(text) if f.fix is not None]
    assert [f.fix.applicability for f in found] == [Applicability.UNSAFE, Applicability.UNSAFE]
    assert fix_text(text, unsafe=False).fixed == text


def test_the_unfixed_encoder_cannot_be_pickled(tmp_path) -> None:
    module = load_source(_read("journal_encoder.in.py"), tmp_path)
    model = module.JournaledEncoder(10, 4, str(tmp_path / "journal.tsv"))
    with pytest.raises(TypeError, match=r"^cannot pickle '_io\.TextIOWrapper' object$"):
        torch.save(model, io.BytesIO())
    with pytest.raises(TypeError, match=r"^cannot pickle '_io\.TextIOWrapper' object$"):
        copy.deepcopy(model)
    model.journal.close()


def test_the_fixed_encoder_round_trips_and_reopens_its_journal(tmp_path) -> None:
    module = load_source(_fixed(_read("journal_encoder.in.py")), tmp_path)
    journal = tmp_path / "journal.tsv"
    model = module.JournaledEncoder(10, 4, str(journal), backlog=3)
    model(torch.tensor([[1, 2, 3]]))
    model.ready.put("queued batch")
    clones = _clones(model)
    for clone in clones:
        assert torch.equal(clone.embed.weight, model.embed.weight)
        assert clone.batches_seen == 1
        # re-created, not shared: a file of its own on the same path, a free lock, an empty queue
        assert clone.journal is not model.journal and not clone.journal.closed
        assert clone.journal.name == str(journal) and clone.journal.mode == "a"
        assert clone._journal_lock is not model._journal_lock
        assert clone._journal_lock.acquire(blocking=False)
        clone._journal_lock.release()
        assert type(clone.ready) is queue.Queue and clone.ready.maxsize == 3 and clone.ready.empty()
        clone(torch.tensor([[4, 5]]))
        clone.journal.close()
    # the original kept its resources: the pickled state was a copy
    assert "journal" in vars(model) and not model.journal.closed
    assert model.ready.get_nowait() == "queued batch"
    model(torch.tensor([[6]]))
    model.journal.close()
    # the original's two lines and one from each clone, appended to the same file
    assert sorted(journal.read_text().splitlines()) == ["1\t3", "2\t1", "2\t2", "2\t2", "2\t2"]


def test_the_fixed_encoder_pickles_after_in_place_compile(tmp_path) -> None:
    module = load_source(_fixed(_read("journal_encoder.in.py")), tmp_path)
    model = module.JournaledEncoder(10, 4, str(tmp_path / "journal.tsv"))
    model.compile()  # installs the compiled call on the instance; nothing compiles before a forward
    assert "_compiled_call_impl" in vars(model)
    for clone in _clones(model):
        assert "_compiled_call_impl" not in vars(clone)
        assert not clone.journal.closed
        clone.journal.close()
    model.journal.close()


def test_a_generator_comes_back_as_none(tmp_path) -> None:
    module = load_source(_fixed(_read("journal_encoder.in.py")), tmp_path)
    feeder = module.ReplayFeeder([[1, 2], [3, 4], [5, 6]], 2)
    assert feeder.next_batch().tolist() == [[1, 2], [3, 4]]
    for clone in _clones(feeder):
        assert clone.pending is None and clone.size == 2
    assert feeder.next_batch().tolist() == [[5, 6]]


def test_a_state_dict_of_the_unfixed_class_loads_into_the_fixed_one(tmp_path) -> None:
    text = _read("journal_encoder.in.py")
    old = load_source(text, tmp_path).JournaledEncoder(10, 4, str(tmp_path / "old.tsv"))
    new = load_source(_fixed(text), tmp_path).JournaledEncoder(10, 4, str(tmp_path / "new.tsv"))
    buffer = io.BytesIO()
    torch.save(old.state_dict(), buffer)
    buffer.seek(0)
    new.load_state_dict(torch.load(buffer, weights_only=True))
    assert torch.equal(new.embed.weight, old.embed.weight)
    old.journal.close()
    new.journal.close()


# -- what is re-created, what is set to None, where the fix declines ---------------------------

LOCKED = """\
import threading
from torch import nn


class Net(nn.Module):
    def __init__(self, path{params}):
        super().__init__()
        self.path = path
{body}
"""


def _setstate_lines(body: str, params: str = "") -> Optional[List[str]]:
    """The lines the fix writes after `super().__setstate__(state)`; None when it declines."""
    text = LOCKED.format(body=body, params=params)
    outcome = fix_text(text, unsafe=True)
    if not outcome.applied:
        return None
    tail = outcome.fixed.split("        super().__setstate__(state)\n", 1)[1]
    return tail.splitlines()


REREAD = "  # reopened: reading starts again at the beginning of the file"


def _none(attr: str, kind: str) -> List[str]:
    return [f"        self.{attr} = None  # serialint: re-create this {kind} after loading"]


@pytest.mark.parametrize(
    "body, params, lines",
    [
        ('        self.fh = open(path, "r+")', "", ['        self.fh = open(self.path, "r+")' + REREAD]),
        ("        self.fh = open(self.path)", "", ["        self.fh = open(self.path)" + REREAD]),
        (
            '        self.fh = open(path, "ab", buffering=0)',
            "",
            ['        self.fh = open(self.path, "ab", buffering=0)'],
        ),
        # truncating or exclusive modes would empty or refuse the file: not repeated
        ('        self.fh = open(path, "w")', "", _none("fh", "open file")),
        ('        self.fh = open(path, "x")', "", _none("fh", "open file")),
        # a mode not known, a name bound in __init__ and not stored, a value not stored at all
        ("        self.fh = open(path, mode)", ", mode", _none("fh", "open file")),
        ('        name = path + ".log"\n        self.fh = open(name, "a")', "", _none("fh", "open file")),
        ('        self.fh = open(other, "a")', ", other", _none("fh", "open file")),
        # a parameter rebound before use no longer equals what was stored
        ('        path = path + ".log"\n        self.fh = open(path, "a")', "", _none("fh", "open file")),
        # stored conditionally: repeating it unconditionally would change what exists
        ("        if path:\n            self.lock = threading.Lock()", "", _none("lock", "threading.Lock")),
        (
            "        self.stop = threading.Event()",
            "",
            ["        self.stop = threading.Event()  # a new event: starts unset"],
        ),
        ("        self.worker = threading.Thread(target=print)", "", _none("worker", "threading.Thread")),
        # an import inside __init__ is not visible from __setstate__
        ("        from threading import Lock\n        self.lock = Lock()", "", _none("lock", "threading.Lock")),
    ],
)
def test_what_is_re_created(body: str, params: str, lines: List[str]) -> None:
    assert _setstate_lines(body, params) == lines


def test_a_lock_created_outside_init_comes_back_as_none() -> None:
    text = """\
import threading
from torch import nn


class Net(nn.Module):
    def start(self):
        self.lock = threading.Lock()
"""
    assert _fixed(text).endswith(
        "        self.lock = None  # serialint: re-create this threading.Lock after loading\n"
    )


@pytest.mark.parametrize(
    "header, extra",
    [
        # already restores its own state: merging is left to a person
        ("class Net(nn.Module):", "    def __setstate__(self, state):\n        super().__setstate__(state)\n"),
        ("class Net(nn.Module):", "    __setstate__ = nn.Module.__setstate__\n"),
        ("class Net(nn.Module):", '    __slots__ = ("extra",)\n'),
        ("class Net(nn.Module, metaclass=Meta):", ""),
        # the attribute is stored in two places
        ("class Net(nn.Module):", "    def reset(self):\n        self.lock = threading.Lock()\n"),
        ("class Net(nn.Module):", "    def stop(self):\n        self.lock = None\n"),
    ],
)
def test_the_fix_declines(header: str, extra: str) -> None:
    text = f"""\
import threading
from torch import nn


class Meta(type):
    pass


{header}
    def __init__(self):
        super().__init__()
        self.lock = threading.Lock()

{extra}"""
    found = [f for f in lint_text(text) if f.code == "SER204"]
    assert positions(found) == [(12, 9, "SER204")]
    assert found[0].fix is None


def test_a_project_base_defining_setstate_declines() -> None:
    base = """\
import torch.nn as nn


class Base(nn.Module):
    def __setstate__(self, state):
        super().__setstate__(state)
"""
    text = """\
import threading
from pkg.base import Base


class Net(Base):
    def __init__(self):
        super().__init__()
        self.lock = threading.Lock()
"""
    found = [f for f in lint_text(text, {"pkg/__init__.py": "", "pkg/base.py": base}) if f.code == "SER204"]
    assert positions(found) == [(8, 9, "SER204")]
    assert found[0].fix is None


def test_a_summary_writer_is_re_created_only_with_its_log_dir() -> None:
    text = """\
from torch import nn
from torch.utils.tensorboard import SummaryWriter


class Net(nn.Module):
    def __init__(self, log_dir):
        super().__init__()
        self.log_dir = log_dir
        self.writer = SummaryWriter(log_dir, flush_secs=30)
        self.other = SummaryWriter()
"""
    assert _fixed(text).endswith(
        "        self.writer = SummaryWriter(self.log_dir, flush_secs=30)\n"
        "        self.other = None  # serialint: re-create this TensorBoard SummaryWriter after loading\n"
    )


# -- layout: indentation, comments, line endings ------------------------------------------------


def test_tabs_stay_tabs_and_comments_after_the_class_stay_put() -> None:
    text = (
        "import threading\nimport torch.nn as nn\n\n\nclass Net(nn.Module):\n"
        "\tdef __init__(self):\n\t\tsuper().__init__()\n\t\tself.lock = threading.Lock()  # guards the cache\n"
        "\t# end of Net\n\n# module comment\nVALUE = 1\n"
    )
    assert _fixed(text) == (
        "import threading\nimport torch.nn as nn\n\n\nclass Net(nn.Module):\n"
        "\tdef __init__(self):\n\t\tsuper().__init__()\n\t\tself.lock = threading.Lock()  # guards the cache\n"
        "\t# end of Net\n"
        "\n\tdef __getstate__(self):\n\t\tstate = super().__getstate__().copy()\n"
        '\t\tstate.pop("lock", None)\n\t\treturn state\n'
        "\n\tdef __setstate__(self, state):\n\t\tsuper().__setstate__(state)\n\t\tself.lock = threading.Lock()\n"
        "\n# module comment\nVALUE = 1\n"
    )


def test_a_nested_class_at_the_end_of_a_file_without_a_final_newline() -> None:
    text = (
        "import threading\nfrom torch import nn\n\n\nclass Outer:\n  class Net(nn.Module):\n"
        "    def __init__(self):\n      super().__init__()\n      self.lock = threading.Lock()"
    )
    assert _fixed(text) == (
        "import threading\nfrom torch import nn\n\n\nclass Outer:\n  class Net(nn.Module):\n"
        "    def __init__(self):\n      super().__init__()\n      self.lock = threading.Lock()\n"
        "\n    def __getstate__(self):\n      state = super().__getstate__().copy()\n"
        '      state.pop("lock", None)\n      return state\n'
        "\n    def __setstate__(self, state):\n      super().__setstate__(state)\n      self.lock = threading.Lock()"
    )


def test_windows_line_endings_are_kept(tmp_path) -> None:
    text = (
        "import threading\r\nfrom torch import nn\r\n\r\n\r\nclass Net(nn.Module):\r\n"
        "    def __init__(self):\r\n        super().__init__()\r\n        self.lock = threading.Lock()\r\n"
    )
    fixed = _fixed(text)
    assert "\n" not in fixed.replace("\r\n", "")
    assert fixed.endswith(
        "\r\n    def __setstate__(self, state):\r\n        super().__setstate__(state)\r\n"
        "        self.lock = threading.Lock()\r\n"
    )
    module = load_source(fixed.replace("\r\n", "\n"), tmp_path)
    clone = _round_trip(module.Net())
    assert type(clone.lock) is type(threading.Lock())


def test_a_plain_pickled_class_round_trips(tmp_path) -> None:
    text = """\
import pickle
import threading


class Counter:
    def __init__(self, path):
        self.path = path
        self.count = 0
        self.lock = threading.Lock()
        self.out = open(path, "a")

    def bump(self):
        with self.lock:
            self.count += 1
            self.out.write(f"{self.count}\\n")
            self.out.flush()


def snapshot(counter):
    return pickle.dumps(Counter(counter))
"""
    module = load_source(_fixed(text), tmp_path)
    counter = module.Counter(str(tmp_path / "counts.txt"))
    counter.bump()
    for clone in _clones(counter):
        assert clone.count == 1 and clone.lock is not counter.lock and clone.out is not counter.out
        clone.bump()
        clone.out.close()
    counter.bump()
    counter.out.close()
    assert (tmp_path / "counts.txt").read_text().splitlines() == ["1", "2", "2", "2", "2"]
