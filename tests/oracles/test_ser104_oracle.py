"""SER104: Modules and Parameters in plain containers are invisible to state_dict(), parameters() and .to()."""

from __future__ import annotations

import importlib
import importlib.util
import io
import os
import sys
import uuid

import pytest

torch = pytest.importorskip("torch")

from support import CORPUS, fix_text, load_source, positions  # noqa: E402

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


# -- the fix: registered members round trip; checkpoints of the unfixed class need a re-save ------


def _golden_pair(tmp_path):
    """The golden .in.py as written and as `--unsafe-fixes` leaves it, both imported."""
    with open(os.path.join(CORPUS, "fixes", "ser104", "zoo_blocks.in.py"), encoding="utf-8") as handle:
        text = handle.read()
    outcome = fix_text(text, unsafe=True)
    assert outcome.broken_by is None and outcome.applied == {"SER104": 5}
    return load_source(text, tmp_path), load_source(outcome.fixed, tmp_path)


def _state_round_trip(model):
    buffer = io.BytesIO()
    torch.save(model.state_dict(), buffer)
    buffer.seek(0)
    return torch.load(buffer, weights_only=True)


def test_the_linter_flags_the_golden_fix_input(corpus_findings):
    assert positions(corpus_findings("fixes/ser104/zoo_blocks.in.py"), "SER104") == [
        (11, 9, "SER104"),
        (16, 9, "SER104"),
        (31, 9, "SER104"),
        (34, 9, "SER104"),
        (49, 9, "SER104"),
        (63, 9, "SER104"),
        (75, 9, "SER104"),
        (88, 9, "SER104"),
    ]


def test_fixed_tuple_and_dict_members_are_saved_and_restored(tmp_path):
    unfixed, fixed = _golden_pair(tmp_path)
    images = torch.randn(2, 3, 8, 8)
    plain = unfixed.ConvEncoder(4, 3).eval()
    assert list(plain.state_dict()) == [] and list(plain.parameters()) == []
    torch.manual_seed(0)
    model = fixed.ConvEncoder(4, 3).eval()
    state = _state_round_trip(model)
    assert {"stages.0.weight", "stages.1.running_mean", "heads.logits.weight", "heads.embedding.bias"} <= set(state)
    assert len(list(model.parameters())) == 2 + 2 + 2 * 2
    fresh = fixed.ConvEncoder(4, 3).eval()
    assert not torch.equal(fresh.heads["logits"].weight, model.heads["logits"].weight)
    fresh.load_state_dict(state)
    want, got = model(images), fresh(images)
    assert list(got) == ["logits", "embedding"]
    for name in want:
        assert torch.equal(got[name], want[name])
    assert fresh.double().stages[0].weight.dtype == torch.float64


def test_fixed_parameter_list_reaches_the_optimiser_and_the_checkpoint(tmp_path):
    unfixed, fixed = _golden_pair(tmp_path)
    assert len(list(unfixed.GatedMixture(3, 4).parameters())) == 0
    torch.manual_seed(0)
    model = fixed.GatedMixture(3, 4)
    assert len(list(model.parameters())) == 3 + 3 * 2
    optimiser = torch.optim.SGD(model.parameters(), lr=0.5)
    model(torch.randn(5, 4)).pow(2).sum().backward()
    optimiser.step()
    assert not torch.equal(model.gates[0], torch.zeros(4))  # the gates were trained
    state = _state_round_trip(model)
    assert {"gates.0", "gates.2", "experts.1.weight"} <= set(state)
    fresh = fixed.GatedMixture(3, 4)
    fresh.load_state_dict(state)
    x = torch.randn(5, 4)
    assert torch.equal(fresh(x), model(x))
    assert torch.equal(fresh.gates[1], model.gates[1])


def test_fixed_local_list_round_trips_and_slicing_still_iterates(tmp_path):
    _, fixed = _golden_pair(tmp_path)
    torch.manual_seed(0)
    model = fixed.ResidualStack(4, 3)
    state = _state_round_trip(model)
    assert {"blocks.0.0.weight", "blocks.2.0.bias", "norm.weight"} <= set(state)
    fresh = fixed.ResidualStack(4, 3)
    fresh.load_state_dict(state)
    x = torch.randn(2, 4)
    assert torch.equal(fresh(x), model(x))


def test_checkpoint_of_the_unfixed_class_fails_a_strict_load_until_re_saved(tmp_path):
    """Why the fix is unsafe: the members get state_dict keys that older checkpoints lack."""
    unfixed, fixed = _golden_pair(tmp_path)
    old = _state_round_trip(unfixed.GatedMixture(2, 4))  # written before the fix: holds no member
    assert list(old) == []
    missing = r'Missing key\(s\) in state_dict: "gates\.0", "gates\.1", "experts\.0\.weight"'
    with pytest.raises(RuntimeError, match=missing):
        fixed.GatedMixture(2, 4).load_state_dict(old)
    old_encoder = _state_round_trip(unfixed.ConvEncoder(4, 3))
    with pytest.raises(RuntimeError, match=r'Missing key\(s\) in state_dict: "stages\.0\.weight"'):
        fixed.ConvEncoder(4, 3).load_state_dict(old_encoder)
    # the way out: load the old checkpoint once without strict, then save a new one
    model = fixed.GatedMixture(2, 4)
    result = model.load_state_dict(old, strict=False)
    assert result.missing_keys == [
        "gates.0",
        "gates.1",
        "experts.0.weight",
        "experts.0.bias",
        "experts.1.weight",
        "experts.1.bias",
    ]
    assert result.unexpected_keys == []
    fixed.GatedMixture(2, 4).load_state_dict(_state_round_trip(model))
