"""Patterns of real model code that look like SER101-SER103 hazards and are not.

Each corpus file under `audit_negatives/` is linted clean (its `.expected` is empty); here torch
shows why: the state_dict round trip into a fresh instance works and keeps the values, or, for
the size-gated layers, the configurations on either side of the test never shared a checkpoint.
Near misses beside each case show that the exemption stays narrow: change what makes the pattern
safe, and the finding is back, with torch confirming the hazard.
"""

from __future__ import annotations

import warnings

import pytest

torch = pytest.importorskip("torch")

from support import lint_corpus_file, lint_text, load_corpus, load_source, positions  # noqa: E402

pytestmark = pytest.mark.oracle

nn = torch.nn

CASES = (
    "audit_negatives/shifted_windows.py",
    "audit_negatives/anchored_offset.py",
    "audit_negatives/text_block.py",
    "audit_negatives/axial_rope.py",
    "audit_negatives/sized_shortcuts.py",
)


@pytest.mark.parametrize("relpath", CASES)
def test_the_linter_is_silent_on_the_corpus_case(relpath):
    assert positions(lint_corpus_file(relpath)) == []


# -- SER101: a buffer registered as None and filled during construction --------------------------


def test_mask_filled_by_a_method_init_calls_round_trips():
    corpus = load_corpus("audit_negatives/shifted_windows.py")
    block = corpus.ShiftedWindowBlock(8, (8, 8))
    assert block.shift_mask is not None and "shift_mask" not in block.state_dict()
    fresh = corpus.ShiftedWindowBlock(8, (8, 8))
    result = fresh.load_state_dict(block.state_dict())
    assert result.missing_keys == [] and result.unexpected_keys == []
    assert torch.equal(fresh.shift_mask, block.shift_mask)
    tokens = torch.randn(4, 16, 8)
    assert torch.allclose(fresh(tokens), block(tokens))
    # the mask follows .to() like any buffer, and a block without shift has none to lose
    assert fresh.double().shift_mask.dtype == torch.float64
    assert corpus.ShiftedWindowBlock(8, (8, 8), shift=0).shift_mask is None


def test_mask_refreshed_by_resize_matches_a_fresh_block_of_that_size():
    corpus = load_corpus("audit_negatives/shifted_windows.py")
    block = corpus.ShiftedWindowBlock(8, (8, 8))
    block.resize((12, 12))
    fresh = corpus.ShiftedWindowBlock(8, (12, 12))
    fresh.load_state_dict(block.state_dict())
    assert torch.equal(fresh.shift_mask, block.shift_mask)


def test_parametrization_filled_in_right_inverse_round_trips():
    corpus = load_corpus("audit_negatives/anchored_offset.py")
    trained = corpus.anchored(nn.Linear(4, 3))
    with torch.no_grad():
        trained.parametrizations.weight.original.add_(0.5)
    state = trained.state_dict()
    assert "parametrizations.weight.0.anchor" in state
    fresh = corpus.anchored(nn.Linear(4, 3))
    result = fresh.load_state_dict(state)
    assert result.missing_keys == [] and result.unexpected_keys == []
    assert torch.equal(fresh.parametrizations.weight[0].anchor, trained.parametrizations.weight[0].anchor)
    assert torch.allclose(fresh.weight, trained.weight)


_FILLED_LATER = """\
import torch
import torch.nn as nn


class ShiftedWindowBlock(nn.Module):
    def __init__(self, grid):
        super().__init__()
        self.grid = grid
        self.register_buffer("shift_mask", None)

    def build_mask(self):
        self.shift_mask = torch.ones(self.grid, self.grid).triu(1)
"""


def test_near_miss_a_buffer_filled_by_a_later_method_is_still_reported(tmp_path):
    assert positions(lint_text(_FILLED_LATER)) == [(9, 9, "SER101")]
    module = load_source(_FILLED_LATER, tmp_path)
    block = module.ShiftedWindowBlock(4)
    block.build_mask()
    with pytest.raises(RuntimeError, match=r'Unexpected key\(s\) in state_dict: "shift_mask"'):
        module.ShiftedWindowBlock(4).load_state_dict(block.state_dict())


