"""SER103: state_dict keys that depend on the configuration break loading across configurations."""

from __future__ import annotations

import importlib
import re
from typing import List, Optional

import pytest

torch = pytest.importorskip("torch")

from serialint.rules.ser103_conditional_submodule import (  # noqa: E402
    KEYED_MODULES,
    PARAMETER_FREE_MODULES,
    PARTIAL_KEYED_MODULES,
)
from support import CORPUS, lint_corpus_file, lint_text, load_corpus, positions  # noqa: E402

pytestmark = pytest.mark.oracle

nn = torch.nn


def _keys(model) -> List[str]:  # type: ignore[no-untyped-def]
    return list(model.state_dict())


# -- the linter flags exactly the corpus cases ---------------------------------------------------


def test_the_linter_flags_the_corpus_cases():
    assert positions(lint_corpus_file("conditional/classifier_heads.py"), "SER103") == [
        (31, 13, "SER103"),
        (52, 9, "SER103"),
    ]
    assert positions(lint_corpus_file("conditional/attention_block.py"), "SER103") == [
        (16, 13, "SER103"),
        (19, 9, "SER103"),
        (52, 13, "SER103"),
        (53, 13, "SER103"),
        (60, 13, "SER103"),
        (61, 13, "SER103"),
    ]
    # the negative files are held clean by their empty .expected files (tests/test_corpus.py)


# -- positives: torch refuses the checkpoint of the other configuration --------------------------


def test_identity_placeholder_does_not_keep_keys_stable():
    corpus = load_corpus("conditional/classifier_heads.py")
    with_se = corpus.SmallNet(use_se=True)
    without_se = corpus.SmallNet(use_se=False)
    assert "stem.se.fc1.weight" in _keys(with_se)
    se_keys = r'"stem\.se\.fc1\.weight", "stem\.se\.fc1\.bias", "stem\.se\.fc2\.weight", "stem\.se\.fc2\.bias"'
    with pytest.raises(RuntimeError, match=r"Unexpected key\(s\) in state_dict: " + se_keys):
        without_se.load_state_dict(with_se.state_dict())
    with pytest.raises(RuntimeError, match=r"Missing key\(s\) in state_dict: " + se_keys):
        with_se.load_state_dict(without_se.state_dict())


def test_feature_extractor_does_not_load_classifier_checkpoint():
    corpus = load_corpus("conditional/classifier_heads.py")
    classifier = corpus.SmallNet(num_classes=10)
    features = corpus.SmallNet(num_classes=0)
    with pytest.raises(RuntimeError, match=r'Unexpected key\(s\) in state_dict: "head\.weight", "head\.bias"\.'):
        features.load_state_dict(classifier.state_dict())
    with pytest.raises(RuntimeError, match=r'Missing key\(s\) in state_dict: "head\.weight", "head\.bias"\.'):
        classifier.load_state_dict(features.state_dict())


def test_bias_in_one_branch_only():
    corpus = load_corpus("conditional/attention_block.py")
    with pytest.raises(RuntimeError, match=r'Unexpected key\(s\) in state_dict: "qkv\.bias"\.'):
        corpus.SelfAttention(16, qkv_bias=False).load_state_dict(corpus.SelfAttention(16, qkv_bias=True).state_dict())


def test_qk_norm_placeholder():
    corpus = load_corpus("conditional/attention_block.py")
    with pytest.raises(RuntimeError, match=r'Missing key\(s\) in state_dict: "q_norm\.weight", "q_norm\.bias"\.'):
        corpus.SelfAttention(16, qk_norm=True).load_state_dict(corpus.SelfAttention(16).state_dict())


