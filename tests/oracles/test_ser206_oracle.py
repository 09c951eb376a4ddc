"""SER206: a local function handed to another process cannot be pickled on the way there.

Starting a process with spawn costs seconds here (the child imports torch), so the failures are
shown where they happen, in the parent while it pickles the process or task; the working forms
are shown by the same pickling (multiprocessing's ForkingPickler) plus a real run under fork.
"""

from __future__ import annotations

import multiprocessing
import pickle
from multiprocessing.reduction import ForkingPickler

import pytest

torch = pytest.importorskip("torch")

from support import lint_corpus_file, load_corpus, positions  # noqa: E402

pytestmark = pytest.mark.oracle

LOCAL_OBJECT = r"Can't pickle local object"
PICKLING_ERRORS = (AttributeError, pickle.PicklingError)  # Python 3.11 raises AttributeError
SEQUENCES = [[5, 6, 7], [8], [9, 10], [11, 12, 13, 14]]
PADDED = [[5, 6, 7, 0], [8, 0, 0, 0], [9, 10, 0, 0], [11, 12, 13, 14]]
LINES = ["the cat sat", "the dog", "a cat and a dog"]

needs_fork = pytest.mark.skipif(
    "fork" not in multiprocessing.get_all_start_methods(), reason="the fork start method is not available"
)


def test_the_linter_flags_the_corpus_cases():
    assert positions(lint_corpus_file("workers/text_loader.py")) == [(35, 20, "SER206"), (36, 24, "SER206")]
    assert positions(lint_corpus_file("workers/preprocess.py")) == [(19, 36, "SER206"), (27, 27, "SER206")]
    assert positions(lint_corpus_file("workers/ddp_launch.py")) == [(27, 14, "SER206"), (38, 33, "SER206")]
    assert lint_corpus_file("workers/safe_pipeline.py") == []
    assert lint_corpus_file("workers/tricky.py") == []
    [collate, _] = lint_corpus_file("workers/text_loader.py")
    assert collate.message == (
        "lambda passed as collate_fn to DataLoader with num_workers=num_workers: worker processes started with "
        "spawn or forkserver (the default on macOS and Windows, and on Linux from Python 3.14) cannot pickle it "
        "(Can't pickle local object 'build_loader.<locals>.<lambda>')"
    )


def _batches(loader) -> list:  # type: ignore[no-untyped-def]
    return [row for batch in loader for row in batch.tolist()]


@pytest.mark.parametrize("method", ["spawn", "forkserver"])
def test_lambda_collate_fails_when_workers_start_with_spawn_or_forkserver(method):
    if method not in multiprocessing.get_all_start_methods():
        pytest.skip(f"{method} is not available")
    corpus = load_corpus("workers/text_loader.py")
    loader = corpus.build_loader(SEQUENCES, num_workers=1)
    loader.multiprocessing_context = method  # the platform default on macOS / Linux with Python 3.14
    # raised in the parent, while it pickles the worker process: no worker is started
    with pytest.warns(UserWarning, match="Got pickle error when attempting to start a worker Process"):
        with pytest.raises(PICKLING_ERRORS, match=LOCAL_OBJECT + r" 'build_loader\.<locals>\.<lambda>'"):
            iter(loader)


def test_local_worker_init_fn_fails_on_its_own():
    corpus = load_corpus("workers/text_loader.py")
    safe = load_corpus("workers/safe_pipeline.py")
    loader = corpus.build_loader(SEQUENCES, num_workers=1)
    loader.collate_fn = safe.pad_collate  # only the flagged worker_init_fn is left unpicklable
    loader.multiprocessing_context = "spawn"
    with pytest.warns(UserWarning, match="Got pickle error"):
        with pytest.raises(PICKLING_ERRORS, match=LOCAL_OBJECT + r" 'build_loader\.<locals>\.seed_worker'"):
            iter(loader)


@needs_fork
def test_the_same_loader_works_under_fork_and_without_workers():
    corpus = load_corpus("workers/text_loader.py")
    forked = corpus.build_loader(SEQUENCES, num_workers=1)
    forked.multiprocessing_context = "fork"  # Linux's default before Python 3.14: nothing is pickled
    assert _batches(forked) == PADDED
    assert _batches(corpus.build_eval_loader(SEQUENCES)) == PADDED


def test_module_level_collate_and_partial_pickle_for_spawned_workers():
    corpus = load_corpus("workers/safe_pipeline.py")
    loader = corpus.build_loader(SEQUENCES, num_workers=1, multiprocessing_context="spawn")
    # what a spawned worker receives: the functions pickle by reference to the importable module
    collate = pickle.loads(ForkingPickler.dumps(loader.collate_fn))
    init = pickle.loads(ForkingPickler.dumps(loader.worker_init_fn))
    assert collate.func is corpus.pad_collate and collate.keywords == {"pad_id": 0}
    assert init is corpus.seed_worker
    batch = [torch.tensor(s) for s in SEQUENCES]
    assert collate(batch).tolist() == PADDED


