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
from support import CORPUS, load_corpus  # noqa: E402

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
