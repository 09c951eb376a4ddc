"""SER201-SER203: functions stored on a model make `torch.save(model)` and pickle fail.

The spec facts shown here: pickle refuses local functions (`Can't pickle local object ...`), also
inside containers and `functools.partial`; a lambda bound to a module-level name fails too;
`copy.deepcopy` and `state_dict()` do not fail; module-level defs with `functools.partial`
round-trip through `torch.save` / `torch.load(weights_only=False)`.
"""

from __future__ import annotations

import copy
import io
import os
import pickle
from types import ModuleType
from typing import Any, Callable, List, Tuple

import pytest

torch = pytest.importorskip("torch")

from serialint.findings import Finding  # noqa: E402
import support  # noqa: E402
from support import CORPUS, lint_corpus_file, load_corpus, positions  # noqa: E402

pytestmark = pytest.mark.oracle


def _lint(relpath: str) -> List[Finding]:
    return lint_corpus_file(relpath)


# The exception type and wording vary across Python versions (AttributeError with the qualname
# quoted here on 3.11, PicklingError elsewhere); "local object" and the qualname are in both.
PICKLE_ERRORS = (AttributeError, pickle.PicklingError)


def _torch_save(obj: Any) -> None:
    torch.save(obj, io.BytesIO())


def _round_trip(model: Any) -> Any:
    buffer = io.BytesIO()
    torch.save(model, buffer)
    buffer.seek(0)
    return torch.load(buffer, weights_only=False)


def _assert_local_object_error(obj: Any, qualname: str) -> None:
    for dump in (pickle.dumps, _torch_save):
        with pytest.raises(PICKLE_ERRORS) as info:
            dump(obj)
        message = str(info.value)
        assert "local object" in message, message
        assert qualname in message, message


# -- the linter flags exactly these corpus lines ----------------------------------------------


def test_the_linter_flags_the_lambda_corpus_cases():
    assert positions(_lint("functions/lambda_activations.py")) == [
        (18, 9, "SER201"),
        (24, 9, "SER201"),
        (37, 13, "SER201"),
        (40, 13, "SER201"),
        (49, 9, "SER201"),
    ]


def test_the_linter_flags_the_closure_corpus_cases():
    assert positions(_lint("functions/closure_factories.py")) == [
        (26, 9, "SER202"),
        (43, 9, "SER202"),
        (44, 9, "SER202"),
        (45, 9, "SER202"),
        (55, 9, "SER202"),
    ]


def test_the_linter_flags_the_container_corpus_cases():
    assert positions(_lint("functions/loss_registry.py")) == [
        (19, 9, "SER203"),
        (33, 9, "SER203"),
        (34, 9, "SER203"),
        (38, 9, "SER203"),
        (52, 9, "SER203"),
    ]


@pytest.mark.parametrize("relpath", ["functions/picklable_functions.py", "functions/unknown_or_safe.py"])
def test_the_linter_leaves_the_negative_corpus_clean(relpath):
    assert _lint(relpath) == []


# -- torch fails on every flagged attribute --------------------------------------------------


def _augment_with_post(corpus: ModuleType) -> Any:
    model = corpus.Augment()
    model.add_post("cap", 3.0)
    return model


def _metric_bank_tracking(corpus: ModuleType) -> Any:
    model = corpus.MetricBank()
    model.track(5)
    return model


# (corpus file, model builder, flagged attribute, the qualname pickle names, the code)
FLAGGED: Tuple[Tuple[str, Callable[[ModuleType], Any], str, str, str], ...] = (
    ("lambda_activations.py", lambda c: c.GatedMLP(4, 8), "act", "GatedMLP.__init__.<locals>.<lambda>", "SER201"),
    (
        "lambda_activations.py",
        lambda c: c.GatedMLP(4, 8),
        "init_fn",
        "GatedMLP.reset_parameters.<locals>.<lambda>",
        "SER201",
    ),
    ("lambda_activations.py", lambda c: c.Encoder(4), "act", "Encoder.__init__.<locals>.<lambda>", "SER201"),
    ("lambda_activations.py", lambda c: c.Tokenizer(), "normalize", "Tokenizer.__init__.<locals>.<lambda>", "SER201"),
    (
        "closure_factories.py",
        lambda c: c.SirenLayer(2, 4),
        "act",
        "make_scaled_tanh.<locals>.scaled_tanh",
        "SER202",
    ),
    ("closure_factories.py", lambda c: c.Detector(4), "loss_fn", "Detector.__init__.<locals>.hinge", "SER202"),
    ("closure_factories.py", lambda c: c.Detector(4), "post", "Detector.__init__.<locals>.clip", "SER202"),
    ("closure_factories.py", lambda c: c.Detector(4), "decide", "make_threshold.<locals>.<lambda>", "SER202"),
    (
        "closure_factories.py",
        lambda c: c.Ranker(4, 0.1),
        "sim",
        "Ranker._make_similarity.<locals>.similarity",
        "SER202",
    ),
    (
        "loss_registry.py",
        lambda c: c.MultiTaskCriterion(),
        "losses",
        "MultiTaskCriterion.__init__.<locals>.<lambda>",
        "SER203",
    ),
    ("loss_registry.py", lambda c: c.Augment(), "chain", "Augment.__init__.<locals>.<lambda>", "SER203"),
    ("loss_registry.py", lambda c: c.Augment(), "by_stage", "Augment.__init__.<locals>.<lambda>", "SER203"),
    ("loss_registry.py", _augment_with_post, "post", "Augment.add_post.<locals>.<lambda>", "SER203"),
    ("loss_registry.py", _metric_bank_tracking, "metrics", "MetricBank.track.<locals>.<lambda>", "SER203"),
)


