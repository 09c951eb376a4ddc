"""Classes that are not Modules are checked when the code visibly pickles them."""

from __future__ import annotations

import io
import pickle
from multiprocessing.reduction import ForkingPickler

import pytest

torch = pytest.importorskip("torch")

from support import lint_corpus_file, load_corpus_in_package, positions  # noqa: E402

pytestmark = pytest.mark.oracle


def test_the_linter_flags_exactly_the_pickled_classes():
    # ShardDataset is flagged only because train_loop.py hands it to a DataLoader with workers
    assert positions(lint_corpus_file("pickled/shards.py")) == [(10, 9, "SER204")]
    assert positions(lint_corpus_file("pickled/run_config.py")) == [(13, 9, "SER201")]
    assert positions(lint_corpus_file("pickled/train_loop.py")) == []


def test_a_dataset_holding_a_file_cannot_be_sent_to_spawned_workers(tmp_path):
    shards = load_corpus_in_package("pickled/shards.py")
    path = tmp_path / "shard.txt"
    path.write_bytes(b"a\nb\n")
    dataset = shards.ShardDataset(str(path))
    # what a spawn or forkserver DataLoader worker start does with the dataset
    with pytest.raises(TypeError, match=r"cannot pickle '_io.BufferedReader' object"):
        ForkingPickler.dumps(dataset)
    dataset.handle.close()


def test_the_getstate_form_reopens_its_file_after_pickling(tmp_path):
    shards = load_corpus_in_package("pickled/shards.py")
    path = tmp_path / "shard.txt"
    path.write_bytes(b"a\nb\n")
    dataset = shards.ReopeningShardDataset(str(path))
    clone = pickle.loads(ForkingPickler.dumps(dataset))
    assert clone[0] == b"a\n" and clone.handle is not dataset.handle
    clone.handle.close()
    dataset.handle.close()


def test_a_config_with_a_lambda_cannot_be_saved_with_the_checkpoint(tmp_path):
    run_config = load_corpus_in_package("pickled/run_config.py")
    with pytest.raises((AttributeError, pickle.PicklingError), match="local object"):
        run_config.main(str(tmp_path / "ckpt.pt"))


def test_the_module_level_schedule_form_saves_and_resumes():
    run_config = load_corpus_in_package("pickled/run_config.py")
    model = torch.nn.Linear(4, 4)
    buffer = io.BytesIO()
    config = run_config.PicklableRunConfig(3e-4, 100, 1000)
    torch.save({"model": model.state_dict(), "config": config}, buffer)
    buffer.seek(0)
    restored = torch.load(buffer, weights_only=False)["config"]
    assert restored.lr(50) == config.lr(50)
