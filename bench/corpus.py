"""Assemble a corpus of real model code from installed packages.

The packages (torch, timm, transformers, diffusers, lightning) come from a
virtual environment of the benchmark's own, created on first use under
``$SERIALINT_BENCH_HOME`` (default ``~/.cache/serialint-bench``). Point
``SERIALINT_BENCH_PYTHON`` at another interpreter that has them to skip the
install.

Two corpora, both deterministic for the same package versions:

* ``speed``: about 100,000 lines of model definitions, for timing;
* ``audit``: about 600,000 lines, for the real-code audit and fix safety.

Usage::

    python bench/corpus.py speed          # prints the corpus directory
    python bench/corpus.py audit --dest /tmp/audit
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

PACKAGES = ("torch", "timm", "transformers", "diffusers", "lightning")
# Installed together, so pip resolves one consistent set; fixit and TorchFix
# are the tools the speed benchmark compares against.
INSTALL = ("torch", "timm", "transformers", "diffusers", "lightning", "torchfix", "fixit")

# (package-relative directory, line budget or None for all, file filter)
SPEED = (
    ("torch/nn/modules", 20_000, None),
    ("timm/models", 25_000, None),
    ("transformers/models", 25_000, "modeling_"),
    ("diffusers/models", 20_000, None),
    ("lightning/pytorch", 8_000, None),
)
AUDIT = (
    ("torch/nn", None, None),
    ("torch/optim", None, None),
    ("torch/ao", None, None),
    ("torch/utils/data", None, None),
    ("torch/distributed/checkpoint", None, None),
    ("torch/distributed/fsdp", None, None),
    ("timm", None, None),
    ("transformers/models", 160_000, "modeling_"),
    ("diffusers/models", None, None),
    ("lightning/pytorch", None, None),
)
SETS = {"speed": SPEED, "audit": AUDIT}


def bench_home() -> Path:
    return Path(os.environ.get("SERIALINT_BENCH_HOME", Path.home() / ".cache" / "serialint-bench"))


def _has_packages(python: str) -> bool:
    probe = "import importlib.util as u, sys; sys.exit(any(u.find_spec(p) is None for p in %r))" % (
        PACKAGES,
    )
    return subprocess.run([python, "-c", probe], capture_output=True).returncode == 0


def bench_python() -> str:
    """An interpreter that has every corpus package, installing them if needed."""
    explicit = os.environ.get("SERIALINT_BENCH_PYTHON")
    if explicit:
        if not _has_packages(explicit):
            sys.exit(f"SERIALINT_BENCH_PYTHON={explicit} lacks one of {', '.join(PACKAGES)}")
        return explicit
    venv = bench_home() / "venv"
    python = str(venv / "bin" / "python")
    if Path(python).exists() and _has_packages(python):
        return python
    print(f"installing {', '.join(INSTALL)} into {venv} ...", file=sys.stderr)
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    subprocess.run([python, "-m", "pip", "install", "-q", *INSTALL], check=True)
    return python


def site_packages(python: str) -> Path:
    out = subprocess.run(
        [python, "-c", "import timm, os; print(os.path.dirname(os.path.dirname(timm.__file__)))"],
        capture_output=True,
        text=True,
        check=True,
    )
    return Path(out.stdout.strip())


def versions(python: str) -> dict[str, str]:
    code = (
        "import json, importlib.metadata as m; "
        "print(json.dumps({p: m.version(p) for p in %r}))" % (PACKAGES,)
    )
    out = subprocess.run([python, "-c", code], capture_output=True, text=True, check=True)
    return json.loads(out.stdout)


def select(root: Path, spec) -> list[tuple[Path, Path]]:
    """(source, corpus-relative destination) pairs, in a stable order."""
    chosen: list[tuple[Path, Path]] = []
    for rel, budget, prefix in spec:
        base = root / rel
        used = 0
        for path in sorted(base.rglob("*.py")):
            if prefix and not path.name.startswith(prefix):
                continue
            lines = path.read_bytes().count(b"\n")
            if budget is not None and used + lines > budget:
                continue
            used += lines
            chosen.append((path, path.relative_to(root)))
    return chosen


def assemble(name: str, dest: Path | None = None, python: str | None = None) -> Path:
    """Copy the named corpus to ``dest`` (default under the bench home) and return it."""
    python = python or bench_python()
    root = site_packages(python)
    dest = dest or bench_home() / "corpus" / name
    pairs = select(root, SETS[name])
    manifest = {
        "versions": versions(python),
        "files": [str(rel) for _, rel in pairs],
    }
    stamp = dest / "MANIFEST.json"
    if stamp.exists() and json.loads(stamp.read_text()) == manifest:
        return dest
    if dest.exists():
        shutil.rmtree(dest)
    for source, rel in pairs:
        target = dest / rel
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(source, target)
    stamp.write_text(json.dumps(manifest, indent=1))
    return dest


def corpus_files(dest: Path) -> list[Path]:
    return sorted(dest.rglob("*.py"))


def count_lines(files) -> int:
    return sum(p.read_bytes().count(b"\n") for p in files)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("set", choices=sorted(SETS))
    parser.add_argument("--dest", type=Path)
    args = parser.parse_args()
    dest = assemble(args.set, args.dest)
    files = corpus_files(dest)
    print(f"{dest}  ({len(files)} files, {count_lines(files)} lines)", file=sys.stderr)
    print(dest)


if __name__ == "__main__":
    main()
