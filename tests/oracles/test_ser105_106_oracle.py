"""SER105 / SER106: extra state that is saved but not restored, restored but not saved, or
required from checkpoints that predate it."""

from __future__ import annotations

import io
import os
import pickle

import pytest

torch = pytest.importorskip("torch")

from support import CORPUS, fix_text, load_corpus, load_source, positions  # noqa: E402

pytestmark = pytest.mark.oracle


def test_the_linter_flags_the_corpus_cases(corpus_findings):
    assert positions(corpus_findings("extra_state/quant_observer.py")) == [
        (31, 9, "SER106"),
        (65, 9, "SER105"),
    ]
    assert positions(corpus_findings("extra_state/calibration.py")) == [(18, 9, "SER105")]
    for clean in ("observer_v1.py", "observer_compat.py", "versioned.py", "dataclass_state.py"):
        assert corpus_findings(f"extra_state/{clean}") == [], clean


# -- SER105 ------------------------------------------------------------------------------------
def test_get_only_checkpoint_is_rejected_by_a_strict_load():
    corpus = load_corpus("extra_state/quant_observer.py")
    tracker = corpus.ScaleTracker()
    tracker(torch.randn(4))
    state = tracker.state_dict()
    assert "_extra_state" in state
    with pytest.raises(RuntimeError, match=r'Unexpected key\(s\) in state_dict: "_extra_state"'):
        corpus.ScaleTracker().load_state_dict(state)


def test_get_only_value_is_not_restored_by_a_non_strict_load():
    corpus = load_corpus("extra_state/quant_observer.py")
    tracker = corpus.ScaleTracker()
    tracker(torch.full((4,), 10.0))
    fresh = corpus.ScaleTracker()
    fresh.load_state_dict(tracker.state_dict(), strict=False)
    assert tracker.scale != 1.0 and fresh.scale == 1.0


def test_set_only_round_trip_fails_with_missing_key():
    corpus = load_corpus("extra_state/calibration.py")
    calibrator = corpus.HistogramCalibrator(16)
    state = calibrator.state_dict()
    assert "_extra_state" not in state
    with pytest.raises(RuntimeError, match=r'Missing key\(s\) in state_dict: "_extra_state"'):
        corpus.HistogramCalibrator(16).load_state_dict(state)


def test_base_supplying_the_other_half_round_trips():
    corpus = load_corpus("extra_state/calibration.py")
    calibrator = corpus.PercentileCalibrator(16)
    calibrator.amax = 3.5
    fresh = corpus.PercentileCalibrator(16)
    fresh.load_state_dict(calibrator.state_dict())
    assert fresh.amax == 3.5
    # and a checkpoint of the base class (no extra state) still loads through the override
    older = corpus.PercentileCalibrator(16)
    older.load_state_dict(corpus.HistogramCalibrator(16).state_dict())
    assert older.amax is None


# -- SER106 ------------------------------------------------------------------------------------
def _first_release_checkpoint():
    v1 = load_corpus("extra_state/observer_v1.py")
    model = v1.QuantLinear(4, 3)
    model(torch.randn(5, 4))
    state = model.state_dict()
    assert not any(key.endswith("_extra_state") for key in state)
    return state


def test_first_release_checkpoint_does_not_load_into_the_new_class():
    v2 = load_corpus("extra_state/quant_observer.py")
    with pytest.raises(RuntimeError, match=r'Missing key\(s\) in state_dict: "observer\._extra_state"'):
        v2.QuantLinear(4, 3).load_state_dict(_first_release_checkpoint())


def test_get_only_class_still_loads_checkpoints_without_extra_state():
    # why SER106 leaves get-only classes to SER105: torch asks for "_extra_state" only when
    # set_extra_state is overridden
    corpus = load_corpus("extra_state/quant_observer.py")
    result = corpus.ScaleTracker().load_state_dict({})
    assert result.missing_keys == [] and result.unexpected_keys == []


def test_new_checkpoint_round_trips_through_the_default_torch_load():
    v2 = load_corpus("extra_state/quant_observer.py")
    model = v2.QuantLinear(4, 3)
    model(torch.randn(5, 4))
    buffer = io.BytesIO()
    torch.save(model.state_dict(), buffer)
    buffer.seek(0)
    fresh = v2.QuantLinear(4, 3)
    fresh.load_state_dict(torch.load(buffer))
    assert fresh.observer.num_batches == 1


