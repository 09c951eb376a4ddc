"""SER301-SER304: checkpoint I/O hazards, shown on the corpus with torch itself.

SER301  a Module or optimizer saved whole: the default torch.load refuses the file.
SER302  unsafe loads: a crafted checkpoint runs code, the safe loader refuses it.
SER303  strict=False with the result thrown away: nothing loads, nothing is raised.
SER304  a wrapper's state_dict(): prefixed keys that do not load into the bare model.
"""

from __future__ import annotations

import functools
import io
import os
import pickle
from typing import Dict, Iterator, List, Tuple

import pytest

torch = pytest.importorskip("torch")

from serialint.config import ConfigResolver  # noqa: E402
from serialint.discovery import discover  # noqa: E402
from serialint.engine import Linter, SourceFile, lint_sources  # noqa: E402
from support import CORPUS, fix_text, lint_corpus_file, load_corpus, load_source, positions  # noqa: E402

pytestmark = pytest.mark.oracle

CHECKPOINT_IO = os.path.join(CORPUS, "checkpoint_io")


@functools.lru_cache(maxsize=None)
def _findings() -> Dict[str, List[Tuple[int, int, str]]]:
    """(line, 1-based column, code) of the SER3xx findings of each checkpoint_io file, linted as one run."""
    linter = Linter()
    resolver = ConfigResolver(linter.codes)
    files, errors = discover([CHECKPOINT_IO], resolver)
    assert not errors
    found: Dict[str, List[Tuple[int, int, str]]] = {
        os.path.relpath(f, CORPUS).replace(os.sep, "/"): [] for f in files
    }
    for finding in lint_sources([SourceFile(f) for f in files], resolver, linter).findings:
        if finding.code.startswith("SER3"):
            rel = os.path.relpath(finding.path, CORPUS).replace(os.sep, "/")
            found[rel].append((finding.line, finding.column + 1, finding.code))
    return found


def test_the_linter_flags_exactly_the_corpus_cases():
    assert _findings() == {
        "checkpoint_io/__init__.py": [],
        "checkpoint_io/distributed.py": [
            (31, 20, "SER304"),
            (42, 24, "SER304"),
            (61, 27, "SER304"),
            (71, 15, "SER304"),
        ],
        "checkpoint_io/evaluate.py": [
            (21, 13, "SER302"),
            (24, 27, "SER303"),
            (30, 16, "SER302"),
            (35, 12, "SER302"),
            (40, 12, "SER302"),
        ],
        "checkpoint_io/export_script.py": [(27, 18, "SER301"), (48, 22, "SER301")],
        "checkpoint_io/legacy/__init__.py": [],
        "checkpoint_io/legacy/resume.py": [(18, 13, "SER302")],
        "checkpoint_io/safe_checkpoints.py": [],
        "checkpoint_io/trainer.py": [
            (20, 20, "SER301"),
            (48, 30, "SER301"),
            (55, 22, "SER302"),
            (57, 9, "SER303"),
        ],
    }


def _batches(features: int = 8, classes: int = 3, count: int = 2) -> List[Tuple["torch.Tensor", "torch.Tensor"]]:
    generator = torch.Generator().manual_seed(0)
    return [
        (torch.randn(4, features, generator=generator), torch.randint(0, classes, (4,), generator=generator))
        for _ in range(count)
    ]


def _regression_batches(count: int = 2) -> List[Tuple["torch.Tensor", "torch.Tensor"]]:
    generator = torch.Generator().manual_seed(1)
    return [(torch.randn(4, 8, generator=generator), torch.randn(4, 1, generator=generator)) for _ in range(count)]


def _same_weights(a: "torch.nn.Module", b: "torch.nn.Module") -> bool:
    return all(torch.equal(x, y) for x, y in zip(a.state_dict().values(), b.state_dict().values()))


# == SER301 whole-object-save ====================================================================


def test_ser301_checkpoint_with_the_optimizer_whole_is_refused_by_the_default_load(tmp_path):
    trainer_module = load_corpus("checkpoint_io/trainer.py")
    trainer = trainer_module.fit(_batches(), epochs=1, path=tmp_path / "last.pt")
    with pytest.raises(pickle.UnpicklingError, match=r"(?s)Weights only load failed.*Unsupported global.*SGD"):
        torch.load(tmp_path / "last.pt")
    # the trainer's own resume only works because it turns the safe loader off (SER302)
    fresh = trainer_module.Trainer(trainer_module.Classifier())
    fresh.resume(tmp_path / "last.pt")
    assert fresh.epoch == 1 and _same_weights(fresh.model, trainer.model)


