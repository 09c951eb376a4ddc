"""SER205: a local function registered as a Module hook makes the whole model unpicklable."""

from __future__ import annotations

import copy
import io
import pickle

import pytest

torch = pytest.importorskip("torch")

from support import load_corpus, positions  # noqa: E402

pytestmark = pytest.mark.oracle

LOCAL_OBJECT = r"Can't pickle local object"


def test_the_linter_flags_the_corpus_cases(corpus_findings):
    assert positions(corpus_findings("hooks/feature_extractor.py")) == [
        (32, 50, "SER205"),
        (34, 41, "SER205"),
        (40, 40, "SER205"),
    ]
    assert positions(corpus_findings("hooks/train_probe.py")) == [
        (44, 41, "SER205"),
        (46, 9, "SER205"),
        (49, 42, "SER205"),
        (50, 38, "SER205"),
    ]
    assert corpus_findings("hooks/module_level_hooks.py") == []
    assert corpus_findings("hooks/tricky.py") == []


def _save(obj) -> io.BytesIO:
    buffer = io.BytesIO()
    torch.save(obj, buffer)
    buffer.seek(0)
    return buffer


def test_hooks_registered_in_init_make_torch_save_fail():
    corpus = load_corpus("hooks/feature_extractor.py")
    model = corpus.FeaturePyramid()
    assert set(model(torch.randn(2, 8))) == {"stage0", "stage1", "stage2"}
    with pytest.raises((AttributeError, pickle.PicklingError), match=LOCAL_OBJECT + r" 'FeaturePyramid\.__init__"):
        _save(model)
    with pytest.raises((AttributeError, pickle.PicklingError), match=LOCAL_OBJECT):
        pickle.dumps(model)


@pytest.mark.parametrize(
    "remove, qualname",
    [
        ("stem", r"FeaturePyramid\.__init__\.<locals>\.check_input"),
        ("pre", r"FeaturePyramid\._capture\.<locals>\.hook"),
        ("stages", r"FeaturePyramid\.__init__\.<locals>\.<lambda>"),
    ],
)
def test_each_flagged_hook_alone_makes_torch_save_fail(remove, qualname):
    corpus = load_corpus("hooks/feature_extractor.py")
    model = corpus.FeaturePyramid()
    # drop the other kinds of hooks, so that each flagged registration is shown failing on its own
    if remove == "stem":
        model.backbone.stem._forward_hooks.clear()
        for stage in model.backbone.stages:
            stage._forward_hooks.clear()
    elif remove == "pre":
        model.backbone.stem._forward_hooks.clear()
        model._forward_pre_hooks.clear()
    else:
        model._forward_pre_hooks.clear()
        for stage in model.backbone.stages:
            stage._forward_hooks.clear()
    with pytest.raises((AttributeError, pickle.PicklingError), match=LOCAL_OBJECT + " '" + qualname):
        _save(model)


def test_deepcopy_still_works():
    corpus = load_corpus("hooks/feature_extractor.py")
    copy.deepcopy(corpus.FeaturePyramid())


def test_hooks_registered_by_the_training_script_make_torch_save_fail():
    corpus = load_corpus("hooks/train_probe.py")
    model, stats, grad_log = corpus.train(steps=2)
    assert len(stats["encoder"]) == 2 and grad_log == []  # the head detaches: no encoder gradient
    with pytest.raises((AttributeError, pickle.PicklingError), match=LOCAL_OBJECT + r" 'activation_norms\.<locals>"):
        _save(model)
    # the state_dict the script saves is unaffected
    fresh = corpus.Probe()
    fresh.load_state_dict(torch.load(_save(model.state_dict())))


def test_module_level_lambda_fails_too():
    corpus = load_corpus("hooks/train_probe.py")
    model = corpus.Probe()
    model.register_forward_hook(corpus.clip_logits)  # bound to a module-level name
    with pytest.raises(pickle.PicklingError, match=r"attribute lookup <lambda> on corpus_\w+ failed"):
        _save(model)


def test_module_level_hooks_save_load_and_still_fire():
    corpus = load_corpus("hooks/module_level_hooks.py")
    model = corpus.TappedMLP()
    loaded = torch.load(_save(model), weights_only=False)
    assert loaded.taps == {} and loaded.calls == 0
    x = torch.randn(3, 4)
    out = loaded(x)
    assert set(loaded.taps) == {"linear0", "linear2"}
    assert torch.equal(loaded.taps["linear2"], out.detach())
    assert loaded.calls == 1
    with pytest.raises(ValueError, match="non-finite input"):
        loaded(torch.full((1, 4), float("nan")))


def test_tricky_negatives_run_and_pickle():
    corpus = load_corpus("hooks/tricky.py")
    gated = corpus.Gated()
    gated(torch.randn(2, 4)).sum().backward()
    assert all(len(p._backward_hooks) == 1 for p in gated.parameters())
    loaded = torch.load(_save(gated), weights_only=False)
    assert len(loaded._forward_hooks) == 1
    # tensor hooks are dropped silently when pickling
    assert all(not p._backward_hooks for p in loaded.parameters())
    seen = corpus.peek(torch.randn(1, 4))
    assert len(seen) == 1 + 3  # the `with` hook once, then the three modules of the Sequential
    net = torch.nn.Linear(4, 4)
    with corpus.recording(net) as outputs:
        net(torch.randn(1, 4))
    assert len(outputs) == 1
    _save(net)  # the temporary hook is gone: the model pickles
