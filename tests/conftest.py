from __future__ import annotations

import os
import sys

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
CORPUS = os.path.join(ROOT, "test_corpus")
SHARED = os.path.join(os.path.dirname(ROOT), "shared")

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))


@pytest.fixture
def corpus_dir() -> str:
    return CORPUS


@pytest.fixture
def corpus_findings():
    """Findings for one corpus file (by path relative to test_corpus/), from one memoised corpus run."""
    from support import lint_corpus_file

    return lint_corpus_file
