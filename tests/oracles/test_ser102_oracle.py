"""SER102: a tensor in a plain Module attribute is not saved, loaded or converted with the module."""

from __future__ import annotations

import pytest

torch = pytest.importorskip("torch")

from support import CORPUS, fix_text, load_corpus, load_source, positions  # noqa: E402

pytestmark = pytest.mark.oracle


def test_the_linter_flags_the_corpus_cases(corpus_findings):
    assert positions(corpus_findings("tensors/random_features.py"), "SER102") == [
        (17, 9, "SER102"),
        (18, 9, "SER102"),
        (31, 9, "SER102"),
        (32, 9, "SER102"),
        (46, 9, "SER102"),
        (47, 9, "SER102"),
        (66, 9, "SER102"),
    ]
    assert positions(corpus_findings("tensors/lazy_calibration.py"), "SER102") == [
        (17, 9, "SER102"),
        (36, 13, "SER102"),
        (37, 13, "SER102"),
    ]


def test_the_linter_leaves_the_negative_files_alone(corpus_findings):
    assert positions(corpus_findings("tensors/registered_state.py"), "SER102") == []
    assert positions(corpus_findings("tensors/rotary_cache.py"), "SER102") == []


def test_round_trip_silently_keeps_the_fresh_random_projection():
    corpus = load_corpus("tensors/random_features.py")
    torch.manual_seed(0)
    model = corpus.RandomFourierFeatures(4, 8)
    state = model.state_dict()
    assert "projection" not in state and "phase" not in state
    fresh = corpus.RandomFourierFeatures(4, 8)
    fresh.load_state_dict(state)  # no error...
    assert not torch.equal(fresh.projection, model.projection)  # ...and the fresh draw is kept
    x = torch.randn(3, 4)
    assert not torch.allclose(fresh(x), model(x))


def test_round_trip_silently_keeps_fresh_running_statistics():
    corpus = load_corpus("tensors/random_features.py")
    model = corpus.RunningNorm(3)
    for _ in range(5):
        model(torch.randn(16, 3) * 4 + 10)
    assert not torch.equal(model.running_mean, torch.zeros(3))
    fresh = corpus.RunningNorm(3)
    fresh.load_state_dict(model.state_dict())
    assert torch.equal(fresh.running_mean, torch.zeros(3))
    assert torch.equal(fresh.running_var, torch.ones(3))


def test_double_and_to_do_not_convert_plain_tensors():
    corpus = load_corpus("tensors/random_features.py")
    model = corpus.RandomFourierFeatures(4, 8).double()
    assert model.projection.dtype == torch.float32
    norm = corpus.Preprocess().to(torch.float64)
    assert norm.mean.dtype == torch.float32 and norm.std.dtype == torch.float32
    with pytest.raises(RuntimeError, match="expected m1 and m2 to have the same dtype, but got: double != float"):
        model(torch.randn(2, 4, dtype=torch.float64))


def test_lazy_value_is_none_again_after_the_round_trip():
    corpus = load_corpus("tensors/lazy_calibration.py")
    model = corpus.ActivationScaler()
    model.calibrate(torch.randn(32, 5) * 3)
    assert model.scale is not None
    state = model.state_dict()
    assert list(state) == []
    fresh = corpus.ActivationScaler()
    fresh.load_state_dict(state)  # no error...
    assert fresh.scale is None  # ...and the calibration is gone
    x = torch.randn(4, 5) * 3
    assert not torch.equal(fresh(x), model(x))


def test_first_batch_statistics_are_taken_again_from_other_data_after_loading():
    corpus = load_corpus("tensors/lazy_calibration.py")
    model = corpus.FirstBatchStandardizer()
    model(torch.randn(64, 3) * 5 + 2)
    fresh = corpus.FirstBatchStandardizer()
    fresh.load_state_dict(model.state_dict())
    assert fresh.mean is None
    batch = torch.randn(8, 3)
    assert not torch.allclose(fresh(batch), model(batch))


def test_buffer_form_round_trips_and_converts():
    corpus = load_corpus("tensors/registered_state.py")
    model = corpus.RandomFourierFeatures(4, 8)
    assert set(model.state_dict()) == {"projection", "phase"}
    fresh = corpus.RandomFourierFeatures(4, 8)
    fresh.load_state_dict(model.state_dict())
    assert torch.equal(fresh.projection, model.projection) and torch.equal(fresh.phase, model.phase)
    x = torch.randn(3, 4)
    assert torch.equal(fresh(x), model(x))
    converted = fresh.double()
    assert converted.projection.dtype == torch.float64 and converted.phase.dtype == torch.float64
    assert converted(x.double()).dtype == torch.float64


