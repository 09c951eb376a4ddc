"""Commands that need no analysis import no analysis: no libcst (and never torch).

Rule metadata for `serialint rules`, `serialint rule CODE`, configuration checks and the output
formats comes from the generated catalog, which must say exactly what the rule classes say.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import List, Sequence

import pytest

from clitools import BAD, write
from serialint import catalog, cli, output
from serialint.rules import all_rules
from support import ROOT

PROBE = """\
import sys
from serialint.cli import main
status = 0
try:
    main(sys.argv[1:], prog_name="serialint")
except SystemExit as exc:
    status = exc.code
heavy = sorted(m for m in ("libcst", "torch", "serialint.rule", "serialint.model") if m in sys.modules)
sys.stderr.write(f"\\nPROBE {status} {','.join(heavy) or '-'}\\n")
"""


def probe(args: Sequence[str], cwd: Path) -> tuple:
    """Run `serialint ARGS` in a fresh interpreter; its exit status, stdout and the heavy modules it imported."""
    env = dict(os.environ, PYTHONPATH=ROOT)
    env.pop("SERIALINT_CACHE_DIR", None)
    completed = subprocess.run(
        [sys.executable, "-c", PROBE, *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=300
    )
    last = completed.stderr.rstrip("\n").splitlines()[-1].split()
    assert last[0] == "PROBE", completed.stderr
    return int(last[1]), completed.stdout, last[2]


def test_version_imports_no_analysis(tmp_path: Path) -> None:
    status, out, heavy = probe(["--version"], tmp_path)
    assert (status, out, heavy) == (0, "serialint 0.1.0\n", "-")


def test_rules_and_rule_import_no_analysis(tmp_path: Path) -> None:
    status, out, heavy = probe(["rules"], tmp_path)
    assert (status, heavy) == (0, "-")
    assert out.splitlines()[1].startswith("SER101  register-buffer-none ")
    status, out, heavy = probe(["rules", "--output-format", "json"], tmp_path)
    assert (status, heavy) == (0, "-")
    assert [row["code"] for row in json.loads(out)] == [rule.code for rule in all_rules()]
    status, out, heavy = probe(["rule", "SER101"], tmp_path)
    assert (status, heavy) == (0, "-")
    assert out.startswith("# SER101 register-buffer-none\n\nFix: safe. Enabled by default: yes.\n\n## What it does\n")


def test_the_analysis_is_imported_when_a_file_is_linted(tmp_path: Path) -> None:
    write(tmp_path, {"m.py": BAD})
    status, out, heavy = probe(["check", "--no-cache", "--select", "SER101", "."], tmp_path)
    assert (status, heavy) == (1, "libcst,serialint.model,serialint.rule")
    assert out.startswith("m.py:8:9: SER101 ")


@pytest.mark.parametrize("fmt", ["concise", "full", "sarif", "statistics"])
def test_a_fully_cached_check_imports_no_analysis(tmp_path: Path, fmt: str) -> None:
    write(tmp_path, {"pkg/__init__.py": "", "pkg/m.py": BAD, "pkg/clean.py": "x = 1\n"})
    args: List[str] = ["check", "--statistics" if fmt == "statistics" else f"--output-format={fmt}", "pkg"]
    first = probe(args, tmp_path)
    assert first[0] == 1 and first[2] == "libcst,serialint.model,serialint.rule"
    second = probe(args, tmp_path)
    assert second == (1, first[1], "-")
    (tmp_path / "pkg" / "clean.py").write_text("x = 2\n")
    assert probe(args, tmp_path) == (1, first[1], "libcst,serialint.model,serialint.rule")


def test_configuration_checks_import_no_analysis(tmp_path: Path) -> None:
    write(tmp_path, {"m.py": BAD, "serialint.toml": 'select = ["SER999"]\n'})
    status, out, heavy = probe(["check", "."], tmp_path)
    assert (status, out, heavy) == (2, "", "-")


# -- the catalog ------------------------------------------------------------------------------------


def test_the_catalog_is_what_the_rule_classes_say() -> None:
    rendered = catalog.render_catalog()
    if os.environ.get("SERIALINT_UPDATE_GOLDEN") == "1":
        with open(catalog.DATA_MODULE_PATH, "w", encoding="utf-8") as handle:
            handle.write(rendered)
    with open(catalog.DATA_MODULE_PATH, encoding="utf-8") as handle:
        assert handle.read() == rendered, "run SERIALINT_UPDATE_GOLDEN=1 pytest tests/test_lazy_imports.py"


def test_catalog_entries_answer_like_the_rule_classes() -> None:
    infos = catalog.rule_infos()
    rules = all_rules()
    assert [info.code for info in infos] == [rule.code for rule in rules]
    for info, rule in zip(infos, rules):
        assert info.name == rule.name
        assert info.summary == rule.summary
        assert info.severity == rule.severity
        assert info.default_enabled == rule.default_enabled
        assert info.fix_applicability == rule.fix_applicability
        assert info.documentation() == rule.documentation()
        assert info.doc_sections() == rule.doc_sections()
    assert catalog.known_codes() == [rule.code for rule in rules]
    assert catalog.default_codes() == [rule.code for rule in rules if rule.default_enabled]


def test_the_output_formats_render_catalog_entries_as_the_classes() -> None:
    from serialint.findings import Finding

    findings = [Finding("m.py", 8, 8, 8, 42, "SER101", "register-buffer-none", "message")]
    for fmt in ("full", "sarif"):
        assert output.render(fmt, findings, [], catalog.rule_infos(), {"m.py": BAD}) == output.render(
            fmt, findings, [], all_rules(), {"m.py": BAD}
        )
    assert output.statistics(findings, catalog.rule_infos()) == output.statistics(findings, all_rules())


def test_a_rule_module_the_catalog_does_not_know_makes_it_step_aside(monkeypatch) -> None:
    monkeypatch.setattr(catalog, "_INFOS", None)
    monkeypatch.setattr(catalog, "rule_module_names", lambda: ["ser999_new_rule"])
    assert catalog._catalog_entries() is None
    assert [info.code for info in catalog.rule_infos()] == [rule.code for rule in all_rules()]
    monkeypatch.setattr(catalog, "_INFOS", None)
    monkeypatch.setattr(catalog, "rule_module_names", lambda: None)  # cannot list: trust the catalog
    assert catalog._catalog_entries() is not None


def test_the_command_line_knows_every_output_format() -> None:
    assert cli.FORMATS == output.FORMATS