_NOT_A_PARAMETRIZATION = """\
import torch
from torch import nn


class Anchored(nn.Module):
    def __init__(self):
        super().__init__()
        self.register_buffer("anchor", None)

    def inverse(self, weight):
        self.anchor = weight.detach().clone()
        return torch.zeros_like(weight)

    def forward(self, offset):
        return self.anchor + offset
"""


def test_near_miss_the_same_fill_outside_right_inverse_is_still_reported():
    assert positions(lint_text(_NOT_A_PARAMETRIZATION)) == [(8, 9, "SER101")]


# -- SER102: tensors kept plain that every construction rebuilds and the class moves itself -------


def test_constructor_mask_round_trips_and_is_converted_on_use():
    corpus = load_corpus("audit_negatives/text_block.py")
    block = corpus.TextBlock(8, 2, corpus.causal(5))
    fresh = corpus.TextBlock(8, 2, corpus.causal(5))
    result = fresh.load_state_dict(block.state_dict())
    assert result.missing_keys == [] and result.unexpected_keys == []
    assert "causal_mask" not in block.state_dict()
    assert torch.equal(fresh.causal_mask, block.causal_mask)
    seq = torch.randn(5, 3, 8)
    assert torch.allclose(fresh(seq), block(seq))
    # .double() leaves the mask alone; the block converts it itself on the next call
    doubled = fresh.double()
    assert doubled.causal_mask.dtype == torch.float32
    doubled(seq.double())
    assert doubled.causal_mask.dtype == torch.float64


def test_rotary_tables_are_rebuilt_identically_and_moved_on_use():
    corpus = load_corpus("audit_negatives/axial_rope.py")
    attn = corpus.RotaryAttention(16, 2)
    fresh = corpus.RotaryAttention(16, 2)
    result = fresh.load_state_dict(attn.state_dict())
    assert result.missing_keys == [] and result.unexpected_keys == []
    assert not any("angles" in key for key in attn.state_dict())
    assert torch.equal(fresh.rope.angles_pos, attn.rope.angles_pos)
    assert torch.equal(fresh.rope.angles_neg, attn.rope.angles_neg)
    x = torch.randn(2, 6, 16)
    assert torch.allclose(fresh(x), attn(x))
    assert fresh.rope.tables(torch.device("cpu"))[0].is_complex()


def test_a_complex_buffer_would_lose_its_imaginary_part():
    # why such tables stay plain: module.to(bfloat16) casts a complex buffer to a real one
    corpus = load_corpus("audit_negatives/axial_rope.py")
    holder = nn.Module()
    holder.register_buffer("angles", corpus.AxialRope([4]).angles_pos.clone())
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        holder.to(torch.bfloat16)
    assert holder.angles.dtype == torch.bfloat16 and not holder.angles.is_complex()


_RANDOM_TABLE = """\
import torch
from torch import nn


class RandomRope(nn.Module):
    def __init__(self, dim: int, max_len: int = 64):
        super().__init__()
        phase = torch.rand(max_len, dim) * 6.283
        self.freqs = torch.polar(torch.ones_like(phase), phase)

    def forward(self, n: int, device=None):
        return self.freqs.to(device)[:n]
"""


def test_near_miss_a_random_table_moved_on_use_is_still_reported(tmp_path):
    assert positions(lint_text(_RANDOM_TABLE)) == [(9, 9, "SER102")]
    module = load_source(_RANDOM_TABLE, tmp_path)
    model = module.RandomRope(4)
    fresh = module.RandomRope(4)
    fresh.load_state_dict(model.state_dict())  # no error...
    assert not torch.equal(fresh.freqs, model.freqs)  # ...and the table is not the saved one


_UPDATED_MASK = """\
import torch
import torch.nn as nn


class TextBlock(nn.Module):
    def __init__(self, width: int, causal_mask: torch.Tensor = None):
        super().__init__()
        self.proj = nn.Linear(width, width)
        self.causal_mask = causal_mask

    def forward(self, x):
        self.causal_mask.mul_(0.5)
        return self.proj(x) + self.causal_mask.to(x.device).sum()
"""