def test_ser301_module_saved_whole_is_refused_by_the_default_load():
    trainer_module = load_corpus("checkpoint_io/trainer.py")
    buffer = io.BytesIO()
    trainer_module.Classifier().export(buffer)
    buffer.seek(0)
    with pytest.raises(pickle.UnpicklingError, match=r"(?s)Weights only load failed.*Unsupported global.*Classifier"):
        torch.load(buffer)


def test_ser301_pickled_module_breaks_once_the_class_moves(tmp_path):
    export_script = load_corpus("checkpoint_io/export_script.py")
    net = export_script.Net()
    torch.save(net.state_dict(), tmp_path / "best.pt")
    export_script.export_pickle(tmp_path / "best.pt", tmp_path / "net.pkl")
    with open(tmp_path / "net.pkl", "rb") as handle:
        assert _same_weights(pickle.load(handle), net)  # loads today...
    moved = export_script.Net
    del export_script.Net  # ...but not once the class is renamed or moved
    try:
        with open(tmp_path / "net.pkl", "rb") as handle, pytest.raises(AttributeError, match="Net"):
            pickle.load(handle)
    finally:
        export_script.Net = moved


def test_ser301_state_dicts_load_with_the_default_loader(tmp_path):
    safe = load_corpus("checkpoint_io/safe_checkpoints.py")
    trainer = safe.SafeTrainer(safe.Tagger())
    trainer.step = 7
    trainer.save_checkpoint(tmp_path / "last.pt")
    checkpoint = torch.load(tmp_path / "last.pt")  # the default: weights_only=True
    assert checkpoint["step"] == 7
    fresh = safe.SafeTrainer(safe.Tagger())
    fresh.resume(tmp_path / "last.pt")
    assert fresh.step == 7 and _same_weights(fresh.model, trainer.model)


# == SER302 unsafe-load ==========================================================================

EXECUTED: List[str] = []


def _record_execution(marker: str) -> Dict[str, "torch.Tensor"]:
    """What a crafted checkpoint calls while it is unpickled."""
    EXECUTED.append(marker)
    return {}


class _Payload:
    def __init__(self, marker: str) -> None:
        self.marker = marker

    def __reduce__(self):  # type: ignore[no-untyped-def]
        return (_record_execution, (self.marker,))


@pytest.fixture
def executed() -> Iterator[List[str]]:
    EXECUTED.clear()
    yield EXECUTED
    EXECUTED.clear()


def test_ser302_weights_only_false_runs_code_from_the_checkpoint(tmp_path, executed):
    evaluate = load_corpus("checkpoint_io/evaluate.py")
    torch.save(_Payload("torch.load"), tmp_path / "evil.pt")
    evaluate.load_for_eval(tmp_path / "evil.pt")
    assert executed == ["torch.load"]


def test_ser302_pickle_module_turns_the_safe_default_off(tmp_path, executed):
    evaluate = load_corpus("checkpoint_io/evaluate.py")
    torch.save(_Payload("pickle_module"), tmp_path / "evil.pt")
    evaluate.load_with_custom_unpickler(tmp_path / "evil.pt")
    assert executed == ["pickle_module"]


def test_ser302_pickle_loads_of_checkpoint_files_run_code(tmp_path, executed):
    evaluate = load_corpus("checkpoint_io/evaluate.py")
    with open(tmp_path / "scorer.pkl", "wb") as handle:
        pickle.dump(_Payload("pickle.load"), handle)
    (tmp_path / "weights.pth").write_bytes(pickle.dumps(_Payload("pickle.loads")))
    evaluate.load_pickled_model(str(tmp_path))
    evaluate.load_legacy_blob(str(tmp_path))
    assert executed == ["pickle.load", "pickle.loads"]