def test_import_fallback_with_other_keys(monkeypatch):
    corpus = load_corpus("conditional/attention_block.py")
    current = corpus.Block(16)
    monkeypatch.delattr(torch.nn, "RMSNorm")  # as on a torch without RMSNorm
    fallback = corpus.Block(16)
    assert isinstance(fallback.norm1, nn.LayerNorm)
    with pytest.raises(RuntimeError, match=r'Missing key\(s\) in state_dict: "norm1\.bias", "norm2\.bias"\.'):
        fallback.load_state_dict(current.state_dict())
    with pytest.raises(RuntimeError, match=r'Unexpected key\(s\) in state_dict: "norm1\.bias", "norm2\.bias"\.'):
        current.load_state_dict(fallback.state_dict())


def test_layer_scale_parameter_or_none():
    corpus = load_corpus("conditional/attention_block.py")
    with pytest.raises(RuntimeError, match=r'Unexpected key\(s\) in state_dict: "gamma1", "gamma2"\.'):
        corpus.Block(16).load_state_dict(corpus.Block(16, init_values=1e-5).state_dict())


def test_corpus_models_run():
    blocks = load_corpus("conditional/attention_block.py")
    heads = load_corpus("conditional/classifier_heads.py")
    x = torch.randn(2, 5, 16)
    model = blocks.Block(16, init_values=0.1, qkv_bias=True, qk_norm=True, rotary=True)
    assert model(x).shape == (2, 5, 16)
    assert heads.SmallNet(use_se=True, drop_rate=0.1)(torch.randn(2, 3, 16, 16)).shape == (2, 10)
    assert heads.SmallNet(num_classes=0)(torch.randn(2, 3, 16, 16)).shape == (2, 64)


# -- negatives: the keys are the same under every configuration ----------------------------------


def _round_trip(a, b) -> None:  # type: ignore[no-untyped-def]
    b.load_state_dict(a.state_dict())
    a.load_state_dict(b.state_dict())


def test_always_built_and_gated_in_forward_round_trips():
    corpus = load_corpus("conditional/gated_modules.py")
    plain = corpus.GatedBlock(8, use_norm=False, use_adapter=False)
    full = corpus.GatedBlock(8, use_norm=True, use_adapter=True)
    _round_trip(full, plain)
    x = torch.randn(3, 8)
    assert torch.equal(plain(x), plain.proj(x))  # the gate, not the keys, decides what runs
    assert not torch.equal(full(x), full.proj(x))


def test_hyperparameter_and_parameter_free_alternatives_keep_keys():
    corpus = load_corpus("conditional/gated_modules.py")
    assert _keys(corpus.Stem(4, large_kernel=True)) == _keys(corpus.Stem(4)) == ["conv.weight", "conv.bias"]
    _round_trip(corpus.Mlp(8, act="gelu", dropout=0.1, norm="pre"), corpus.Mlp(8, act="relu", dropout=0.0, norm="post"))
    _round_trip(corpus.TinyLM(11, 8, tie_weights=True), corpus.TinyLM(11, 8, tie_weights=False))
    with pytest.raises(ValueError, match="unknown activation"):
        corpus.Mlp(8, act="tanh")
    assert corpus.Mlp(8, depth=3)(torch.randn(2, 8)).shape == (2, 8)


def test_import_fallback_with_the_same_keys(monkeypatch):
    # fallbacks.py imports its package sibling: import it as a module of the corpus package
    monkeypatch.syspath_prepend(CORPUS)
    fallbacks = importlib.import_module("conditional.fallbacks")
    current = fallbacks.Norm(8)
    monkeypatch.delattr(torch.nn, "RMSNorm")  # as on a torch without RMSNorm
    fallback = fallbacks.Norm(8)
    assert isinstance(fallback.inner, nn.LayerNorm)
    _round_trip(current, fallback)


