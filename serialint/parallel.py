"""Worker processes for `serialint check --jobs N`.

Each file is analysed on its own once the project index exists, so files are shared out among
processes. On Linux the workers are forked after the parent has read every file and built the
index: they inherit it (and the imported rules) instead of receiving a copy. Elsewhere they are
spawned and get the state pickled once each. Tasks go out largest file first, one at a time, so
no worker sits idle while another still has a queue; results are put back in the order of the
input, so the output does not depend on which worker finished first.

A worker that dies (killed, out of memory) ends the run with `WorkerError`; an exception raised
in a worker is raised again in the parent, for the first failing file in input order, as a
single-process run would.
"""

from __future__ import annotations

import gc
import multiprocessing
import os
import sys
from concurrent.futures import Future, ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from typing import Any, Callable, Dict, Optional, Sequence, TypeVar

R = TypeVar("R")

# Below this many tasks, starting processes costs more than it saves.
MIN_TASKS = 8

# "fork" where it is safe and cheap; tests set this to "spawn" to exercise the other path.
START_METHOD: Optional[str] = None


class WorkerError(RuntimeError):
    """A worker process ended without returning its results."""


def default_jobs() -> int:
    """The CPUs this process may run on."""
    affinity = getattr(os, "sched_getaffinity", None)
    if affinity is not None:
        try:
            return max(1, len(affinity(0)))
        except OSError:
            pass
    return max(1, os.cpu_count() or 1)


def start_method() -> str:
    if START_METHOD is not None:
        return START_METHOD
    if sys.platform.startswith("linux") and "fork" in multiprocessing.get_all_start_methods():
        return "fork"
    return "spawn"


_FUNCTION: Optional[Callable[[Any, int], Any]] = None
_STATE: Any = None


def _install(function: Callable[[Any, int], Any], state: Any) -> None:
    global _FUNCTION, _STATE
    _FUNCTION, _STATE = function, state


def _run(task: int) -> Any:
    assert _FUNCTION is not None
    return _FUNCTION(_STATE, task)


def run_tasks(
    function: Callable[[Any, int], R],
    state: Any,
    tasks: Sequence[int],
    jobs: int,
    weights: Optional[Sequence[int]] = None,
    min_tasks: int = MIN_TASKS,
) -> Dict[int, R]:
    """`function(state, task)` for every task, in `jobs` processes when there are enough tasks.

    `function` must be a module-level function (spawned workers import it); `weights[task]`
    (e.g. the file's length) orders the work, heaviest first.
    """
    if jobs <= 1 or len(tasks) < max(min_tasks, 2):
        return {task: function(state, task) for task in tasks}
    method = start_method()
    ordered = sorted(tasks, key=lambda t: -weights[t]) if weights is not None else list(tasks)
    global _FUNCTION, _STATE
    if method == "fork":
        # the children see these as they are at the fork; nothing is pickled
        _install(function, state)
        # keep the collector off the inherited objects, so that their pages stay shared
        gc.freeze()
        initializer: Optional[Callable[..., None]] = None
        initargs: tuple = ()
    else:
        initializer, initargs = _install, (function, state)
    results: Dict[int, R] = {}
    pool = ProcessPoolExecutor(
        max_workers=min(jobs, len(tasks)),
        mp_context=multiprocessing.get_context(method),
        initializer=initializer,
        initargs=initargs,
    )
    try:
        futures: Dict[int, Future] = {task: pool.submit(_run, task) for task in ordered}
        for task in tasks:
            results[task] = futures[task].result()
    except BrokenProcessPool as exc:
        raise WorkerError("a worker process ended unexpectedly; rerun with --jobs 1 to see why") from exc
    finally:
        pool.shutdown(wait=True, cancel_futures=True)
        if method == "fork":
            gc.unfreeze()
            _FUNCTION = _STATE = None
    return results

