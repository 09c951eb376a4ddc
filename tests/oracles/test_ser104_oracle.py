"""SER104: Modules and Parameters in plain containers are invisible to state_dict(), parameters() and .to()."""

from __future__ import annotations

import importlib
import importlib.util
import os
import sys
import uuid

import pytest

torch = pytest.importorskip("torch")

from support import CORPUS, positions  # noqa: E402

pytestmark = pytest.mark.oracle

SIZES = [4, 8, 8, 2]


def load_containers(module: str):
    """Import a module of test_corpus/containers as part of its package (it uses relative imports)."""
    package = f"corpus_containers_{uuid.uuid4().hex}"
    directory = os.path.join(CORPUS, "containers")
    spec = importlib.util.spec_from_file_location(
        package, os.path.join(directory, "__init__.py"), submodule_search_locations=[directory]
    )
    assert spec is not None and spec.loader is not None
    sys.modules[package] = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(sys.modules[package])
    return importlib.import_module(f"{package}.{module}")


@pytest.fixture(scope="module")
def corpus_findings():
    """The corpus linted once, as `lint_corpus_file` does, and read per file."""
    from serialint.config import ConfigResolver
    from serialint.discovery import discover
    from serialint.engine import Linter, SourceFile, lint_sources

    linter = Linter()
    resolver = ConfigResolver(linter.codes)
    files, errors = discover([CORPUS], resolver)
    assert not errors
    run = lint_sources([SourceFile(f) for f in files], resolver, linter)

    def of(relpath):
        target = os.path.normpath(os.path.join(CORPUS, relpath))
        return [f for f in run.findings if os.path.normpath(f.path) == target]

    return of


def test_the_linter_flags_the_corpus_cases(corpus_findings):
    assert positions(corpus_findings("containers/layer_lists.py"), "SER104") == [
        (11, 9, "SER104"),
        (24, 9, "SER104"),
        (41, 9, "SER104"),
        (50, 9, "SER104"),
    ]
    assert positions(corpus_findings("containers/heads_dict.py"), "SER104") == [
        (10, 9, "SER104"),
        (23, 9, "SER104"),
    ]


def test_the_linter_leaves_the_negative_files_alone(corpus_findings):
    assert positions(corpus_findings("containers/registered_containers.py"), "SER104") == []
    assert positions(corpus_findings("containers/blocks.py"), "SER104") == []


def test_layers_in_a_plain_list_are_missing_from_state_dict_and_parameters():
    corpus = load_containers("layer_lists")
    model = corpus.DeepMLP(SIZES)
    assert list(model.state_dict()) == []
    assert list(model.parameters()) == []
    tower = corpus.ResidualTower(4, depth=3)
    assert sorted(tower.state_dict()) == ["head.bias", "head.weight"]
    assert len(list(tower.parameters())) == 2


def test_round_trip_silently_keeps_random_weights():
    corpus = load_containers("layer_lists")
    torch.manual_seed(0)
    model = corpus.DeepMLP(SIZES)
    fresh = corpus.DeepMLP(SIZES)
    fresh.load_state_dict(model.state_dict())  # no error...
    x = torch.randn(5, 4)
    assert not torch.allclose(fresh(x), model(x))  # ...and the fresh random layers answer


def test_optimiser_never_sees_parameters_in_a_plain_list():
    corpus = load_containers("layer_lists")
    model = corpus.MixtureOfScales(3, 4)
    assert list(model.parameters()) == []
    with pytest.raises(ValueError, match="optimizer got an empty parameter list"):
        torch.optim.SGD(model.parameters(), lr=0.1)


def test_plain_tuple_and_dict_members_do_not_follow_double():
    corpus = load_containers("layer_lists")
    stem = corpus.ConvStem(4).double()
    assert stem.stages[0].weight.dtype == torch.float32
    heads = load_containers("heads_dict")
    model = heads.MultiTaskModel(6, 5, {"age": 1, "gender": 2}).double()
    assert sorted(model.state_dict()) == ["encoder.0.bias", "encoder.0.weight"]
    assert model.heads["age"].weight.dtype == torch.float32
    with pytest.raises(RuntimeError, match="mat1 and mat2 must have the same dtype"):
        model(torch.randn(2, 6, dtype=torch.float64))


def test_heads_added_later_are_not_saved():
    heads = load_containers("heads_dict")
    model = heads.LateHeads(5)
    model.add_task("score", 1)
    assert list(model.state_dict()) == []
    fresh = heads.LateHeads(5)
    fresh.add_task("score", 1)
    fresh.load_state_dict(model.state_dict())
    h = torch.randn(3, 5)
    assert not torch.allclose(fresh(h)["score"], model(h)["score"])


def test_module_list_form_round_trips():
    registered = load_containers("registered_containers")
    torch.manual_seed(0)
    model = registered.DeepMLP(SIZES)
    assert "layers.0.weight" in model.state_dict() and "layers.2.bias" in model.state_dict()
    assert len(list(model.parameters())) == 6
    fresh = registered.DeepMLP(SIZES)
    fresh.load_state_dict(model.state_dict())
    x = torch.randn(5, 4)
    assert torch.equal(fresh(x), model(x))
    assert fresh.double().layers[0].weight.dtype == torch.float64


def test_module_dict_and_parameter_containers_are_registered():
    registered = load_containers("registered_containers")
    model = registered.MultiTaskModel(5, {"age": 1, "gender": 2})
    keys = set(model.state_dict())
    assert {"heads.age.weight", "heads.gender.bias", "scales.0", "scales.1", "bias.age", "bias.gender"} <= keys
    fresh = registered.MultiTaskModel(5, {"age": 1, "gender": 2})
    fresh.load_state_dict(model.state_dict())
    for name, tensor in model.state_dict().items():
        assert torch.equal(fresh.state_dict()[name], tensor)


def test_old_plain_list_checkpoint_misses_the_new_keys():
    plain = load_containers("layer_lists")
    registered = load_containers("registered_containers")
    with pytest.raises(RuntimeError, match=r'Missing key\(s\) in state_dict: "layers\.0\.weight"'):
        registered.DeepMLP(SIZES).load_state_dict(plain.DeepMLP(SIZES).state_dict())


def test_a_list_of_registered_submodules_loses_nothing():
    registered = load_containers("registered_containers")
    model = registered.UNetLike(4)
    assert {"down1.fc1.weight", "down2.fc2.bias"} <= set(model.state_dict())
    fresh = registered.UNetLike(4)
    fresh.load_state_dict(model.state_dict())
    x = torch.randn(2, 4)
    assert torch.equal(fresh(x), model(x))
    legacy = registered.LegacyRegistration(4, 2)
    assert "block_1.fc1.weight" in legacy.state_dict()
