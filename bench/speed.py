"""Speed benchmark: serialint against plain libcst parsing, TorchFix and Fixit on real model code.

Run it with the interpreter that has serialint installed::

    python bench/speed.py                  # 5 rounds; TorchFix and Fixit in the first only
    python bench/speed.py --rounds 3 --slow-rounds 2 --json results.json

Every round runs every variant once, in an order rotated from the previous round, on one copy
of the ``speed`` corpus in a temporary directory. The report gives median and minimum wall
time, lines per second, CPU time and peak RSS per variant, the ratios against serialint's
targets, and fails loudly when serialint's output differs between worker counts or cache states.
"""

from __future__ import annotations

import argparse
import compileall
import json
import os
import platform
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Dict, List, Mapping, Optional, Sequence, Tuple

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from _measure import Run, measure  # noqa: E402
from corpus import assemble, bench_python, corpus_files, count_lines  # noqa: E402

SERIALINT = [sys.executable, "-m", "serialint"]
OPTIONS = ("--jobs", "--no-cache", "--cache-dir")
# files that would configure serialint or Fixit, or hide files, if found above the corpus copy
FOUND_UPWARD = (".serialint.toml", "serialint.toml", "pyproject.toml", "fixit.toml", ".gitignore")
MB = 1_000_000
SLOW = ("torchfix", "fixit")
COMPARED = ("jobs1", "jobs2", "cold", "warm", "edit")


@dataclass
class Variant:
    key: str
    label: str
    argv: List[str]
    cwd: Path
    needs: Sequence[str] = ()
    before: Optional[Callable[[int], None]] = None
    env: Optional[Mapping[str, str]] = None
    runs: List[Run] = field(default_factory=list)

    @property
    def slow(self) -> bool:
        return self.key in SLOW

    @property
    def compared(self) -> bool:
        """Whether its stdout must equal that of every other compared variant, byte for byte."""
        return self.key in COMPARED

    def walls(self) -> List[float]:
        return [run.wall for run in self.runs]

    def median(self) -> Optional[float]:
        return statistics.median(self.walls()) if self.runs else None


@dataclass
class Setup:
    work: Path
    corpus: Path  # the copy every variant but "edit" runs on
    edit_corpus: Path  # a second copy, one file of which "edit" changes
    edit_file: Path
    options: Sequence[str]
    bench: str  # the interpreter with TorchFix and Fixit
    env: Mapping[str, str]  # runs serialint's snapshot


def snapshot_serialint(work: Path) -> Tuple[str, Dict[str, str]]:
    """Copy the installed serialint package into `work`, byte-compiled; return its source and the environment
    that runs the copy.

    Every round then measures the same code even if the source tree changes during the run, and no run pays
    for compiling serialint's modules, as none would once installed.
    """
    where = subprocess.run(
        [sys.executable, "-c", "import os, serialint; print(os.path.dirname(serialint.__file__))"],
        capture_output=True, text=True, check=True,
    ).stdout.strip()
    root = work / "snapshot"
    shutil.copytree(where, root / "serialint", ignore=shutil.ignore_patterns("__pycache__"))
    compileall.compile_dir(str(root), quiet=1)
    path = os.pathsep.join(p for p in (str(root), os.environ.get("PYTHONPATH", "")) if p)
    return where, dict(os.environ, PYTHONPATH=path)


def supported_options(env: Mapping[str, str]) -> List[str]:
    """Which of the cache and worker options this serialint's `check --help` lists."""
    text = subprocess.run([*SERIALINT, "check", "--help"], capture_output=True, text=True, env=env, check=True).stdout
    return [opt for opt in OPTIONS if re.search(rf"(?<![\w-]){re.escape(opt)}(?![\w-])", text)]


def outside_configuration(work: Path) -> None:
    for directory in (work, *work.parents):
        for name in FOUND_UPWARD:
            if (directory / name).exists():
                sys.exit(f"{directory / name} would apply to the corpus copy; set TMPDIR elsewhere")