def test_assigning_a_tensor_to_a_registered_buffer_keeps_it_registered():
    corpus = load_corpus("tensors/registered_state.py")
    model = corpus.ScaledLinear(2, 3)
    assert {"calls", "offset", "gain", "weight", "bias"} <= set(model.state_dict())
    assert "temperature" not in model.state_dict()


def test_exempt_rotary_cache_is_rebuilt_identically_so_the_round_trip_loses_nothing():
    corpus = load_corpus("tensors/rotary_cache.py")
    model = corpus.RotaryEmbedding(8, max_positions=16)
    assert list(model.state_dict()) == []
    fresh = corpus.RotaryEmbedding(8, max_positions=16)
    fresh.load_state_dict(model.state_dict())
    q, k = torch.randn(2, 10, 8), torch.randn(2, 10, 8)
    for got, want in zip(fresh(q, k), model(q, k)):
        assert torch.equal(got, want)


def test_checkpoint_from_the_plain_attribute_version_misses_the_new_buffer_keys():
    plain = load_corpus("tensors/random_features.py")
    registered = load_corpus("tensors/registered_state.py")
    with pytest.raises(RuntimeError, match=r'Missing key\(s\) in state_dict: "projection", "phase"'):
        registered.RandomFourierFeatures(4, 8).load_state_dict(plain.RandomFourierFeatures(4, 8).state_dict())


# -- the fix -------------------------------------------------------------------------------------
def _read(relpath):
    import os

    with open(os.path.join(CORPUS, relpath), encoding="utf-8") as handle:
        return handle.read()


def test_fix_turns_the_golden_input_into_the_golden_output():
    outcome = fix_text(_read("fixes/ser102/features.in.py"))
    assert outcome.fixed == _read("fixes/ser102/features.out.py")
    assert outcome.applied == {"SER102": 3}
    # reset to None later, and a view of the caller's tensor: no fix
    assert positions(outcome.remaining) == [(49, 9, "SER102"), (63, 9, "SER102")]
    assert [f.fix for f in outcome.remaining] == [None, None]


def test_fixed_corpus_case_round_trips_and_converts(tmp_path):
    outcome = fix_text(_read("tensors/random_features.py"))
    # the helper-built table of SinusoidalPositions is left to a person
    assert outcome.applied == {"SER102": 6}
    assert positions(outcome.remaining) == [(84, 9, "SER102")]
    fixed = load_source(outcome.fixed, tmp_path)
    torch.manual_seed(0)
    model = fixed.RandomFourierFeatures(4, 8)
    fresh = fixed.RandomFourierFeatures(4, 8)
    assert not torch.equal(fresh.projection, model.projection)
    fresh.load_state_dict(model.state_dict())
    assert torch.equal(fresh.projection, model.projection) and torch.equal(fresh.phase, model.phase)
    x = torch.randn(3, 4)
    assert torch.equal(fresh(x), model(x))
    converted = fresh.double()
    assert converted.projection.dtype == torch.float64
    assert converted(x.double()).dtype == torch.float64
    norm = fixed.RunningNorm(3)
    for _ in range(3):
        norm(torch.randn(16, 3) * 4 + 10)
    loaded = fixed.RunningNorm(3)
    loaded.load_state_dict(norm.state_dict())
    assert torch.equal(loaded.running_mean, norm.running_mean) and torch.equal(loaded.running_var, norm.running_var)
    assert fixed.Preprocess().to(torch.float64).std.dtype == torch.float64


def test_checkpoint_of_the_unfixed_class_loads_into_the_fixed_class(tmp_path):
    unfixed = load_corpus("tensors/random_features.py")
    fixed = load_source(fix_text(_read("tensors/random_features.py")).fixed, tmp_path)
    torch.manual_seed(1)
    model = fixed.RandomFourierFeatures(4, 8)
    before = model.projection.clone()
    old = unfixed.RandomFourierFeatures(4, 8).state_dict()
    assert list(old) == []
    result = model.load_state_dict(old)  # strict: the pre-hook supplies the missing keys
    assert result.missing_keys == [] and result.unexpected_keys == []
    assert torch.equal(model.projection, before)  # the value it had, as before the fix
    norm = fixed.RunningNorm(3)
    norm.load_state_dict(unfixed.RunningNorm(3).state_dict())
    assert torch.equal(norm.running_var, torch.ones(3))
    # inside a parent, under a prefix
    parent = torch.nn.Sequential(fixed.Preprocess())
    parent.load_state_dict(torch.nn.Sequential(unfixed.Preprocess()).state_dict())
    assert parent[0].mean.shape == (1, 3, 1, 1)


# -- the fix, lazy form --------------------------------------------------------------------------
def test_lazy_fix_turns_the_golden_input_into_the_golden_output():
    outcome = fix_text(_read("fixes/ser102/calibration.in.py"))
    assert outcome.fixed == _read("fixes/ser102/calibration.out.py")
    assert outcome.applied == {"SER102": 2}
    # annotated `= None`, a view of the caller's tensor, reset to None: no fix
    assert positions(outcome.remaining) == [(49, 9, "SER102"), (50, 9, "SER102"), (61, 9, "SER102")]
    assert [f.fix for f in outcome.remaining] == [None, None, None]
    assert fix_text(outcome.fixed).applied == {}


