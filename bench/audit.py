"""Real-code audit: lint the ``audit`` corpus and check the reviewed sample.

Runs ``serialint check`` over about 600,000 lines of installed model code
(see ``bench/corpus.py``), one package at a time (see ``run_linter``), then:

* fails (exit 1) on a crash, a traceback, exit status 2 or any reported error;
* prints the files, lines, time, lines per second and findings per package,
  and the findings per rule;
* reads ``bench/triage.md`` and fails when a finding it lists is no longer
  reported, when a sampled finding has no row, or when a row has no verdict
  or no reason; prints the precision (real / reviewed) per rule and overall.

A finding is named ``path:line:col CODE``, the path relative to the corpus
root and the column 1-based, as ``serialint check`` prints it.

The sample per rule: every finding when the rule has at most ``SAMPLE_SIZE``;
otherwise ``SAMPLE_SIZE`` of them, shared out between the corpus packages in
proportion to their findings (each package with findings gets at least one)
and, inside a package, the findings whose id has the smallest SHA-1. The
choice depends only on the set of findings, and a finding that comes or goes
changes the sample by a finding or two, not wholesale, so a reviewed sample
stays mostly valid as the rules change.

Usage::

    python bench/audit.py                        # lint, report, check the triage
    python bench/audit.py --write-sample         # also add rows for unreviewed samples
    python bench/audit.py --save findings.json   # keep the findings ...
    python bench/audit.py --findings findings.json --write-sample   # ... and re-check without linting
"""

from __future__ import annotations

import argparse
import hashlib
import json
import re
import shutil
import subprocess
import sys
import tempfile
import time
from collections import Counter, defaultdict
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Dict, Iterable, List, Optional, Sequence, Tuple

sys.path.insert(0, str(Path(__file__).resolve().parent))

from corpus import assemble, corpus_files, count_lines  # noqa: E402

BENCH = Path(__file__).resolve().parent
TRIAGE = BENCH / "triage.md"
SAMPLE_SIZE = 30
VERDICTS = ("real", "false positive")
# what makes a directory a configuration root for serialint (its search walks upward)
CONFIG_FILES = (".serialint.toml", "serialint.toml", "pyproject.toml")
# Configuration written beside a package for its run. torch's own sources define torch.nn.Module;
# in the corpus, without torch/__init__.py, that class is module "nn.modules.module" by layout,
# and serialint cannot know it is the root of every Module class unless told.
PACKAGE_CONFIG = {"torch": 'module-bases = ["nn.modules.module.Module"]\n'}
_ROW = re.compile(r"^\|\s*`?(?P<id>[^|`]+?:\d+:\d+ SER\d{3})`?\s*\|(?P<verdict>[^|]*)\|(?P<reason>.*)\|\s*$")
_SECTION = re.compile(r"^##\s+(?P<code>SER\d{3})\b")


class AuditFailure(Exception):
    """The audit cannot vouch for the run or the triage."""


@dataclass(frozen=True)
class Reported:
    id: str
    path: str
    line: int
    column: int
    code: str
    message: str

    @property
    def package(self) -> str:
        return self.path.split("/", 1)[0]


@dataclass(frozen=True)
class Row:
    id: str
    verdict: str
    reason: str
    line_number: int


# ---------------------------------------------------------------------------
# running the linter


def _config_root_above(directory: Path) -> Optional[Path]:
    for parent in (directory, *directory.parents):
        for name in CONFIG_FILES:
            if (parent / name).is_file():
                return parent / name
    return None


def _supports(option: str) -> bool:
    out = subprocess.run(
        [sys.executable, "-m", "serialint", "check", "--help"], capture_output=True, text=True, check=True
    )
    return option in out.stdout