def median_file(files: Sequence[Path]) -> Path:
    """The file of median length: a typical file to edit."""
    by_size = sorted(files, key=lambda p: (p.read_bytes().count(b"\n"), str(p)))
    return by_size[len(by_size) // 2]


def lint_ok(run: Run, what: str) -> None:
    if run.exit_code not in (0, 1):
        sys.exit(f"{what} exited {run.exit_code}:\n{run.stderr.decode(errors='replace')[-2000:]}")


def why_not(variant: Variant, options: Sequence[str]) -> str:
    """Why the variant cannot run here; empty when it can."""
    missing = [o for o in variant.needs if o not in options]
    if missing:
        return f"`serialint check --help` does not list {', '.join(missing)}"
    if not Path(variant.argv[0]).exists():
        return f"{variant.argv[0]} is not installed"
    return ""


def build_variants(setup: Setup) -> List[Variant]:
    base = [*SERIALINT, "check", "."]
    cache = setup.work / "cache"
    edit_cache = setup.work / "edit-cache"
    tool_bin = Path(setup.bench).parent
    original = setup.edit_file.read_bytes()
    edit_argv = [*base, "--cache-dir", str(edit_cache)]

    def fresh_cache(_: int) -> None:
        shutil.rmtree(cache, ignore_errors=True)
        cache.mkdir()

    def edit_one_file(round_number: int) -> None:
        setup.edit_file.write_bytes(original)
        # untimed: bring this copy's cache up to date with the unedited file
        lint_ok(measure(edit_argv, setup.edit_corpus, setup.env), "serialint (warming the edit cache)")
        # a different comment each round, so no round finds its edit already cached
        tail = b"" if original.endswith(b"\n") else b"\n"
        setup.edit_file.write_bytes(original + tail + f"# edited in round {round_number}\n".encode())

    no_cache = ("--no-cache", "--jobs")
    jobs1 = Variant("jobs1", "serialint --jobs 1, cold", [*base, "--no-cache", "--jobs", "1"], setup.corpus, no_cache)
    if not setup.options:
        # a serialint without a cache or workers is exactly `--jobs 1 --no-cache`
        jobs1 = Variant("jobs1", "serialint, cold (plain run: no cache or worker options)", base, setup.corpus)
    with_cache = [*base, "--cache-dir", str(cache)]
    variants = [
        Variant("parse", "libcst parse-only", [sys.executable, str(HERE / "_parse_only.py"), "."], setup.corpus),
        jobs1,
        Variant("cold", "serialint default jobs, cold (empty cache)", with_cache, setup.corpus, ("--cache-dir",),
                before=fresh_cache),
        Variant("warm", "serialint default jobs, warm (no change)", with_cache, setup.corpus, ("--cache-dir",)),
        Variant("edit", "serialint default jobs, warm, one file edited", edit_argv, setup.edit_corpus, ("--cache-dir",),
                before=edit_one_file),
        Variant("jobs2", "serialint --jobs 2, cold", [*base, "--no-cache", "--jobs", "2"], setup.corpus, no_cache),
        Variant("torchfix", "TorchFix (default rules and jobs)", [str(tool_bin / "torchfix"), "."], setup.corpus),
        Variant("fixit", "Fixit `lint` (default rules and jobs)", [str(tool_bin / "fixit"), "lint", "."], setup.corpus),
    ]
    for variant in variants:
        if variant.key in COMPARED:
            variant.env = setup.env
    return variants


# run back to back, in this order: warm needs cold's cache; edit is timed right after them
SLOTS = (("parse",), ("jobs1",), ("cold", "warm", "edit"), ("jobs2",), ("torchfix",), ("fixit",))


def run_rounds(variants: Dict[str, Variant], rounds: int, slow_rounds: int) -> None:
    for index in range(rounds):
        shift = index % len(SLOTS)
        for slot in SLOTS[shift:] + SLOTS[:shift]:
            for key in slot:
                variant = variants.get(key)
                if variant is None or (variant.slow and index >= slow_rounds):
                    continue
                if variant.before is not None:
                    variant.before(index + 1)
                run = measure(variant.argv, variant.cwd, variant.env)
                if key not in SLOW:
                    lint_ok(run, variant.label)
                variant.runs.append(run)
                print(f"round {index + 1}/{rounds}  {variant.label}: {run.wall:.1f} s", file=sys.stderr)


def relint_report(run: Run) -> Optional[str]:
    """serialint's own words on how much it linted again, if its stderr says so."""
    for line in run.stderr.decode(errors="replace").splitlines():
        if re.search(r"\b\d+\b.*\b(re-?linted|linted again|from (the )?cache|cached)\b", line, re.I):
            return line.strip()
    return None


def compare_outputs(variants: Sequence[Variant]) -> Tuple[List[str], str]:
    """Problems (empty when every compared run printed the same bytes) and a one-line summary."""
    compared = [v for v in variants if v.compared and v.runs]
    if not compared:
        return [], "no serialint output to compare"
    reference = compared[0].runs[0].stdout
    problems: List[str] = []
    for variant in compared:
        for number, run in enumerate(variant.runs, 1):
            if run.stdout != reference:
                ours, theirs = reference.decode(errors="replace"), run.stdout.decode(errors="replace")
                differing = next(
                    (f"{a!r} != {b!r}" for a, b in zip(ours.splitlines(), theirs.splitlines()) if a != b),
                    f"{len(ours.splitlines())} lines != {len(theirs.splitlines())} lines",
                )
                problems.append(f"{variant.label}, round {number}: {differing}")
    runs = sum(len(v.runs) for v in compared)
    lines = reference.count(b"\n")
    return problems, f"{runs} runs of {', '.join(v.key for v in compared)}; {len(reference)} bytes, {lines} lines each"


def ratio(a: Optional[float], b: Optional[float]) -> Optional[float]:
    return a / b if a is not None and b else None


Target = Tuple[str, str, str, Optional[bool]]


def targets(v: Dict[str, Variant], audit: Optional[Run]) -> List[Target]:
    """(target, measured, the same by CPU time, met); met is None when a variant it needs did not run.

    Met or not is judged on median wall time; the CPU-time ratio is there because a busy machine
    stretches wall time and CPU time differently.
    """
    wall = {key: variant.median() for key, variant in v.items()}
    cpu = {key: statistics.median(r.cpu for r in variant.runs) if variant.runs else None for key, variant in v.items()}
    rows: List[Target] = []

    def add(name: str, pair: Tuple[str, str], fmt: str, met: Callable[[float], bool], by_cpu: bool = True) -> None:
        value = ratio(wall.get(pair[0]), wall.get(pair[1]))
        cpu_value = ratio(cpu.get(pair[0]), cpu.get(pair[1])) if by_cpu else None
        rows.append((
            name,
            "n/a" if value is None else fmt.format(value),
            "" if cpu_value is None else fmt.format(cpu_value),
            None if value is None else met(value),
        ))

    add("`--jobs 1` cold ≤ 1.5× libcst parse-only", ("jobs1", "parse"), "{:.2f}×", lambda r: r <= 1.5)
    for tool, name in (("torchfix", "TorchFix"), ("fixit", "Fixit")):
        for ours, label in (("jobs1", "`--jobs 1` cold"), ("cold", "default jobs cold")):
            add(f"{label} ≥ 10× faster than {name}", (tool, ours), "{:.1f}×", lambda r: r >= 10)
    # a speed-up from workers shows in wall time only
    add("`--jobs 2` ≥ 1.7× faster than `--jobs 1`", ("jobs1", "jobs2"), "{:.2f}×", lambda r: r >= 1.7, by_cpu=False)
    add("warm ≤ 10% of cold", ("warm", "cold"), "{:.1%}", lambda r: r <= 0.10)
    rss = None if audit is None else audit.peak_rss / MB
    rows.append((
        "peak RSS < 250 MB on the audit corpus",
        "n/a" if rss is None else f"{rss:.0f} MB",
        "",
        None if rss is None else rss < 250,
    ))
    return rows


def variant_table(variants: Sequence[Variant], lines: int) -> str:
    out = [
        "| variant | runs | median s | min s | lines/s | median CPU s | peak RSS MB | exit |",
        "|---|---:|---:|---:|---:|---:|---:|---|",
    ]
    for v in variants:
        if not v.runs:
            continue
        median = v.median() or 0.0
        exits = ",".join(str(c) for c in sorted({r.exit_code for r in v.runs}))
        out.append(
            f"| {v.label} | {len(v.runs)} | {median:.2f} | {min(v.walls()):.2f} | {lines / median:,.0f} | "
            f"{statistics.median(r.cpu for r in v.runs):.2f} | {max(r.peak_rss for r in v.runs) / MB:.0f} | {exits} |"
        )
    return "\n".join(out)


def version(argv: Sequence[str], env: Optional[Mapping[str, str]] = None) -> str:
    """The last word a `--version` prints ("fixit, version 2.1.0" -> "2.1.0")."""
    done = subprocess.run(list(argv), capture_output=True, text=True, env=env)
    words = (done.stdout or done.stderr).split()
    return words[-1] if done.returncode == 0 and words else "unknown"


@dataclass
class Results:
    meta: Dict[str, object]
    variants: List[Variant]  # those that ran, in table order
    skipped: List[Tuple[Variant, str]]  # and why
    audit: Optional[Run]
    audit_lines: int
    targets: List[Target]
    identity: str
    problems: List[str]


def report(res: Results) -> str:
    meta = res.meta
    by_key = {v.key: v for v in res.variants}
    versions = ", ".join(f"{k} {v}" for k, v in meta["corpus_versions"].items())  # type: ignore[attr-defined]
    out = [
        f"## serialint speed, {meta['date']}",
        "",
        f"{meta['cpus']} cores, Python {meta['python']}, serialint {meta['serialint']}, libcst {meta['libcst']}, "
        f"TorchFix {meta['torchfix']}, Fixit {meta['fixit']}; 1-minute load average {meta['load_before']:.2f} "
        f"before, {meta['load_after']:.2f} after. serialint runs from a byte-compiled copy of "
        f"`{meta['serialint_source']}` taken at the start.",
        f"Corpus `speed`: {meta['corpus_files']} files, {meta['corpus_lines']:,} lines ({versions}). "
        f"Rounds: {meta['rounds']}, TorchFix and Fixit in {meta['slow_rounds']}.",
        "",
        variant_table(res.variants, int(meta["corpus_lines"])),  # type: ignore[call-overload]
        "",
        "Peak RSS is `ru_maxrss` from `os.wait4`: for runs with worker processes it is the largest single "
        "process, not their sum. CPU s is user + system time of the process and of its workers. serialint "
        "and Fixit exit 1 when they report findings. TorchFix and Fixit run one worker per core by default.",
    ]
    if "edit" in by_key:
        said = relint_report(by_key["edit"].runs[-1])
        out += ["", f"Edited file: `{meta['edited_file']}`. "
                + (f"serialint says: {said}" if said else "serialint does not say how many files it linted again.")]
    if res.audit is not None:
        audit = res.audit
        command = " ".join(by_key["jobs1"].argv[len(SERIALINT):])
        out += ["", f"Audit corpus, `serialint {command}`, once: {res.audit_lines:,} lines in {audit.wall:.1f} s "
                f"({res.audit_lines / audit.wall:,.0f} lines/s, CPU {audit.cpu:.1f} s), "
                f"peak RSS {audit.peak_rss / MB:.0f} MB, exit {audit.exit_code}."]
    if res.skipped:
        out += ["", "Skipped:"]
        out += [f"- {v.label}: {why}" for v, why in res.skipped]
    out += ["", "| target | measured (wall) | by CPU time | |", "|---|---:|---:|---|"]
    out += [f"| {name} | {wall} | {cpu} | {'n/a' if met is None else 'met' if met else 'NOT MET'} |"
            for name, wall, cpu, met in res.targets]
    out += ["", f"Output identity: {res.identity}."]
    out += [f"FAIL: output differs: {problem}" for problem in res.problems]
    return "\n".join(out)


def as_json(res: Results) -> Dict[str, object]:
    def run(r: Run) -> Dict[str, float]:
        return {"wall": r.wall, "cpu": r.cpu, "peak_rss": r.peak_rss, "exit_code": r.exit_code}

    return {
        **res.meta,
        "variants": {v.key: {"label": v.label, "argv": v.argv, "runs": [run(r) for r in v.runs]} for v in res.variants},
        "skipped": {v.key: why for v, why in res.skipped},
        "audit": None if res.audit is None else {"lines": res.audit_lines, **run(res.audit)},
        "targets": [{"target": n, "measured": m, "by_cpu": c, "met": ok} for n, m, c, ok in res.targets],
        "output_identical": not res.problems,
        "output_problems": res.problems,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5, help="rounds of every fast variant (default 5)")
    parser.add_argument(
        "--slow-rounds", type=int, default=1, help="rounds that also run TorchFix and Fixit (default 1)"
    )
    parser.add_argument("--no-audit", action="store_true", help="skip the run on the audit corpus")
    parser.add_argument("--json", type=Path, help="also write the results to this file")
    args = parser.parse_args()

    bench = bench_python()
    speed_src = assemble("speed", python=bench)
    work = Path(tempfile.mkdtemp(prefix="serialint-speed-"))
    try:
        outside_configuration(work)
        source, env = snapshot_serialint(work)
        options = supported_options(env)
        corpus, edit_corpus = work / "speed", work / "edit" / "speed"
        shutil.copytree(speed_src, corpus)
        shutil.copytree(speed_src, edit_corpus)
        files = corpus_files(corpus)
        edit_file = edit_corpus / median_file(files).relative_to(corpus)
        every = build_variants(Setup(work, corpus, edit_corpus, edit_file, options, bench, env))
        variants = {v.key: v for v in every if not why_not(v, options)}
        meta: Dict[str, object] = {
            "date": time.strftime("%Y-%m-%d %H:%M"),
            "load_before": os.getloadavg()[0],
            "rounds": args.rounds,
            "slow_rounds": min(args.slow_rounds, args.rounds),
        }
        run_rounds(variants, args.rounds, args.slow_rounds)
        audit: Optional[Run] = None
        audit_lines = 0
        if not args.no_audit and "jobs1" in variants:
            audit_corpus = work / "audit"
            shutil.copytree(assemble("audit", python=bench), audit_corpus)
            audit_lines = count_lines(corpus_files(audit_corpus))
            audit = measure(variants["jobs1"].argv, audit_corpus, env)
            lint_ok(audit, "serialint on the audit corpus")
            print(f"audit corpus: {audit.wall:.1f} s", file=sys.stderr)
        meta["load_after"] = os.getloadavg()[0]
        meta["serialint"] = version([*SERIALINT, "--version"], env)
        meta["serialint_source"] = source
    finally:
        shutil.rmtree(work, ignore_errors=True)

    tools = Path(bench).parent
    meta.update({
        "cpus": os.cpu_count(),
        "python": platform.python_version(),
        "libcst": version([sys.executable, "-c", "import importlib.metadata as m; print(m.version('libcst'))"]),
        "torchfix": version([str(tools / "torchfix"), "--version"]),
        "fixit": version([str(tools / "fixit"), "--version"]),
        "corpus_versions": json.loads((speed_src / "MANIFEST.json").read_text())["versions"],
        "corpus_files": len(files),
        "corpus_lines": count_lines(corpus_files(speed_src)),
        "edited_file": str(edit_file.relative_to(edit_corpus)),
    })
    ran = [v for v in every if v.key in variants]
    problems, identity = compare_outputs(ran)
    results = Results(
        meta=meta,
        variants=ran,
        skipped=[(v, why_not(v, options)) for v in every if v.key not in variants],
        audit=audit,
        audit_lines=audit_lines,
        targets=targets(variants, audit),
        identity=identity,
        problems=problems,
    )
    print(report(results))
    if args.json:
        args.json.write_text(json.dumps(as_json(results), indent=1))
    if problems:
        sys.exit("FAIL: serialint printed different findings for the same files (see above)")


if __name__ == "__main__":
    main()
