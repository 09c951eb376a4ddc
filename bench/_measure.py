"""Run one command and measure it: wall time, CPU time and peak RSS from ``os.wait4``."""

from __future__ import annotations

import os
import subprocess
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Mapping, Optional, Sequence


@dataclass(frozen=True)
class Run:
    wall: float
    # user + system seconds of the process and every child it waited for (worker processes)
    cpu: float
    # the largest resident set of any single process in the tree, not their sum
    peak_rss: int
    exit_code: int
    stdout: bytes
    stderr: bytes


def measure(argv: Sequence[str], cwd: Path, env: Optional[Mapping[str, str]] = None) -> Run:
    # files, not pipes: a tool that prints a lot must not block on a full pipe while we wait4
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        start = time.perf_counter()
        proc = subprocess.Popen(
            list(argv), cwd=cwd, env=env, stdin=subprocess.DEVNULL, stdout=out, stderr=err
        )
        _, status, usage = os.wait4(proc.pid, 0)
        wall = time.perf_counter() - start
        proc.returncode = os.waitstatus_to_exitcode(status)
        out.seek(0)
        err.seek(0)
        return Run(
            wall=wall,
            cpu=usage.ru_utime + usage.ru_stime,
            peak_rss=usage.ru_maxrss * 1024,  # Linux reports KiB
            exit_code=proc.returncode,
            stdout=out.read(),
            stderr=err.read(),
        )