def run_linter(corpus: Path, workdir: Path, package: str) -> Tuple[List[Reported], float]:
    """Copy one package of the corpus under ``workdir``, lint it, return the findings and the seconds.

    Each package is linted on its own, as its users lint it: torch is installed, not part of
    the project. Linted together, the copy of torch's sources would stand in for torch itself
    (``torch.nn.Module`` would name the corpus's class) and hide the other packages' findings.
    torch's own run declares its ``Module`` class as a Module base (``PACKAGE_CONFIG``).
    """
    root = workdir / package
    root.mkdir()
    shutil.copytree(corpus / package, root / package)
    config = _config_root_above(root)
    if config is not None:
        raise AuditFailure(f"{config} would configure the corpus run; use another temporary directory")
    if package in PACKAGE_CONFIG:
        (root / "serialint.toml").write_text(PACKAGE_CONFIG[package], encoding="utf-8")
    command = [sys.executable, "-m", "serialint", "check", package, "--output-format", "json"]
    if _supports("--no-cache"):
        command.append("--no-cache")
    start = time.perf_counter()
    proc = subprocess.run(command, cwd=root, capture_output=True, text=True)
    seconds = time.perf_counter() - start
    problems: List[str] = []
    if proc.returncode not in (0, 1):
        problems.append(f"exit status {proc.returncode}")
    stderr_lines = proc.stderr.splitlines()
    if any("Traceback" in line for line in stderr_lines):
        problems.append("a traceback on stderr")
    problems.extend(line for line in stderr_lines if line.startswith("serialint: error"))
    try:
        data = json.loads(proc.stdout)
    except json.JSONDecodeError as exc:
        problems.append(f"the JSON output does not parse: {exc}")
        data = []
    if problems:
        tail = "\n".join(stderr_lines[-40:])
        raise AuditFailure(
            f"serialint check {package} failed:\n  " + "\n  ".join(problems) + f"\n--- stderr (tail) ---\n{tail}"
        )
    return [_reported(item, root) for item in data], seconds


def _reported(item: dict, root: Path) -> Reported:
    """The finding, its path relative to the corpus root (the directory the package was copied to)."""
    path = Path(item["path"])
    if not path.is_absolute():
        path = root / path
    rel = path.resolve().relative_to(root.resolve()).as_posix()
    code = item["code"]
    ident = f"{rel}:{item['line']}:{item['column']} {code}"
    return Reported(ident, rel, item["line"], item["column"], code, item["message"])


# ---------------------------------------------------------------------------
# sampling


def _digest(ident: str) -> str:
    return hashlib.sha1(ident.encode("utf-8")).hexdigest()


def _quotas(sizes: Dict[str, int], total: int) -> Dict[str, int]:
    """Share ``total`` slots between packages in proportion to ``sizes``, at least one each."""
    packages = sorted(sizes)
    quota = {p: 1 for p in packages}
    left = total - len(packages)
    if left <= 0:
        # more packages than slots: the packages with most findings get one each
        ranked = sorted(packages, key=lambda p: (-sizes[p], p))[:total]
        return {p: 1 for p in ranked}
    spare = {p: sizes[p] - 1 for p in packages}
    spare_total = sum(spare.values())
    exact = {p: left * spare[p] / spare_total for p in packages}
    for p in packages:
        quota[p] += int(exact[p])
    rest = left - sum(int(exact[p]) for p in packages)
    # largest remainders first; ties by package name so the result is stable
    for p in sorted(packages, key=lambda p: (-(exact[p] - int(exact[p])), p))[:rest]:
        quota[p] += 1
    return quota


def sample(findings: Sequence[Reported]) -> Dict[str, List[Reported]]:
    """The findings to review, per rule code, each list sorted by position."""
    by_rule: Dict[str, List[Reported]] = defaultdict(list)
    for finding in findings:
        by_rule[finding.code].append(finding)
    chosen: Dict[str, List[Reported]] = {}
    for code, items in sorted(by_rule.items()):
        if len(items) <= SAMPLE_SIZE:
            picked = list(items)
        else:
            by_package: Dict[str, List[Reported]] = defaultdict(list)
            for item in items:
                by_package[item.package].append(item)
            quota = _quotas({p: len(v) for p, v in by_package.items()}, SAMPLE_SIZE)
            picked = []
            for package, count in quota.items():
                picked.extend(sorted(by_package[package], key=lambda f: _digest(f.id))[:count])
        chosen[code] = sorted(picked, key=lambda f: (f.path, f.line, f.column))
    return chosen


