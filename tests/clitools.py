"""Shared pieces of the command-line tests: a SER101 project file and a way to run `serialint`."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Dict, Optional, Sequence

from click.testing import CliRunner, Result

from conftest import SHARED
from serialint.cli import main

# A module with one SER101 hazard: line 8, columns 9 to 43 (1-based, as printed).
BAD = """\
import torch
from torch import nn


class Normalizer(nn.Module):
    def __init__(self):
        super().__init__()
        self.register_buffer("mean", None)

    def calibrate(self, x):
        self.mean = x.mean(0)
"""

# The same class with two hazards, on lines 8 and 9.
BAD_TWICE = """\
import torch
from torch import nn


class Normalizer(nn.Module):
    def __init__(self):
        super().__init__()
        self.register_buffer("mean", None)
        self.register_buffer("std", None)

    def calibrate(self, x):
        self.mean = x.mean(0)
        self.std = x.std(0)
"""

CLEAN = """\
from torch import nn


class Normalizer(nn.Module):
    def __init__(self):
        super().__init__()
        self.register_buffer("mean", None)
"""


def message(name: str = "mean") -> str:
    return (
        f'buffer "{name}" is registered as None and assigned a tensor later: loading a checkpoint saved '
        f'after the assignment into a fresh instance fails (Unexpected key(s) in state_dict: "{name}")'
    )


def line(path: str, row: int = 8, name: str = "mean") -> str:
    """The concise line for BAD's (or BAD_TWICE's) finding in `path`."""
    return f"{path}:{row}:9: SER101 {message(name)}"


def write(root: Path, files: Dict[str, str]) -> Path:
    """Create `files` (relative path -> text) under `root`; a path ending in '/' is a directory."""
    for rel, text in files.items():
        target = root / rel
        if rel.endswith("/"):
            target.mkdir(parents=True, exist_ok=True)
            continue
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(text, encoding="utf-8")
    return root


class Run:
    """The outcome of one `serialint` invocation, with stdout and stderr kept apart."""

    def __init__(self, result: Result) -> None:
        self.result = result
        self.status = result.exit_code
        self.out = result.stdout
        self.err = result.stderr

    @property
    def out_lines(self) -> Sequence[str]:
        return self.out.splitlines()

    @property
    def err_lines(self) -> Sequence[str]:
        return self.err.splitlines()


def run(args: Sequence[str], cwd: Path, stdin: Optional[str] = None, pin: bool = True) -> Run:
    """`serialint ARGS` in `cwd`. `pin` adds `--select SER101` to `check`, so that rules added
    later cannot change what these tests see; selection tests pass pin=False."""
    argv = list(args)
    if pin and argv[:1] == ["check"]:
        argv[1:1] = ["--select", "SER101"]
    try:
        runner = CliRunner(mix_stderr=False)  # type: ignore[call-arg]  # click < 8.2 mixes by default
    except TypeError:
        runner = CliRunner()  # click >= 8.2 keeps stdout and stderr apart and has no such argument
    previous = os.getcwd()
    os.chdir(cwd)
    try:
        result = runner.invoke(main, argv, input=stdin, catch_exceptions=False, prog_name="serialint")
    finally:
        os.chdir(previous)
    return Run(result)


SARIF_SCHEMA = os.path.join(SHARED, "sarif", "sarif-schema-2.1.0.json")


def validate_sarif(log: dict) -> None:
    """Validate against the OASIS SARIF 2.1.0 schema; skip where the schema is not beside the repo."""
    import pytest

    jsonschema = pytest.importorskip("jsonschema")
    if not os.path.isfile(SARIF_SCHEMA):
        pytest.skip(f"SARIF schema not found at {SARIF_SCHEMA} (CI has it beside the repository)")
    with open(SARIF_SCHEMA, encoding="utf-8") as handle:
        schema = json.load(handle)
    jsonschema.Draft7Validator(schema).validate(log)