def _observers(tmp_path):
    unfixed = load_corpus("fixes/ser102/calibration.in.py")
    fixed = load_source(_read("fixes/ser102/calibration.out.py"), tmp_path)
    return unfixed, fixed


BATCH = torch.tensor([[[[1.0]], [[-2.0]]], [[[3.0]], [[5.0]]]])  # N=2, C=2, 1x1


def test_lazy_fix_round_trips_the_calibration_and_converts_it(tmp_path):
    unfixed, fixed = _observers(tmp_path)
    # before the fix the calibration is lost silently
    plain = unfixed.ActivationObserver(2)
    plain.observe(BATCH)
    empty = unfixed.ActivationObserver(2)
    empty.load_state_dict(plain.state_dict())
    assert empty.lo is None
    # after it, the range is saved and a fresh instance gets it back
    model = fixed.ActivationObserver(2)
    model.observe(BATCH)
    state = model.state_dict()
    assert list(state) == ["lo", "hi"]
    fresh = fixed.ActivationObserver(2)
    result = fresh.load_state_dict(state)
    assert result.missing_keys == [] and result.unexpected_keys == []
    assert torch.equal(fresh.lo, torch.tensor([1.0, -2.0])) and torch.equal(fresh.hi, torch.tensor([3.0, 5.0]))
    x = torch.full((1, 2, 1, 1), 10.0)
    assert torch.equal(fresh(x), model(x))
    assert fresh.double().lo.dtype == torch.float64 and fresh.hi.dtype == torch.float64


def test_lazy_fix_loads_checkpoints_saved_before_calibration_and_before_the_fix(tmp_path):
    unfixed, fixed = _observers(tmp_path)
    uncalibrated = fixed.ActivationObserver(2).state_dict()
    assert list(uncalibrated) == []  # a buffer set to None is not saved
    old = unfixed.ActivationObserver(2)
    old.observe(BATCH)
    for checkpoint in (uncalibrated, old.state_dict()):
        fresh = fixed.ActivationObserver(2)
        fresh.load_state_dict(checkpoint)  # strict
        assert fresh.lo is None and fresh.hi is None
        calibrated = fixed.ActivationObserver(2)
        calibrated.observe(BATCH)
        result = calibrated.load_state_dict(checkpoint)  # strict: the hook supplies the current values
        assert result.missing_keys == [] and result.unexpected_keys == []
        assert torch.equal(calibrated.lo, torch.tensor([1.0, -2.0]))
        assert torch.equal(calibrated.hi, torch.tensor([3.0, 5.0]))
    # inside a parent, under a prefix
    parent = torch.nn.Sequential(fixed.ActivationObserver(2))
    parent[0].observe(BATCH)
    restored = torch.nn.Sequential(fixed.ActivationObserver(2))
    restored.load_state_dict(parent.state_dict())
    assert list(parent.state_dict()) == ["0.lo", "0.hi"] and torch.equal(restored[0].hi, torch.tensor([3.0, 5.0]))


def test_without_the_supplying_lines_a_calibrated_instance_rejects_an_older_checkpoint(tmp_path):
    fixed = load_source(_read("fixes/ser102/calibration.out.py"), tmp_path)
    model = fixed.ActivationObserver(2)
    model.observe(BATCH)
    model._load_state_dict_pre_hooks.clear()
    with pytest.raises(RuntimeError, match=r'Missing key\(s\) in state_dict: "lo", "hi"'):
        model.load_state_dict({})


def test_lazy_fix_on_the_corpus_case_round_trips_and_pickles(tmp_path):
    import io

    outcome = fix_text(_read("tensors/lazy_calibration.py"))
    assert outcome.applied == {"SER102": 2}
    assert positions(outcome.remaining) == [(17, 9, "SER102")]  # `self.scale: Optional[Tensor] = None`
    fixed = load_source(outcome.fixed, tmp_path)
    model = fixed.FirstBatchStandardizer()
    model(torch.tensor([[1.0, 2.0], [3.0, 6.0]]))
    fresh = fixed.FirstBatchStandardizer()
    fresh.load_state_dict(model.state_dict())
    batch = torch.tensor([[0.0, 1.0]])
    assert torch.equal(fresh.mean, torch.tensor([2.0, 4.0])) and torch.equal(fresh(batch), model(batch))
    buffer = io.BytesIO()
    torch.save(model, buffer)
    buffer.seek(0)
    restored = torch.load(buffer, weights_only=False)
    assert torch.equal(restored.std, model.std)
