"""SER101: a buffer registered as None and assigned later breaks the state_dict round trip."""

from __future__ import annotations

import pytest

torch = pytest.importorskip("torch")

from support import fix_text, lint_corpus_file, load_corpus, load_source, positions  # noqa: E402

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


# -- the fix -------------------------------------------------------------------------------------
def _read(relpath):
    import os

    from support import CORPUS

    with open(os.path.join(CORPUS, relpath), encoding="utf-8") as handle:
        return handle.read()


def test_fix_turns_the_golden_input_into_the_golden_output():
    outcome = fix_text(_read("fixes/ser101/running_stats.in.py"))
    assert outcome.fixed == _read("fixes/ser101/running_stats.out.py")
    assert outcome.applied == {"SER101": 2}
    # persistent=False is left alone: nothing is saved by design
    assert positions(outcome.remaining) == [(44, 9, "SER101")]
    assert outcome.remaining[0].fix is None


def test_fixed_corpus_case_round_trips_and_loads_checkpoints_without_the_key(tmp_path):
    outcome = fix_text(_read("buffers/lazy_stats.py"))
    assert outcome.applied == {"SER101": 2}
    fixed = load_source(outcome.fixed, tmp_path)
    model = fixed.RunningStats(4)
    model(torch.randn(8, 4) * 3 + 1)
    # the checkpoint saved after the assignment loads into a fresh instance and restores the values
    fresh = fixed.RunningStats(4)
    fresh.load_state_dict(model.state_dict())
    assert torch.equal(fresh.mean, model.mean) and torch.equal(fresh.std, model.std)
    x = torch.randn(2, 4)
    assert torch.equal(fresh(x), model(x))
    # a checkpoint without the keys (saved before calibration) still loads into a fresh instance
    untouched = fixed.RunningStats(4)
    untouched.load_state_dict(fixed.RunningStats(4).state_dict())
    assert untouched.mean is None and untouched.std is None
    # the materialised buffers still follow .double()
    converted = fresh.double()
    assert converted.mean.dtype == torch.float64 and converted.std.dtype == torch.float64


def test_fixed_class_loads_a_checkpoint_of_the_unfixed_class(tmp_path):
    unfixed = load_corpus("buffers/lazy_stats.py")
    fixed = load_source(fix_text(_read("buffers/lazy_stats.py")).fixed, tmp_path)
    old = unfixed.RunningStats(3)
    old(torch.randn(5, 3))
    fresh = fixed.RunningStats(3)
    fresh.load_state_dict(old.state_dict())
    assert torch.equal(fresh.mean, old.mean)