# ---------------------------------------------------------------------------
# the triage file


def read_triage(text: str) -> Dict[str, Row]:
    rows: Dict[str, Row] = {}
    for number, line in enumerate(text.splitlines(), start=1):
        match = _ROW.match(line.strip())
        if not match:
            continue
        ident = match["id"].strip()
        if ident in rows:
            raise AuditFailure(f"triage.md:{number}: {ident} is listed twice (first on line {rows[ident].line_number})")
        rows[ident] = Row(ident, match["verdict"].strip().lower(), match["reason"].strip(), number)
    return rows


def add_sample_rows(text: str, missing: Dict[str, List[Reported]]) -> str:
    """``text`` with an empty-verdict row for each missing finding, in its rule's table."""
    lines = text.splitlines()
    for code in sorted(missing):
        new_rows = [f"| `{f.id}` |  |  |" for f in missing[code]]
        start = next((i for i, line in enumerate(lines) if (m := _SECTION.match(line)) and m["code"] == code), None)
        if start is None:
            lines.extend(["", f"## {code}", "", "| finding | verdict | reason |", "|---|---|---|", *new_rows])
            continue
        end = next((i for i in range(start + 1, len(lines)) if _SECTION.match(lines[i])), len(lines))
        last_row = max((i for i in range(start, end) if lines[i].lstrip().startswith("|")), default=None)
        if last_row is None:
            block = ["", "| finding | verdict | reason |", "|---|---|---|", *new_rows]
            lines[start + 1 : start + 1] = block
        else:
            lines[last_row + 1 : last_row + 1] = new_rows
    return "\n".join(lines) + "\n"


def check_triage(
    findings: Sequence[Reported], chosen: Dict[str, List[Reported]], rows: Dict[str, Row]
) -> Tuple[List[str], Dict[str, List[Reported]]]:
    """Problems that put the triage out of sync, and the sampled findings that have no row."""
    reported = {f.id for f in findings}
    problems: List[str] = []
    for row in rows.values():
        if row.id not in reported:
            problems.append(f"triage.md:{row.line_number}: {row.id} is no longer reported; update its row")
        elif row.verdict not in VERDICTS:
            what = "has no verdict" if not row.verdict else f"has the verdict {row.verdict!r}"
            problems.append(f"triage.md:{row.line_number}: {row.id} {what} (expected one of {', '.join(VERDICTS)})")
        elif not row.reason:
            problems.append(f"triage.md:{row.line_number}: {row.id} has no reason")
    missing: Dict[str, List[Reported]] = {}
    for code, items in chosen.items():
        absent = [f for f in items if f.id not in rows]
        if absent:
            missing[code] = absent
            for f in absent:
                problems.append(f"{f.id} is in the sample but not in triage.md")
    return problems, missing


def precision(findings: Sequence[Reported], rows: Dict[str, Row]) -> Dict[str, Tuple[int, int]]:
    """(real, reviewed) per rule over the rows whose finding is still reported."""
    reported = {f.id: f.code for f in findings}
    result: Dict[str, List[int]] = defaultdict(lambda: [0, 0])
    for row in rows.values():
        code = reported.get(row.id)
        if code is None or row.verdict not in VERDICTS:
            continue
        result[code][1] += 1
        if row.verdict == "real":
            result[code][0] += 1
    return {code: (real, reviewed) for code, (real, reviewed) in result.items()}


# ---------------------------------------------------------------------------


def _percent(part: int, whole: int) -> str:
    return f"{100 * part / whole:5.1f}%" if whole else "    -"


