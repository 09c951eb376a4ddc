"""SER302's fix: after it, a checkpoint that runs code is refused and real weights still load."""

from __future__ import annotations

import os
import pickle

import pytest

torch = pytest.importorskip("torch")

from serialint.config import Settings  # noqa: E402
from support import CORPUS, fix_text, load_source  # noqa: E402

pytestmark = pytest.mark.oracle

GOLDEN = os.path.join(CORPUS, "fixes", "ser302")
LEGACY = Settings(target_torch=">=2.1")

RAN = []


def record_execution() -> None:
    """What the crafted checkpoint calls when it is unpickled."""
    RAN.append(True)


class Payload:
    def __reduce__(self):  # type: ignore[no-untyped-def]
        return (record_execution, ())


def read(name: str) -> str:
    with open(os.path.join(GOLDEN, name), encoding="utf-8") as handle:
        return handle.read()


def test_golden_pair_is_exact_and_needs_unsafe_fixes():
    source = read("restore.in.py")
    assert fix_text(source, settings=LEGACY).fixed == source  # the fix is unsafe: --fix alone leaves it
    outcome = fix_text(source, unsafe=True, settings=LEGACY)
    assert outcome.fixed == read("restore.out.py")
    assert outcome.applied == {"SER302": 2} and outcome.remaining == []


@pytest.mark.parametrize("function", ["restore", "restore_plain"])
def test_the_unfixed_loader_runs_the_checkpoints_code_and_the_fixed_one_refuses_it(tmp_path, function):
    path = tmp_path / "evil.pt"
    torch.save({"weight": Payload()}, path)
    model = torch.nn.Linear(2, 2)

    unfixed = load_source(read("restore.in.py"), tmp_path)
    RAN.clear()
    try:
        getattr(unfixed, function)(model, str(path))
    except Exception:
        pass  # the state dict is nonsense; what matters is that the code ran while loading
    if function == "restore":
        assert RAN == [True]
    # (torch 2.13's plain torch.load already refuses it; the fix is for the older torch the project supports)

    fixed = load_source(read("restore.out.py"), tmp_path)
    RAN.clear()
    with pytest.raises(pickle.UnpicklingError, match="Weights only load failed"):
        getattr(fixed, function)(model, str(path))
    assert RAN == []


@pytest.mark.parametrize("function", ["restore", "restore_plain"])
def test_the_fixed_loader_still_loads_real_weights(tmp_path, function):
    trained = torch.nn.Linear(2, 2)
    path = tmp_path / "weights.pt"
    torch.save(trained.state_dict(), path)
    fresh = torch.nn.Linear(2, 2)
    fixed = load_source(read("restore.out.py"), tmp_path)
    getattr(fixed, function)(fresh, str(path))
    x = torch.randn(3, 2)
    assert torch.equal(fresh(x), trained(x))