def test_ser302_plain_load_ran_code_under_the_pre_2_6_default(tmp_path, executed, monkeypatch):
    resume = load_corpus("checkpoint_io/legacy/resume.py")
    torch.save(_Payload("legacy"), tmp_path / "evil.pt")
    # today's default refuses the payload...
    with pytest.raises(pickle.UnpicklingError, match="Weights only load failed"):
        resume.resume_policy(tmp_path / "evil.pt")
    assert executed == []
    # ...the default torch < 2.6 had (this switch restores it) runs it
    monkeypatch.setenv("TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD", "1")
    with pytest.warns(UserWarning, match="forcing weights_only=False"):
        with pytest.raises(RuntimeError, match="Missing key"):
            resume.resume_policy(tmp_path / "evil.pt")  # the payload ran, then handed back an empty dict
    assert executed == ["legacy"]


def test_ser302_weights_only_true_refuses_the_payload(tmp_path, executed):
    resume = load_corpus("checkpoint_io/legacy/resume.py")
    torch.save(_Payload("refused"), tmp_path / "evil.pt")
    with pytest.raises(pickle.UnpicklingError, match=r"(?s)Weights only load failed.*Unsupported global"):
        resume.resume_policy_safely(tmp_path / "evil.pt")
    assert executed == []
    # and a real state dict loads
    policy = resume.Policy()
    torch.save(policy.state_dict(), tmp_path / "policy.pt")
    assert _same_weights(resume.resume_policy_safely(tmp_path / "policy.pt"), policy)


# == SER303 unchecked-non-strict-load ============================================================


def test_ser303_prefixed_checkpoint_loads_nothing_and_raises_nothing(tmp_path):
    trainer_module = load_corpus("checkpoint_io/trainer.py")
    wrapped = trainer_module.Trainer(torch.nn.DataParallel(trainer_module.Classifier()))
    wrapped.save_checkpoint(tmp_path / "dp.pt")
    fresh = trainer_module.Trainer(trainer_module.Classifier())
    before = {k: v.clone() for k, v in fresh.model.state_dict().items()}
    fresh.resume(tmp_path / "dp.pt")  # no error, no warning
    assert all(torch.equal(before[k], v) for k, v in fresh.model.state_dict().items())
    assert not _same_weights(fresh.model, wrapped.model.module)


def test_ser303_the_returned_keys_show_that_nothing_matched(tmp_path):
    evaluate = load_corpus("checkpoint_io/evaluate.py")
    trained = torch.nn.DataParallel(evaluate.Scorer())
    torch.save(trained.state_dict(), tmp_path / "scorer.pt")
    model = evaluate.load_for_eval(tmp_path / "scorer.pt")
    assert not _same_weights(model, trained.module)
    result = evaluate.Scorer().load_state_dict(torch.load(tmp_path / "scorer.pt"), strict=False)
    assert result.missing_keys == ["proj.weight", "proj.bias"]
    assert result.unexpected_keys == ["module.proj.weight", "module.proj.bias"]


def test_ser303_checking_the_result_catches_the_mismatch(tmp_path):
    safe = load_corpus("checkpoint_io/safe_checkpoints.py")
    wrapped = safe.SafeTrainer(torch.nn.DataParallel(safe.Tagger()))
    wrapped.save_checkpoint(tmp_path / "dp.pt")
    with pytest.raises(RuntimeError, match=r"checkpoint does not fit the model: .*unexpected_keys=\['module\.embed"):
        safe.SafeTrainer(safe.Tagger()).resume(tmp_path / "dp.pt")


# == SER304 wrapper-prefixed-state-dict ==========================================================

_PREFIXED_FAILURE = (
    r"(?s)Missing key\(s\) in state_dict: \"net\.0\.weight\".*Unexpected key\(s\) in state_dict: \"{}net\.0\.weight\""
)


def test_ser304_data_parallel_keys_do_not_load_into_the_bare_model(tmp_path):
    distributed = load_corpus("checkpoint_io/distributed.py")
    distributed.run_data_parallel(_regression_batches(), str(tmp_path))
    snapshot = torch.load(tmp_path / "dp_last.pt")
    assert all(key.startswith("module.") for key in snapshot["net"])
    with pytest.raises(RuntimeError, match=_PREFIXED_FAILURE.format(r"module\.")):
        distributed.Regressor().load_state_dict(snapshot["net"])