def report(
    findings: Sequence[Reported],
    sizes: Dict[str, Tuple[int, int]],
    seconds: Dict[str, float],
    chosen: Dict[str, List[Reported]],
    scores: Dict[str, Tuple[int, int]],
) -> None:
    """Print the run per package, then findings, sample and precision per rule."""
    per_package = Counter(f.package for f in findings)
    print(f"{'package':<14}{'files':>7}{'lines':>10}{'seconds':>9}{'lines/s':>9}{'findings':>10}")
    for package in sorted(sizes):
        files, lines = sizes[package]
        spent = seconds.get(package)
        timing = f"{spent:>9.1f}{lines / spent:>9,.0f}" if spent else f"{'-':>9}{'-':>9}"
        print(f"{package:<14}{files:>7}{lines:>10,}{timing}{per_package[package]:>10}")
    files = sum(v[0] for v in sizes.values())
    lines = sum(v[1] for v in sizes.values())
    total_seconds = sum(seconds.values())
    timing = f"{total_seconds:>9.1f}{lines / total_seconds:>9,.0f}" if total_seconds else f"{'-':>9}{'-':>9}"
    print(f"{'total':<14}{files:>7}{lines:>10,}{timing}{len(findings):>10}")
    print()
    counts = Counter(f.code for f in findings)
    print(f"{'rule':<8}{'findings':>9}{'sampled':>9}{'reviewed':>10}{'real':>6}{'precision':>11}")
    total_real = total_reviewed = 0
    for code in sorted(counts):
        real, reviewed = scores.get(code, (0, 0))
        total_real += real
        total_reviewed += reviewed
        print(
            f"{code:<8}{counts[code]:>9}{len(chosen.get(code, [])):>9}{reviewed:>10}{real:>6}"
            f"{_percent(real, reviewed):>11}"
        )
    print(
        f"{'total':<8}{len(findings):>9}{sum(len(v) for v in chosen.values()):>9}{total_reviewed:>10}"
        f"{total_real:>6}{_percent(total_real, total_reviewed):>11}"
    )


def lint_corpus(corpus: Path) -> Tuple[List[Reported], Dict[str, float]]:
    findings: List[Reported] = []
    seconds: Dict[str, float] = {}
    with tempfile.TemporaryDirectory(prefix="serialint-audit-") as workdir:
        for package in sorted(p.name for p in corpus.iterdir() if p.is_dir()):
            found, seconds[package] = run_linter(corpus, Path(workdir), package)
            print(f"linted {package}: {len(found)} findings in {seconds[package]:.1f} s", file=sys.stderr)
            findings.extend(found)
    return findings, seconds


def main(argv: Optional[Iterable[str]] = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--write-sample",
        action="store_true",
        help="append sampled findings that triage.md lacks, with an empty verdict to fill in",
    )
    parser.add_argument("--triage", type=Path, default=TRIAGE, help="the triage file (default: bench/triage.md)")
    parser.add_argument("--save", type=Path, metavar="JSON", help="also write the findings to this file")
    parser.add_argument(
        "--findings",
        type=Path,
        metavar="JSON",
        help="check the triage against findings saved by --save instead of linting again (no timing)",
    )
    args = parser.parse_args(list(argv) if argv is not None else None)

    corpus = assemble("audit")
    sizes: Dict[str, Tuple[int, int]] = {}
    for package in sorted(p.name for p in corpus.iterdir() if p.is_dir()):
        files = corpus_files(corpus / package)
        sizes[package] = (len(files), count_lines(files))
    try:
        if args.findings is not None:
            findings = [Reported(**item) for item in json.loads(args.findings.read_text(encoding="utf-8"))]
            seconds: Dict[str, float] = {}
        else:
            findings, seconds = lint_corpus(corpus)
        text = args.triage.read_text(encoding="utf-8") if args.triage.exists() else ""
        rows = read_triage(text)
    except AuditFailure as exc:
        print(f"audit: FAILED: {exc}", file=sys.stderr)
        return 1
    if args.save is not None:
        args.save.write_text(json.dumps([asdict(f) for f in findings], indent=1) + "\n", encoding="utf-8")

    chosen = sample(findings)
    problems, missing = check_triage(findings, chosen, rows)
    if args.write_sample and missing:
        args.triage.write_text(add_sample_rows(text, missing), encoding="utf-8")
        added = sum(len(v) for v in missing.values())
        print(f"added {added} unreviewed rows to {args.triage}", file=sys.stderr)
    report(findings, sizes, seconds, chosen, precision(findings, rows))
    if problems:
        print(f"\naudit: triage out of sync ({len(problems)} problems):", file=sys.stderr)
        for problem in problems:
            print(f"  {problem}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
