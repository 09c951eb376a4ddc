"""`# noqa` (flake8-compatible) and file-level `# serialint: noqa`: parsing, and effect on SER101."""

from __future__ import annotations

from typing import List, Tuple

import pytest

from clitools import BAD, message
from serialint.config import Settings
from serialint.engine import lint_source
from serialint.suppression import ALL, find_suppressions

# -- parsing ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "comment, codes",
    [
        ("# noqa", ALL),
        ("#noqa", ALL),
        ("# NOQA", ALL),
        ("# NoQa", ALL),
        ("# noqa: SER101", {"SER101"}),
        ("# noqa:SER101", {"SER101"}),
        ("# noqa: ser101", {"SER101"}),
        ("# noqa: SER101,SER2", {"SER101", "SER2"}),
        ("# noqa: SER101, SER2", {"SER101", "SER2"}),
        ("# noqa: SER101 SER2", {"SER101", "SER2"}),
        ("# noqa:SER101,E501,", {"SER101", "E501"}),
        ("# noqa: E501", {"E501"}),
        ("# noqa: SER101 because the buffer is filled in load", {"SER101"}),
        ("# type: ignore  # noqa: SER101", {"SER101"}),
        ("# some words # noqa", ALL),
        # as in flake8: codes that do not parse leave a bare `# noqa`
        ("# noqa:  SER101", ALL),
        ("# noqa : SER101", ALL),
        ("# noqa: -", ALL),
        ("# noqa - reason", ALL),
    ],
)
def test_line_noqa_grammar(comment: str, codes: object) -> None:
    found = find_suppressions(f"x = 1  {comment}\n")
    assert found.by_line == {1: ALL if codes is ALL else frozenset(codes)}  # type: ignore[arg-type]
    assert found.file_codes == frozenset()


@pytest.mark.parametrize("comment", ["# no qa", "# noq", "# nqa: SER101", "# see the noqa docs"])
def test_not_a_noqa(comment: str) -> None:
    found = find_suppressions(f"x = 1  {comment}\n")
    assert found.empty


@pytest.mark.parametrize(
    "comment, codes",
    [
        ("# serialint: noqa", ALL),
        ("#serialint:noqa", ALL),
        ("# SERIALINT: NOQA", ALL),
        ("# serialint: noqa: SER204", {"SER204"}),
        ("# serialint: noqa:SER204,SER1", {"SER204", "SER1"}),
        ("# serialint: noqa: ser204 generated code", {"SER204"}),
        ("# serialint: noqa (generated)", ALL),
    ],
)
def test_file_noqa_grammar(comment: str, codes: object) -> None:
    found = find_suppressions(f"import torch\n{comment}\nx = 1\n")
    assert found.file_codes == (ALL if codes is ALL else frozenset(codes))  # type: ignore[arg-type]
    assert found.by_line == {}


@pytest.mark.parametrize(
    "comment",
    [
        "# serialint: noqa:",  # codes promised and missing
        "# serialint: noqa: SER-204",  # a typo must not silence the whole file
        "# serialint: noqa: SER204,",
        "# serialint: noqakeep",
        "# serialint noqa",
    ],
)
def test_malformed_file_noqa_suppresses_nothing(comment: str) -> None:
    found = find_suppressions(f"{comment}\nx = 1\n")
    assert found.empty


def test_indented_own_line_comment_is_file_level() -> None:
    found = find_suppressions("def f():\n    # serialint: noqa: SER101\n    return 1\n")
    assert (found.file_codes, found.by_line) == (frozenset({"SER101"}), {})


def test_trailing_file_noqa_is_only_that_line() -> None:
    found = find_suppressions("x = 1  # serialint: noqa: SER101\ny = 2  # serialint: noqa\n")
    assert found.file_codes == frozenset()
    assert found.by_line == {1: frozenset({"SER101"}), 2: ALL}


def test_comment_after_a_multiline_string_is_not_own_line() -> None:
    found = find_suppressions('x = """\nabc\n"""  # serialint: noqa\n')
    assert (found.file_codes, found.by_line) == (frozenset(), {3: ALL})


@pytest.mark.parametrize(
    "source",
    [
        'x = "# noqa"\n',
        "x = '# noqa: SER101'\n",
        'x = """\n# serialint: noqa\n"""\n',
        'x = f"{1} # noqa"\n',
        'def f():\n    """Docs.\n\n    # noqa\n    """\n',
    ],
)
def test_noqa_inside_a_string_is_not_a_comment(source: str) -> None:
    assert find_suppressions(source).empty


def test_untokenizable_source_suppresses_nothing() -> None:
    assert find_suppressions('x = """  # noqa\n').empty