def test_ser304_compiled_keys_do_not_load_into_the_bare_model(tmp_path):
    distributed = load_corpus("checkpoint_io/distributed.py")
    # no batches: the wrapper is built and saved but nothing is compiled
    distributed.run_compiled([], tmp_path / "compiled.pt")
    checkpoint = torch.load(tmp_path / "compiled.pt")
    assert all(key.startswith("_orig_mod.") for key in checkpoint["model"])
    with pytest.raises(RuntimeError, match=_PREFIXED_FAILURE.format(r"_orig_mod\.")):
        distributed.Regressor().load_state_dict(checkpoint["model"])


@pytest.fixture
def process_group(tmp_path) -> Iterator[str]:
    """A one-process gloo group's rendezvous file; the group is torn down even when a test fails."""
    dist = pytest.importorskip("torch.distributed")
    if not dist.is_available():
        pytest.skip("torch.distributed is not available")
    yield str(tmp_path / "rendezvous")
    if dist.is_initialized():
        dist.destroy_process_group()


def test_ser304_ddp_keys_do_not_load_into_the_bare_model(tmp_path, process_group):
    distributed = load_corpus("checkpoint_io/distributed.py")
    distributed.run_ddp(0, 1, process_group, _regression_batches(), str(tmp_path))
    state = torch.load(tmp_path / "ddp_last.pt")
    assert all(key.startswith("module.") for key in state)
    with pytest.raises(RuntimeError, match=_PREFIXED_FAILURE.format(r"module\.")):
        distributed.Regressor().load_state_dict(state)


def test_ser304_nested_wrappers_stack_their_prefixes(tmp_path, process_group):
    distributed = load_corpus("checkpoint_io/distributed.py")
    distributed.run_compiled_ddp(0, 1, process_group, tmp_path / "nested.pt")
    weights = torch.load(tmp_path / "nested.pt")["weights"]
    assert all(key.startswith("_orig_mod.module.") for key in weights)
    with pytest.raises(RuntimeError, match=_PREFIXED_FAILURE.format(r"_orig_mod\.module\.")):
        distributed.Regressor().load_state_dict(weights)


def test_ser304_unwrapped_state_dicts_load_into_the_bare_model(tmp_path, process_group):
    safe = load_corpus("checkpoint_io/safe_checkpoints.py")
    trained = safe.Tagger()
    for name, save in [
        ("compiled", lambda path: safe.save_compiled(path)._orig_mod),
        ("in_place", safe.save_compiled_in_place),
    ]:
        saved = save(tmp_path / f"{name}.pt")
        fresh = safe.Tagger()
        fresh.load_state_dict(torch.load(tmp_path / f"{name}.pt"))
        assert _same_weights(fresh, saved), name
    stripped = safe.save_data_parallel_stripped(tmp_path / "stripped.pt")
    assert not any(key.startswith("module.") for key in stripped)
    safe.Tagger().load_state_dict(torch.load(tmp_path / "stripped.pt"))
    torch.distributed.init_process_group("gloo", init_method=f"file://{process_group}", rank=0, world_size=1)
    ddp = safe.save_from_ddp(trained, tmp_path / "ddp.pt")
    fresh = safe.Tagger()
    fresh.load_state_dict(torch.load(tmp_path / "ddp.pt")["model"])
    assert _same_weights(fresh, ddp.module)
    safe.save_unwrapped(0, tmp_path / "raw.pt", use_ddp=False)
    safe.Tagger().load_state_dict(torch.load(tmp_path / "raw.pt"))


# == fixes: the rewritten code saves what loads, with the default loader =========================

FIXES = os.path.join(CORPUS, "fixes")


def _golden(relpath: str) -> Tuple[str, str]:
    with open(os.path.join(FIXES, relpath + ".in.py"), encoding="utf-8") as handle:
        before = handle.read()
    with open(os.path.join(FIXES, relpath + ".out.py"), encoding="utf-8") as handle:
        after = handle.read()
    return before, after


def _tagger_batch() -> Tuple["torch.Tensor", "torch.Tensor"]:
    generator = torch.Generator().manual_seed(2)
    return torch.randint(0, 20, (5, 3), generator=generator), torch.randint(0, 4, (5,), generator=generator)