def test_fallback_corpus_variants_keep_keys(monkeypatch):
    monkeypatch.syspath_prepend(CORPUS)
    fallbacks = importlib.import_module("conditional.fallbacks")
    linear, conv = fallbacks.Mixer(8, kind="linear"), fallbacks.Mixer(8, kind="conv")
    assert _keys(linear) == _keys(conv) == ["mix.weight", "mix.bias"]
    _round_trip(fallbacks.Mixer(8, dropout=0.1, causal=True), fallbacks.Mixer(8))
    _round_trip(fallbacks.FineTuned(reset_head=True), fallbacks.FineTuned())
    x = torch.randn(2, 6, 8)
    assert fallbacks.Mixer(8, kind="conv", dropout=0.1)(x).shape == (2, 6, 8)


# -- the rule's table of torch.nn constructors agrees with torch ---------------------------------

# constructor expressions, evaluated by torch and linted as `self.m = <expr>` in one branch only
KEYED_CASES = [
    "nn.Linear(4, 3)",
    "nn.Linear(4, 3, bias=False)",
    "nn.Linear(4, 3, False)",
    "nn.Bilinear(2, 2, 3, bias=False)",
    "nn.LazyLinear(3, False)",
    "nn.Conv1d(2, 2, 3)",
    "nn.Conv2d(2, 2, 3, 1, 1, 1, 1, False)",
    "nn.Conv3d(2, 2, 1, bias=False)",
    "nn.ConvTranspose2d(2, 2, 3, 1, 0, 0, 1, False)",
    "nn.ConvTranspose1d(2, 2, 3)",
    "nn.LazyConv2d(2, 3, 1, 0, 1, 1, False)",
    "nn.LazyConvTranspose2d(2, 3, bias=False)",
    "nn.LayerNorm(4)",
    "nn.LayerNorm(4, 1e-6, True, False)",
    "nn.LayerNorm(4, elementwise_affine=False)",
    "nn.RMSNorm(4)",
    "nn.RMSNorm(4, elementwise_affine=False)",
    "nn.GroupNorm(2, 4)",
    "nn.GroupNorm(2, 4, affine=False)",
    "nn.GroupNorm(2, 4, bias=False)",
    "nn.BatchNorm1d(4)",
    "nn.BatchNorm2d(4, affine=False)",
    "nn.BatchNorm2d(4, track_running_stats=False)",
    "nn.BatchNorm3d(4, bias=False)",
    "nn.BatchNorm2d(4, 1e-5, 0.1, False, False)",
    "nn.SyncBatchNorm(4)",
    "nn.LazyBatchNorm2d()",
    "nn.LazyBatchNorm1d(1e-5, 0.1, False)",
    "nn.InstanceNorm2d(4)",
    "nn.InstanceNorm1d(4, affine=True)",
    "nn.InstanceNorm2d(4, track_running_stats=True)",
    "nn.LazyInstanceNorm2d()",
    "nn.LazyInstanceNorm3d(affine=False)",
    "nn.Embedding(10, 4)",
    "nn.EmbeddingBag(10, 4)",
    "nn.PReLU()",
    "nn.RNNCell(3, 4)",
    "nn.LSTMCell(3, 4, False)",
    "nn.GRUCell(3, 4, bias=False)",
    "nn.LSTM(3, 4, num_layers=2, bidirectional=True)",
    "nn.GRU(3, 4, bias=False)",
    "nn.RNN(3, 4)",
    "nn.MultiheadAttention(4, 2)",
    "nn.MultiheadAttention(4, 2, kdim=3, vdim=3, bias=False)",
    "nn.TransformerEncoderLayer(4, 2)",
    "nn.TransformerDecoderLayer(4, 2, bias=False)",
    "nn.Sequential(nn.Linear(2, 2), nn.ReLU(), nn.LayerNorm(2))",
    "nn.Sequential(nn.ReLU(), nn.Dropout(0.1))",
    "nn.ModuleList([nn.Linear(2, 2), nn.Identity(), nn.Conv1d(2, 2, 1, bias=False)])",
    "nn.ModuleDict({'proj': nn.Linear(2, 2), 'act': nn.GELU()})",
    "nn.Parameter(torch.zeros(2))",
    "nn.Buffer(torch.zeros(2))",
    "nn.Buffer(torch.zeros(2), persistent=False)",
    "nn.Linear(2, 2).to(torch.float64)",
]


