"""SER101: a buffer registered as None and assigned later breaks the state_dict round trip."""

from __future__ import annotations

import pytest

torch = pytest.importorskip("torch")

from support import lint_corpus_file, load_corpus, positions  # noqa: E402

pytestmark = pytest.mark.oracle


def test_the_linter_flags_the_corpus_case():
    assert positions(lint_corpus_file("buffers/lazy_stats.py"), "SER101") == [
        (10, 9, "SER101"),
        (11, 9, "SER101"),
        (31, 9, "SER101"),
    ]


def test_checkpoint_after_assignment_does_not_load_into_fresh_instance():
    corpus = load_corpus("buffers/lazy_stats.py")
    model = corpus.RunningStats(4)
    model(torch.randn(8, 4))
    state = model.state_dict()
    assert set(state) == {"mean", "std"}
    with pytest.raises(RuntimeError, match=r'Unexpected key\(s\) in state_dict: "mean", "std"'):
        corpus.RunningStats(4).load_state_dict(state)


def test_fresh_checkpoint_does_not_load_into_calibrated_instance():
    corpus = load_corpus("buffers/lazy_stats.py")
    calibrated = corpus.RunningStats(4)
    calibrated(torch.randn(8, 4))
    with pytest.raises(RuntimeError, match=r"Missing key\(s\) in state_dict"):
        calibrated.load_state_dict(corpus.RunningStats(4).state_dict())


def test_non_persistent_value_is_silently_lost():
    corpus = load_corpus("buffers/lazy_stats.py")
    model = corpus.ScratchSpace()
    model(torch.randn(3))
    fresh = corpus.ScratchSpace()
    fresh.load_state_dict(model.state_dict())  # no error...
    assert model.scratch is not None and fresh.scratch is None  # ...and the value is gone


def test_prehook_pattern_round_trips_and_loads_old_checkpoints():
    corpus = load_corpus("buffers/prehook_pattern.py")
    model = corpus.RunningStats(4)
    model.calibrate(torch.randn(8, 4))
    fresh = corpus.RunningStats(4)
    fresh.load_state_dict(model.state_dict())
    assert torch.equal(fresh.mean, model.mean)
    # a checkpoint written before calibration (no "mean") still loads
    corpus.RunningStats(4).load_state_dict(corpus.RunningStats(4).state_dict())
    # the materialised buffer still follows .to()
    assert fresh.double().mean.dtype == torch.float64
