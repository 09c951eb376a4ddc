"""The README stays true: its rule table is the registry's, its test command is what CI runs."""

from __future__ import annotations

import os
import re

from serialint.rules import all_rules
from support import ROOT

README = os.path.join(ROOT, "README.md")
START, END = "<!-- rules:start -->", "<!-- rules:end -->"


def rule_table() -> str:
    rows = ["| code | name | what it flags | fix | default |", "|---|---|---|---|---|"]
    for rule in all_rules():
        what = rule.doc_sections()["What it does"].split("\n\n")[0].replace("\n", " ")
        fix = rule.fix_applicability.value if rule.fix_applicability else "none"
        rows.append(f"| {rule.code} | `{rule.name}` | {what} | {fix} | {'on' if rule.default_enabled else 'off'} |")
    return "\n".join(rows)


def test_readme_rule_table_matches_the_registry():
    with open(README, encoding="utf-8") as handle:
        text = handle.read()
    table = rule_table()
    if os.environ.get("SERIALINT_UPDATE_GOLDEN") == "1":
        text = re.sub(f"{re.escape(START)}.*?{re.escape(END)}", f"{START}\n{table}\n{END}", text, flags=re.S)
        with open(README, "w", encoding="utf-8") as handle:
            handle.write(text)
    current = text.split(START, 1)[1].split(END, 1)[0].strip()
    assert current == table


def test_ci_runs_the_readme_test_command():
    with open(README, encoding="utf-8") as handle:
        readme = handle.read()
    with open(os.path.join(ROOT, ".ci", "run"), encoding="utf-8") as handle:
        ci = handle.read()
    commands = re.findall(r"```sh\n(.*?)\n```", readme, flags=re.S)
    assert len(commands) >= 2
    check_command, test_command = commands[0], commands[1]
    assert check_command.endswith("serialint check test_corpus/")
    steps = [step.strip() for step in test_command.split("&&")]
    assert steps == [
        "python3 -m venv .venv",
        ". .venv/bin/activate",
        "pip install torch==2.13.0",
        "pip install -e '.[test]'",
        "python -m pytest",
    ]
    ci_lines = [line.strip() for line in ci.splitlines() if line.strip() and not line.strip().startswith("#")]
    for step in steps:
        assert step in ci_lines, f".ci/run does not run the README step {step!r}"
