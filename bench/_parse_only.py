"""Parse every ``*.py`` file under a directory with ``libcst.parse_module`` and nothing else.

The speed benchmark runs this in a fresh process of the interpreter that runs serialint, so
the baseline pays the same start-up and ``import libcst`` cost as a serialint run does.
"""

from __future__ import annotations

import sys
from pathlib import Path

import libcst


def main(directory: str) -> None:
    files = sorted(Path(directory).rglob("*.py"))
    for path in files:
        # from bytes, so the baseline also pays for finding the encoding, as serialint does
        libcst.parse_module(path.read_bytes())
    print(f"parsed {len(files)} files")


if __name__ == "__main__":
    main(sys.argv[1])