@needs_fork
def test_module_level_collate_runs_in_forked_workers():
    corpus = load_corpus("workers/safe_pipeline.py")
    loader = corpus.build_loader(SEQUENCES, num_workers=2, multiprocessing_context="fork")
    assert _batches(loader) == PADDED


@needs_fork
def test_pool_map_with_a_lambda_fails_even_under_fork():
    corpus = load_corpus("workers/preprocess.py")
    with pytest.raises(PICKLING_ERRORS, match=LOCAL_OBJECT + r" 'count_words\.<locals>\.<lambda>'"):
        corpus.count_words(LINES, processes=1)  # the corpus asks for get_context("fork")


@needs_fork
def test_process_pool_with_a_nested_def_fails_on_result():
    corpus = load_corpus("workers/preprocess.py")
    vocab = corpus.load_vocab(w for line in LINES for w in line.split())
    with pytest.raises(PICKLING_ERRORS, match=LOCAL_OBJECT + r" 'encode_corpus\.<locals>\.encode'"):
        corpus.encode_corpus(LINES, vocab, max_workers=1)


@needs_fork
def test_module_level_pool_functions_work():
    corpus = load_corpus("workers/safe_pipeline.py")
    vocab = {"the": 1, "cat": 2}
    fork = multiprocessing.get_context("fork")
    assert corpus.encode_corpus(["the cat", "a cat"], vocab, max_workers=1, mp_context=fork) == [[1, 2], [0, 2]]
    assert corpus.count_words(LINES, processes=1) == {"the": 2, "cat": 2, "sat": 1, "dog": 2, "a": 2, "and": 1}
    task = pickle.loads(ForkingPickler.dumps(corpus.functools.partial(corpus.encode, vocab=vocab)))
    assert task("cat the") == [2, 1]


def test_thread_pools_run_lambdas():
    corpus = load_corpus("workers/tricky.py")
    assert corpus.fetch_sizes(["ab", "cde"]) == [5, 7]
    assert corpus.local_pool([1, 2]) == [3, 6]


def test_torch_multiprocessing_spawn_of_a_nested_function_fails_in_the_parent(monkeypatch):
    monkeypatch.setenv("MASTER_ADDR", "127.0.0.1")
    monkeypatch.setenv("MASTER_PORT", "29531")
    corpus = load_corpus("workers/ddp_launch.py")
    with pytest.raises(PICKLING_ERRORS, match=LOCAL_OBJECT + r" 'launch\.<locals>\.run'"):
        corpus.launch(world_size=1, steps=1)


def _finish(process) -> int:  # type: ignore[no-untyped-def]
    process.join(timeout=20)
    if process.is_alive():
        process.terminate()
        process.join(timeout=5)
    return process.exitcode


def test_local_process_target_fails_under_spawn(monkeypatch, tmp_path):
    corpus = load_corpus("workers/ddp_launch.py")
    # macOS and Windows: mp.Process starts with spawn
    monkeypatch.setattr(corpus.mp, "Process", multiprocessing.get_context("spawn").Process)
    with pytest.raises(PICKLING_ERRORS, match=LOCAL_OBJECT + r" 'start_heartbeat\.<locals>\.beat'"):
        corpus.start_heartbeat(str(tmp_path / "heartbeat"))
    assert not (tmp_path / "heartbeat").exists()


@needs_fork
def test_local_process_target_runs_under_fork(monkeypatch, tmp_path):
    corpus = load_corpus("workers/ddp_launch.py")
    monkeypatch.setattr(corpus.mp, "Process", multiprocessing.get_context("fork").Process)
    monitor = corpus.start_heartbeat(str(tmp_path / "heartbeat"), beats=2)
    assert _finish(monitor) == 0
    assert (tmp_path / "heartbeat").read_text() == "alive\nalive\n"


@needs_fork
def test_tricky_negatives_run():
    corpus = load_corpus("workers/tricky.py")
    features, labels = torch.arange(6.0).reshape(3, 2), torch.tensor([0, 1, 0])
    inline, single, default = corpus.debug_loaders(features, labels, scale=2.0)
    assert [len(b) for b in inline] == [2, 1]
    assert [b[0].tolist() for b in single] == [[[0.0, 1.0], [2.0, 3.0]], [[4.0, 5.0]]]
    assert list(default) == [2, 1]
    assert list(corpus.forked_loader(features, labels)) == [2, 1]
    for loader in corpus.picklable_callables(torch.utils.data.TensorDataset(features), workers=2):
        for fn in (loader.collate_fn, loader.worker_init_fn):
            pickle.loads(ForkingPickler.dumps(fn))
    results = multiprocessing.get_context("fork").SimpleQueue()
    corpus.forked_ranks(1, results)
    assert results.get() == 0
    side = corpus.side_process("abc")
    assert _finish(side) == 0