def test_matching() -> None:
    found = find_suppressions("a = 1  # noqa: SER1\nb = 2  # noqa: SER101\nc = 3  # noqa\n# serialint: noqa: SER3\n")
    assert found.line_suppresses("SER101", 1, 1)
    assert found.line_suppresses("SER199", 1, 1)
    assert not found.line_suppresses("SER201", 1, 1)
    assert found.line_suppresses("SER101", 2, 2)
    assert not found.line_suppresses("SER102", 2, 2)
    assert found.line_suppresses("SER999", 3, 3)
    assert not found.line_suppresses("SER101", 4, 5)
    assert found.line_suppresses("SER102", 4, 1000) is False
    assert found.line_suppresses("SER102", 2, 3)  # any line of the span
    assert found.file_suppresses("SER301")
    assert not found.file_suppresses("SER101")


# -- effect on real findings -------------------------------------------------------------------------

HEAD = """\
import torch
from torch import nn


class Normalizer(nn.Module):
    def __init__(self):
        super().__init__()
"""
TAIL = """

    def calibrate(self, x):
        self.mean = x.mean(0)
"""


def findings(source: str) -> List[Tuple[int, int, str]]:
    settings = Settings(select=("SER101",))
    result = lint_source(source, path="model.py", settings=settings)
    assert result.errors == []
    return [(f.line, f.column + 1, f.code) for f in result.findings]


def test_the_unsuppressed_finding() -> None:
    assert findings(BAD) == [(8, 9, "SER101")]
    assert lint_source(BAD, path="model.py").findings[0].message == message()


@pytest.mark.parametrize(
    "comment",
    [
        "# noqa",
        "# noqa: SER101",
        "# noqa:SER101",
        "# noqa: SER1",
        "# noqa: SER",
        "# NOQA: ser101",
        "# noqa: E501,SER101",
        "# noqa: SER101 the buffer is materialised by a hook",
        "# serialint: noqa: SER101",
    ],
)
def test_line_noqa_suppresses(comment: str) -> None:
    source = HEAD + f'        self.register_buffer("mean", None)  {comment}' + TAIL
    assert findings(source) == []


@pytest.mark.parametrize("comment", ["# noqa: E501", "# noqa: SER102", "# noqa: SER2", "# noqa: F401,W291"])
def test_line_noqa_for_other_codes_does_not_suppress(comment: str) -> None:
    source = HEAD + f'        self.register_buffer("mean", None)  {comment}' + TAIL
    assert findings(source) == [(8, 9, "SER101")]


def test_noqa_on_another_line_does_not_suppress() -> None:
    source = HEAD + '        self.register_buffer("mean", None)\n        pass  # noqa' + TAIL
    assert findings(source) == [(8, 9, "SER101")]


@pytest.mark.parametrize("noqa_line", [0, 1, 2, 3])
def test_noqa_on_any_line_of_a_multiline_statement(noqa_line: int) -> None:
    lines = ["        self.register_buffer(", '            "mean",', "            None,", "        )"]
    lines[noqa_line] += "  # noqa: SER101"
    source = HEAD + "\n".join(lines) + TAIL
    assert findings(source) == []
    assert findings(source.replace("  # noqa: SER101", "")) == [(8, 9, "SER101")]


def test_noqa_after_the_finding_within_one_statement() -> None:
    # the finding ends on line 8; the statement it belongs to goes on to line 9
    source = HEAD + '        self.register_buffer("mean", None); size = (\n            3)  # noqa: SER101' + TAIL
    assert findings(source) == []
    assert findings(source.replace("  # noqa: SER101", "")) == [(8, 9, "SER101")]


def test_noqa_in_a_string_on_the_line_does_not_suppress() -> None:
    source = HEAD + '        note = "# noqa"; self.register_buffer("mean", None)' + TAIL
    assert findings(source) == [(8, 26, "SER101")]


@pytest.mark.parametrize(
    "directive",
    ["# serialint: noqa", "# serialint: noqa: SER101", "# serialint: noqa: SER1", "#SERIALINT:NOQA:ser101"],
)
def test_file_noqa_suppresses(directive: str) -> None:
    assert findings(f"{directive}\n{BAD}") == []
    assert findings(f"{BAD}{directive}\n") == []  # anywhere in the file


@pytest.mark.parametrize("directive", ["# serialint: noqa: SER204", "# serialint: noqa: SER-101", "# noqa"])
def test_file_noqa_for_other_codes_or_malformed_does_not_suppress(directive: str) -> None:
    source = f"{directive}\n{BAD}"
    assert findings(source) == [(9, 9, "SER101")]


def test_trailing_file_noqa_is_not_file_level() -> None:
    source = BAD.replace("import torch\n", "import torch  # serialint: noqa\n")
    assert findings(source) == [(8, 9, "SER101")]