def test_pre_hook_form_loads_the_first_release_checkpoint():
    compat = load_corpus("extra_state/observer_compat.py")
    old = _first_release_checkpoint()
    model = compat.QuantLinear(4, 3)
    model.load_state_dict(old)
    assert torch.equal(model.observer.min_val, old["observer.min_val"])
    assert model.observer.num_batches == 0 and model.observer.bits == 8
    # and its own checkpoints still round trip the extra state
    model(torch.randn(2, 4))
    fresh = compat.QuantLinear(4, 3)
    fresh.load_state_dict(model.state_dict())
    assert fresh.observer.num_batches == 1


def test_private_pre_hook_and_load_override_supply_the_key():
    corpus = load_corpus("extra_state/versioned.py")
    block = corpus.GatedResidual(4)
    old = {k: v for k, v in block.state_dict().items() if k != "_extra_state"}
    old["scale"] = old.pop("gain") * 2  # format version 1 named the parameter "scale"
    block.load_state_dict(old)
    assert torch.equal(block.gain.detach(), old["scale"])
    norm = corpus.TaggedNorm(4)
    norm.load_state_dict(torch.nn.LayerNorm(4).state_dict())
    assert norm.tag == "ln"


def test_dataclass_extra_state_makes_the_default_torch_load_fail():
    corpus = load_corpus("extra_state/dataclass_state.py")
    buffer = io.BytesIO()
    torch.save(corpus.ConfiguredObserver().state_dict(), buffer)
    buffer.seek(0)
    with pytest.raises(pickle.UnpicklingError, match=r"Unsupported global: GLOBAL .*QuantConfig"):
        torch.load(buffer)
    buffer.seek(0)
    assert torch.load(buffer, weights_only=False)["_extra_state"] == corpus.QuantConfig()


def test_plain_dict_extra_state_loads_with_the_default_torch_load():
    corpus = load_corpus("extra_state/dataclass_state.py")
    observer = corpus.PlainConfiguredObserver()
    observer.config = corpus.QuantConfig(bits=4, symmetric=False)
    buffer = io.BytesIO()
    torch.save(observer.state_dict(), buffer)
    buffer.seek(0)
    fresh = corpus.PlainConfiguredObserver()
    fresh.load_state_dict(torch.load(buffer))
    assert fresh.config == corpus.QuantConfig(bits=4, symmetric=False)


# -- the SER106 fix ------------------------------------------------------------------------------
def _read(relpath):
    with open(os.path.join(CORPUS, relpath), encoding="utf-8") as handle:
        return handle.read()


def test_fix_turns_the_golden_input_into_the_golden_output():
    outcome = fix_text(_read("fixes/ser106/observer.in.py"))
    assert outcome.fixed == _read("fixes/ser106/observer.out.py")
    # SER101 on the same class extends the same hook
    assert outcome.applied == {"SER101": 1, "SER106": 1}
    # Rounding has no __init__ to register a hook in
    assert positions(outcome.remaining) == [(43, 9, "SER106")]
    assert outcome.remaining[0].fix is None


def test_fixed_corpus_case_loads_the_first_release_checkpoint(tmp_path):
    outcome = fix_text(_read("extra_state/quant_observer.py"))
    assert outcome.applied == {"SER106": 1}
    fixed = load_source(outcome.fixed, tmp_path)
    old = _first_release_checkpoint()
    model = fixed.QuantLinear(4, 3)
    model.load_state_dict(old)  # strict, with "observer._extra_state" missing
    assert torch.equal(model.observer.min_val, old["observer.min_val"])
    assert model.observer.num_batches == 0 and model.observer.bits == 8 and model.observer.frozen is False
    # its own checkpoints still carry and restore the extra state
    model(torch.randn(2, 4))
    fresh = fixed.QuantLinear(4, 3)
    fresh.load_state_dict(model.state_dict())
    assert fresh.observer.num_batches == 1


def test_composed_golden_output_loads_old_checkpoints_and_round_trips(tmp_path):
    fixed = load_source(_read("fixes/ser106/observer.out.py"), tmp_path)
    observer = fixed.ChannelObserver(3, bits=4)
    # a first-release checkpoint: no extra state yet, and "scale" not yet set
    old = {"amax": torch.tensor([1.0, 2.0, 3.0])}
    observer.load_state_dict(old)
    assert observer.bits == 4 and observer.num_batches == 0 and observer.scale is None
    observer(torch.tensor([[4.0, -1.0, 0.5]]))
    state = observer.state_dict()
    assert list(state) == ["amax", "scale", "_extra_state"]
    fresh = fixed.ChannelObserver(3)
    fresh.load_state_dict(state)
    assert fresh.bits == 4 and fresh.num_batches == 1
    assert torch.equal(fresh.scale, observer.scale)
    assert fresh.double().scale.dtype == torch.float64