def test_near_miss_a_mask_written_in_place_is_still_reported():
    assert positions(lint_text(_UPDATED_MASK)) == [(9, 9, "SER102")]


# -- SER103: optional layers gated on sizes that also shape always-built layers -------------------


def _size_mismatch(key: str) -> str:
    return r"size mismatch for " + key.replace(".", r"\.")


def _load_ignoring_keys(target, source):  # type: ignore[no-untyped-def]
    """Load with strict=False: only shapes can fail then, never missing or unexpected keys."""
    return target.load_state_dict(source.state_dict(), strict=False)


def test_widths_on_either_side_of_the_test_never_share_a_checkpoint():
    corpus = load_corpus("audit_negatives/sized_shortcuts.py")
    projected, plain = corpus.ResidualUnit(16, 32), corpus.ResidualUnit(16)
    assert "skip.weight" in projected.state_dict() and projected.skip is not None and plain.skip is None
    with pytest.raises(RuntimeError, match=_size_mismatch("conv1.weight")):
        plain.load_state_dict(projected.state_dict())
    with pytest.raises(RuntimeError, match=_size_mismatch("conv1.weight")):
        projected.load_state_dict(plain.state_dict())
    # building the shortcut in every configuration would not help: without it the keys still clash
    with pytest.raises(RuntimeError, match=_size_mismatch("conv1.weight")):
        _load_ignoring_keys(plain, projected)
    x = torch.randn(1, 16, 8, 8)
    assert projected(x).shape == (1, 32, 8, 8) and plain(x).shape == (1, 16, 8, 8)


def test_embedding_width_and_expansion_ratio_also_shape_the_other_layers():
    corpus = load_corpus("audit_negatives/sized_shortcuts.py")
    with pytest.raises(RuntimeError, match=_size_mismatch("tokens.weight")):
        _load_ignoring_keys(corpus.TokenEmbedding(100, 16, 16), corpus.TokenEmbedding(100, 8, 16))
    with pytest.raises(RuntimeError, match=_size_mismatch("depthwise.weight")):
        _load_ignoring_keys(corpus.InvertedBottleneck(8, 1), corpus.InvertedBottleneck(8))
    ids = torch.tensor([[1, 2, 3]])
    assert corpus.TokenEmbedding(100, 8, 16)(ids).shape == corpus.TokenEmbedding(100, 16, 16)(ids).shape
    x = torch.randn(1, 8, 4, 4)
    assert corpus.InvertedBottleneck(8)(x).shape == corpus.InvertedBottleneck(8, 1)(x).shape == x.shape


@pytest.mark.parametrize(
    "make",
    [
        lambda m: (m.ResidualUnit(16, 32), m.ResidualUnit(16, 32)),
        lambda m: (m.TokenEmbedding(100, 8, 16), m.TokenEmbedding(100, 8, 16)),
        lambda m: (m.InvertedBottleneck(8), m.InvertedBottleneck(8)),
    ],
)
def test_the_same_configuration_round_trips(make):
    first, second = make(load_corpus("audit_negatives/sized_shortcuts.py"))
    result = second.load_state_dict(first.state_dict())
    assert result.missing_keys == [] and result.unexpected_keys == []
    assert all(torch.equal(value, second.state_dict()[key]) for key, value in first.state_dict().items())


_STRIDED = """\
from torch import nn


class DownBlock(nn.Module):
    def __init__(self, in_ch, out_ch, stride):
        super().__init__()
        self.conv = nn.Conv2d(in_ch, out_ch, 3, stride, padding=1)
        if in_ch != out_ch or stride != 1:
            self.skip = nn.Conv2d(in_ch, out_ch, 1, stride)
"""


def test_near_miss_a_stride_in_the_test_is_still_reported(tmp_path):
    assert positions(lint_text(_STRIDED)) == [(9, 13, "SER103")]
    module = load_source(_STRIDED, tmp_path)
    # equal widths, different strides: the same shapes, and the keys alone differ
    with pytest.raises(RuntimeError, match=r'Unexpected key\(s\) in state_dict: "skip\.weight", "skip\.bias"'):
        module.DownBlock(8, 8, 1).load_state_dict(module.DownBlock(8, 8, 2).state_dict())