@pytest.mark.parametrize(
    "relpath, build, attr, qualname, code",
    [pytest.param(*case, id=f"{case[4]}-{case[0]}-{case[2]}") for case in FLAGGED],
)
def test_flagged_attribute_cannot_be_pickled(relpath, build, attr, qualname, code):
    corpus = load_corpus(f"functions/{relpath}")
    model = build(corpus)
    # the message the linter printed names the same qualname pickle does
    messages = [f.message for f in _lint(f"functions/{relpath}") if f.code == code]
    assert any(f"'{qualname}'" in m and f"self.{attr}" in m for m in messages), messages
    _assert_local_object_error(getattr(model, attr), qualname)


@pytest.mark.parametrize(
    "relpath, build, qualname",
    [
        ("lambda_activations.py", lambda c: c.GatedMLP(4, 8), "GatedMLP.__init__.<locals>.<lambda>"),
        ("closure_factories.py", lambda c: c.SirenLayer(2, 4), "make_scaled_tanh.<locals>.scaled_tanh"),
        ("loss_registry.py", lambda c: c.MultiTaskCriterion(), "MultiTaskCriterion.__init__.<locals>.<lambda>"),
    ],
    ids=["SER201", "SER202", "SER203"],
)
def test_whole_model_save_fails_but_deepcopy_and_state_dict_work(relpath, build, qualname):
    corpus = load_corpus(f"functions/{relpath}")
    model = build(corpus)
    _assert_local_object_error(model, qualname)
    # deepcopy copies functions by reference: it does not fail
    clone = copy.deepcopy(model)
    assert type(clone) is type(model)
    # state_dict never raises for function attributes, and the round trip works
    fresh = build(corpus)
    fresh.load_state_dict(model.state_dict())
    for name, tensor in model.state_dict().items():
        assert torch.equal(fresh.state_dict()[name], tensor)


def test_deepcopy_keeps_the_same_function_objects():
    corpus = load_corpus("functions/loss_registry.py")
    model = corpus.MultiTaskCriterion()
    clone = copy.deepcopy(model)
    assert clone.losses["mse"] is model.losses["mse"]
    pred, target = torch.randn(3, 2), torch.randn(3, 2)
    assert torch.equal(clone(pred, target), model(pred, target))


def test_module_level_lambda_fails_by_qualname_lookup():
    corpus = load_corpus("functions/lambda_activations.py")
    model = corpus.Encoder(4, use_swish=True)
    assert model.act.__qualname__ == "<lambda>"
    for dump in (pickle.dumps, _torch_save):
        with pytest.raises(PICKLE_ERRORS, match="<lambda>") as info:
            dump(model)
        assert "local object" not in str(info.value)


def test_a_picklable_activation_makes_the_same_class_save():
    # the flagged store is the fallback: with a torch function passed in, the model saves
    corpus = load_corpus("functions/lambda_activations.py")
    model = corpus.Encoder(4, activation=torch.relu)
    x = torch.randn(2, 4)
    assert torch.equal(_round_trip(model)(x), model(x))


# -- the "Use instead" forms round-trip -------------------------------------------------------


@pytest.mark.parametrize(
    "build, inputs",
    [
        (lambda c: c.GatedMLP(4, 8), lambda: (torch.randn(3, 4),)),
        (lambda c: c.SirenLayer(2, 4), lambda: (torch.randn(3, 2),)),
        (lambda c: c.MultiTaskCriterion(), lambda: (torch.randn(3, 2), torch.randn(3, 2))),
        (lambda c: c.Router(4), lambda: (torch.randn(3, 4),)),
    ],
    ids=["GatedMLP", "SirenLayer", "MultiTaskCriterion", "Router"],
)
def test_module_level_defs_and_partial_round_trip(build, inputs):
    corpus = load_corpus("functions/picklable_functions.py")
    model = build(corpus)
    args = inputs()
    pickle.loads(pickle.dumps(model))
    restored = _round_trip(model)
    assert type(restored) is type(model)
    assert torch.equal(restored(*args), model(*args))


def test_partial_keeps_the_bound_values():
    corpus = load_corpus("functions/picklable_functions.py")
    model = corpus.SirenLayer(2, 4, w0=7.0)
    restored = _round_trip(model)
    assert restored.act.func is corpus.scaled_tanh
    assert restored.act.keywords == {"scale": 7.0}
    assert restored.loss_fn.keywords == {"m": 1.0}