def _encoder_batches(count: int = 2) -> List[Tuple["torch.Tensor", "torch.Tensor"]]:
    generator = torch.Generator().manual_seed(3)
    return [(torch.randn(4, 6, generator=generator), torch.randn(4, 2, generator=generator)) for _ in range(count)]


def test_ser301_golden_fix_is_exact_and_flags_what_it_rewrites():
    before, after = _golden("ser301/tagger_run")
    outcome = fix_text(before, unsafe=True)
    assert outcome.broken_by is None
    assert outcome.fixed == after
    assert outcome.applied == {"SER301": 4}
    # pickle.dump is reported and left alone
    assert [(f.line, f.column + 1, f.code) for f in outcome.remaining] == [(50, 25, "SER301")]
    assert positions(lint_corpus_file("fixes/ser301/tagger_run.in.py")) == [
        (20, 20, "SER301"),
        (40, 26, "SER301"),
        (41, 30, "SER301"),
        (50, 25, "SER301"),
        (55, 16, "SER301"),
    ]
    assert positions(lint_corpus_file("fixes/ser301/tagger_run.out.py")) == [(50, 25, "SER301")]
    assert fix_text(before, unsafe=False).fixed == before  # unsafe: never applied by a plain --fix


def test_ser301_unfixed_checkpoint_is_refused_by_the_default_load(tmp_path):
    unfixed = load_corpus("fixes/ser301/tagger_run.in.py")
    unfixed.Run().save(tmp_path / "run.pt")
    with pytest.raises(pickle.UnpicklingError, match=r"(?s)Weights only load failed.*Unsupported global"):
        torch.load(tmp_path / "run.pt")


def test_ser301_fixed_checkpoint_loads_by_default_and_resumes_exactly(tmp_path):
    _, after = _golden("ser301/tagger_run")
    fixed = load_source(after, tmp_path)
    tokens, tags = _tagger_batch()
    run = fixed.Run()
    run.step(tokens, tags)
    run.save(tmp_path / "run.pt")
    checkpoint = torch.load(tmp_path / "run.pt")  # the default: weights_only=True
    assert checkpoint["epoch"] == 1
    fresh = fixed.Run()
    fresh.model.load_state_dict(checkpoint["model"])  # strict
    fresh.optimizer.load_state_dict(checkpoint["optimizer"])
    with torch.no_grad():
        assert torch.equal(fresh.model(tokens), run.model(tokens))
    # the momentum buffers came back too: the next step is the same step
    assert fresh.step(tokens, tags) == run.step(tokens, tags)
    assert _same_weights(fresh.model, run.model)


def test_ser301_fixed_exports_load_into_a_fresh_bare_model(tmp_path):
    _, after = _golden("ser301/tagger_run")
    fixed = load_source(after, tmp_path)
    tokens, _ = _tagger_batch()
    tagger = fixed.Tagger()
    tagger.export(tmp_path / "tagger.pt")
    fresh = fixed.Tagger()
    fresh.load_state_dict(torch.load(tmp_path / "tagger.pt"))
    # the compiled wrapper is saved unwrapped; it is never called, so nothing is compiled
    fast = fixed.export_compiled(tmp_path / "fast.pt")
    state = torch.load(tmp_path / "fast.pt")
    assert list(state) == ["embed.weight", "out.weight", "out.bias"]
    bare = fixed.Tagger()
    bare.load_state_dict(state)
    with torch.no_grad():
        assert torch.equal(fresh(tokens), tagger(tokens))
        assert torch.equal(bare(tokens), fast._orig_mod(tokens))


def test_ser301_fix_is_unsafe_because_readers_of_the_file_must_change(tmp_path):
    with open(os.path.join(CORPUS, "checkpoint_io", "trainer.py"), encoding="utf-8") as handle:
        outcome = fix_text(handle.read(), unsafe=True)
    assert outcome.applied == {"SER301": 2, "SER302": 1}
    fixed = load_source(outcome.fixed, tmp_path)
    trainer = fixed.fit(_batches(), epochs=1, path=tmp_path / "last.pt")
    assert torch.load(tmp_path / "last.pt")["epoch"] == 1  # the default loader reads it now...
    fresh = fixed.Trainer(fixed.Classifier())
    # ...but the old reader still expects the optimizer object it used to get back
    with pytest.raises(AttributeError, match="'dict' object has no attribute 'state_dict'"):
        fresh.resume(tmp_path / "last.pt")
    assert trainer.epoch == 1