def _default_args(name: str) -> str:
    if name.startswith("LazyConv"):
        return "2, 3"
    if name.startswith("Conv"):
        return "2, 2, 3"
    if name.startswith("Lazy") and "Norm" in name:
        return ""
    return {
        "Linear": "4, 3",
        "Bilinear": "2, 2, 3",
        "LazyLinear": "3",
        "GroupNorm": "2, 4",
        "Embedding": "10, 4",
        "EmbeddingBag": "10, 4",
        "PReLU": "",
        "RNNCell": "3, 4",
        "LSTMCell": "3, 4",
        "GRUCell": "3, 4",
    }.get(name, "4")


# every table entry, built with its defaults
KEYED_CASES += [f"nn.{name}({_default_args(name)})" for name in sorted(KEYED_MODULES)]

# Sample arguments for the parameter-free modules that need some.
FREE_ARGS = {
    "Threshold": "0.1, 0.0",
    "Unflatten": "1, (2, 2)",
    "Fold": "output_size=4, kernel_size=2",
    "Unfold": "kernel_size=2",
    "LocalResponseNorm": "2",
    "CrossMapLRN2d": "3",
    "ChannelShuffle": "2",
    "PixelShuffle": "2",
    "PixelUnshuffle": "2",
    "FractionalMaxPool2d": "2, output_size=2",
    "FractionalMaxPool3d": "2, output_size=2",
}
for _name in PARAMETER_FREE_MODULES:
    if ("Pool" in _name or "Unpool" in _name) and _name not in FREE_ARGS:
        FREE_ARGS[_name] = "2, 2" if _name.startswith("LPPool") else "2"
    elif "Pad" in _name:
        FREE_ARGS[_name] = "1, 0.0" if _name.startswith("ConstantPad") else "1"


def _lint_one_branch(expr: str) -> Optional[str]:
    source = (
        "import torch\n"
        "import torch.nn as nn\n\n\n"
        "class M(nn.Module):\n"
        "    def __init__(self, flag):\n"
        "        super().__init__()\n"
        "        if flag:\n"
        f"            self.m = {expr}\n"
    )
    findings = [f for f in lint_text(source) if f.code == "SER103"]
    assert len(findings) <= 1
    return findings[0].message if findings else None


def _message_keys(message: str) -> List[str]:
    match = re.search(r"state_dict keys? (.*?) exists? under one configuration only", message)
    assert match is not None, message
    return re.findall(r'"([^"]+)"', match.group(1))


def _build(expr: str):  # type: ignore[no-untyped-def]
    holder = nn.Module()
    holder.m = eval(expr, {"nn": nn, "torch": torch})  # a fixed expression of this file
    return holder


@pytest.mark.parametrize("expr", KEYED_CASES)
def test_keys_named_by_the_rule_are_the_keys_torch_saves(expr):
    torch_keys = _keys(_build(expr))
    message = _lint_one_branch(expr)
    if not torch_keys:
        assert message is None
        return
    assert message is not None
    named = _message_keys(message)
    short = expr.split("(", 1)[0].split(".")[-1]
    if short in PARTIAL_KEYED_MODULES or short in {"Sequential", "ModuleList", "ModuleDict"}:
        # only the keys every instance has are named: a subset, in torch's order
        assert named and set(named) <= set(torch_keys)
        assert named == [k for k in torch_keys if k in named]
    else:
        assert named == torch_keys


@pytest.mark.parametrize("name", sorted(PARAMETER_FREE_MODULES))
def test_parameter_free_modules_have_no_keys(name):
    expr = f"nn.{name}({FREE_ARGS.get(name, '')})"
    assert _keys(_build(expr)) == []
    assert _lint_one_branch(expr) is None