def test_getstate_that_drops_the_closure_round_trips():
    corpus = load_corpus("functions/unknown_or_safe.py")
    model = corpus.Stateful(3.0)
    restored = _round_trip(model)
    x = torch.randn(4)
    assert torch.equal(restored(x), model(x))


def test_rebound_name_and_factory_of_picklable_functions_save():
    corpus = load_corpus("functions/unknown_or_safe.py")
    for name in ("relu", "gelu"):
        model = corpus.Activation(name)
        x = torch.randn(5)
        assert torch.equal(_round_trip(model)(x), model(x))
    assert _round_trip(corpus.Activation("relu")).picked is torch.relu


# -- the fix: hoisted functions round-trip and behave as the closures did ----------------------


def _golden(pair: str) -> str:
    with open(os.path.join(CORPUS, "fixes", f"{pair}.in.py"), encoding="utf-8") as handle:
        return handle.read()


def _loss_with_metric(module: ModuleType) -> Any:
    model = module.MultiTaskLoss({"reg": 2.0, "cls": 0.25}, beta=0.5)
    model.add_metric(2)
    return model


def _loss_inputs() -> Tuple[Any, ...]:
    return (torch.linspace(-2.0, 2.0, 12).reshape(3, 4), torch.eye(4)[:3])


FIXED_CASES = [
    # (golden pair, build a model from its module, inputs, function attributes it stores)
    ("ser201/activations", lambda m: m.TanhGeluFFN(4, 8), lambda: (torch.randn(2, 4),), ("act",)),
    ("ser201/activations", lambda m: m.ScaledHead(4, 3, temperature=0.5, clamp=1), lambda: (torch.randn(2, 4),),
     ("squash",)),
    ("ser202/initializers", lambda m: m.ResidualMLP(4, depth=3, gain=0.5), lambda: (torch.randn(2, 4),),
     ("reinit", "combine")),
    ("ser203/losses", _loss_with_metric, _loss_inputs, ("losses", "metrics")),
]


@pytest.mark.parametrize(
    "pair, build, inputs, attrs", FIXED_CASES, ids=["gelu-ffn", "scaled-head", "residual-mlp", "multi-task-loss"]
)
def test_the_fixed_model_saves_loads_and_computes_the_same(tmp_path, pair, build, inputs, attrs):
    original = support.load_source(_golden(pair), tmp_path)
    outcome = support.fix_text(_golden(pair))
    fixed = support.load_source(outcome.fixed, tmp_path)
    torch.manual_seed(0)
    before = build(original)
    torch.manual_seed(0)
    after = build(fixed)
    # the unfixed model fails as the finding says; the fixed one pickles and saves whole
    with pytest.raises(PICKLE_ERRORS, match="local object"):
        pickle.dumps(before)
    with pytest.raises(PICKLE_ERRORS, match="local object"):
        _torch_save(before)
    restored = _round_trip(after)
    pickle.loads(pickle.dumps(after))
    args = inputs()
    want = before(*args)
    assert torch.equal(after(*args), want)
    assert torch.equal(restored(*args), want)
    # the checkpoint is untouched: the same keys and values, and the unfixed one loads
    assert list(after.state_dict()) == list(before.state_dict())
    assert all(torch.equal(v, after.state_dict()[k]) for k, v in before.state_dict().items())
    after.load_state_dict(before.state_dict())
    for attr in attrs:
        assert attr in vars(restored)


def test_the_fixed_functions_give_the_same_values_one_by_one(tmp_path):
    original = support.load_source(_golden("ser203/losses"), tmp_path)
    fixed = support.load_source(support.fix_text(_golden("ser203/losses")).fixed, tmp_path)
    before, after = _loss_with_metric(original), _loss_with_metric(fixed)
    restored = _round_trip(after)
    pred, target = _loss_inputs()
    for name in ("reg", "cls", "aux"):
        want = before.losses[name](pred, target)
        assert torch.equal(after.losses[name](pred, target), want)
        assert torch.equal(restored.losses[name](pred, target), want)
    assert torch.equal(restored.metrics[0](pred, target), before.metrics[0](pred, target))
    # what the fix leaves alone still fails: a lambda reading a loop variable
    smoothing = fixed.Smoothing(0.1)
    with pytest.raises(PICKLE_ERRORS, match="Smoothing.__init__.<locals>.<lambda>"):
        pickle.dumps(smoothing)


def test_the_initialiser_reads_the_captured_width_scale(tmp_path):
    fixed = support.load_source(support.fix_text(_golden("ser202/initializers")).fixed, tmp_path)
    model = _round_trip(fixed.ResidualMLP(16, depth=1, gain=4.0))
    assert model.reinit.keywords == {"std": 1.0}
    with torch.no_grad():
        for layer in model.layers:
            layer.bias.fill_(3.0)
    model.apply(model.reinit)
    assert all(torch.equal(layer.bias, torch.zeros(16)) for layer in model.layers)