def test_ser304_golden_fix_is_exact_and_flags_what_it_rewrites():
    before, after = _golden("ser304/encoder_snapshots")
    outcome = fix_text(before, unsafe=True)
    assert outcome.broken_by is None
    assert outcome.fixed == after
    assert outcome.applied == {"SER304": 3}
    # a wrapper around a parameter: what it wraps is not known, no fix
    assert [(f.line, f.column + 1, f.code) for f in outcome.remaining] == [(47, 16, "SER304")]
    assert positions(lint_corpus_file("fixes/ser304/encoder_snapshots.in.py")) == [
        (24, 26, "SER304"),
        (31, 15, "SER304"),
        (41, 28, "SER304"),
        (47, 16, "SER304"),
    ]
    assert positions(lint_corpus_file("fixes/ser304/encoder_snapshots.out.py")) == [(47, 16, "SER304")]
    assert fix_text(before, unsafe=False).fixed == before


def test_ser304_unfixed_snapshots_do_not_load_into_the_bare_model(tmp_path):
    unfixed = load_corpus("fixes/ser304/encoder_snapshots.in.py")
    unfixed.train_data_parallel(_encoder_batches(), tmp_path / "dp.pt")
    unfixed.snapshot_compiled(tmp_path / "nested.pt")
    unfixed.Trainer().save(tmp_path / "trainer.pt")
    for state, prefix in [
        (torch.load(tmp_path / "dp.pt")["model"], r"module\."),
        (torch.load(tmp_path / "nested.pt"), r"_orig_mod\.module\."),
        (torch.load(tmp_path / "trainer.pt")["net"], r"_orig_mod\."),
    ]:
        with pytest.raises(
            RuntimeError,
            match=rf"(?s)Missing key\(s\) in state_dict: \"layers\.0\.weight\".*Unexpected key\(s\) in state_dict: "
            rf"\"{prefix}layers\.0\.weight\"",
        ):
            unfixed.Encoder().load_state_dict(state)


def test_ser304_fixed_snapshots_load_strictly_into_the_bare_model(tmp_path):
    _, after = _golden("ser304/encoder_snapshots")
    fixed = load_source(after, tmp_path)
    x = _encoder_batches(1)[0][0]
    # DataParallel runs its module directly on CPU; the compiled wrappers are never called
    model = fixed.train_data_parallel(_encoder_batches(), tmp_path / "dp.pt")
    fast = fixed.snapshot_compiled(tmp_path / "nested.pt")
    trainer = fixed.Trainer()
    trainer.save(tmp_path / "trainer.pt")
    for state, trained in [
        (torch.load(tmp_path / "dp.pt")["model"], model.module),
        (torch.load(tmp_path / "nested.pt"), fast._orig_mod.module),
        (torch.load(tmp_path / "trainer.pt")["net"], trainer.net._orig_mod),
    ]:
        assert list(state) == ["layers.0.weight", "layers.0.bias", "layers.2.weight", "layers.2.bias"]
        bare = fixed.Encoder()
        bare.load_state_dict(state)  # strict
        with torch.no_grad():
            assert torch.equal(bare(x), trained(x))


def test_ser304_fix_is_unsafe_because_wrapped_readers_must_unwrap_too(tmp_path):
    _, after = _golden("ser304/encoder_snapshots")
    fixed = load_source(after, tmp_path)
    fixed.train_data_parallel(_encoder_batches(), tmp_path / "dp.pt")
    state = torch.load(tmp_path / "dp.pt")["model"]
    # a reader that loads into the wrapper, as the old keys required, now fails
    with pytest.raises(
        RuntimeError,
        match=r"(?s)Missing key\(s\) in state_dict: \"module\.layers\.0\.weight\".*"
        r"Unexpected key\(s\) in state_dict: \"layers\.0\.weight\"",
    ):
        torch.nn.DataParallel(fixed.Encoder()).load_state_dict(state)
    wrapped = torch.nn.DataParallel(fixed.Encoder())
    wrapped.module.load_state_dict(state)  # unwrapping there too is the change the reader needs
