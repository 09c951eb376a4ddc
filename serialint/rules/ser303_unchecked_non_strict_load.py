from __future__ import annotations

import re
from typing import Iterator

import libcst as cst

from serialint.flow import CallUse, file_flow, source_text
from serialint.model import FileContext, call_arg
from serialint.rule import Bad, Expected, Good, Report, Rule, Words

_WHY = (
    "torch raises and warns nothing even when no key matches (e.g. every key prefixed \"module.\"), "
    "so nothing may have been loaded; check its missing_keys and unexpected_keys"
)


_STRICT = Words(("strict",))
_SECOND_ARGUMENT = re.compile(r"(?<!\w)load_state_dict\s*\((?:[^(),]|\((?:[^()]|\([^()]*\))*\))*,")


class UncheckedNonStrictLoad(Rule):
    """
    ## What it does
    Flags `x.load_state_dict(..., strict=False)` whose returned `(missing_keys,
    unexpected_keys)` is thrown away: the call is a statement on its own, or its result is bound
    to names that are never read afterwards in the same function or module.

    ## Why is this bad?
    With `strict=False`, `load_state_dict` neither raises nor warns about keys that do not
    match. When *no* key matches (a checkpoint saved from a `DataParallel` /
    `DistributedDataParallel` wrapper, whose keys all start with `module.`, or from a
    `torch.compile` wrapper, `_orig_mod.`), nothing is loaded and the model silently keeps its
    random initial weights. The returned named tuple is the only place that says so.

    ## Example
    ```python
    model.load_state_dict(checkpoint["model"], strict=False)
    ```

    ## Use instead
    Look at what did not match, and fail (or at least log) when it is not what you expect:
    ```python
    result = model.load_state_dict(checkpoint["model"], strict=False)
    unexpected = [k for k in result.missing_keys if not k.startswith("head.")]
    if unexpected or result.unexpected_keys:
        raise RuntimeError(f"checkpoint does not fit: {result}")
    ```

    ## Fix safety
    No automatic fix is offered by this rule yet. Which keys may be missing is the author's
    decision (a new head, a dropped buffer), so no fix can be written mechanically.

    ## Known limits
    Any use of the bound result counts as inspected, even one that does not look at the keys
    (`del result`, passing it on). A result stored on an attribute or in a container is not
    followed. `strict` given as a value the linter cannot follow is not judged.
    """

    code = "SER303"
    name = "unchecked-non-strict-load"
    triggers = ("load_state_dict",)
    requires = (("False",),)  # the rule judges only a literal False, passed or bound to a name

    @classmethod
    def may_report(cls, text: str, has_class: bool) -> bool:
        # `strict` is named, or given second: a call with a comma in its parentheses
        return super().may_report(text, has_class) and (
            _STRICT.search(text) or _SECOND_ARGUMENT.search(text) is not None
        )
    summary = "inspect the returned missing_keys / unexpected_keys of a strict=False load"

    bad = (
        Bad(
            """\
import torch


def resume(model, path):
    checkpoint = torch.load(path, weights_only=True)
    model.load_state_dict(checkpoint["model"], strict=False)
    return model
""",
            (
                Expected(
                    6,
                    5,
                    "the result of model.load_state_dict(..., strict=False) is discarded: " + _WHY,
                ),
            ),
        ),
        Bad(
            """\
import torch

encoder = torch.nn.Linear(8, 8)
incompatible = encoder.load_state_dict(torch.load("enc.pt", weights_only=True), False)
missing, unexpected = encoder.load_state_dict(
    torch.load("enc.pt", weights_only=True), strict=False
)
print("loaded encoder")
""",
            (
                Expected(
                    4,
                    16,
                    'the result of encoder.load_state_dict(..., strict=False) is bound to "incompatible" but '
                    "never inspected: " + _WHY,
                ),
                Expected(
                    5,
                    23,
                    'the result of encoder.load_state_dict(..., strict=False) is bound to "missing", "unexpected" '
                    "but never inspected: " + _WHY,
                ),
            ),
        ),
    )
    good = (
        # the result is checked
        Good(
            """\
def resume(model, state):
    result = model.load_state_dict(state, strict=False)
    assert not result.unexpected_keys, result
"""
        ),
        # strict load: mismatches raise
        Good(
            """\
def resume(model, state):
    model.load_state_dict(state)
    model.load_state_dict(state, strict=True)
"""
        ),
        # the result is returned or logged
        Good(
            """\
import logging

log = logging.getLogger(__name__)


def resume(model, state):
    missing, unexpected = model.load_state_dict(state, strict=False)
    log.info("missing=%s unexpected=%s", missing, unexpected)
    return model.load_state_dict(state, strict=False)
"""
        ),
        # strict decided by the caller
        Good(
            """\
def resume(model, state, strict):
    model.load_state_dict(state, strict=strict)
"""
        ),
        # read by a nested function
        Good(
            """\
def resume(model, state):
    result = model.load_state_dict(state, strict=False)

    def report():
        return result.missing_keys

    return report
"""
        ),
        # read on the next round of the loop
        Good(
            """\
def resume_all(models, states):
    result = None
    for model, state in zip(models, states):
        if result is not None and result.unexpected_keys:
            raise RuntimeError(result)
        result = model.load_state_dict(state, strict=False)
"""
        ),
    )

    def check(self, ctx: FileContext) -> Iterator[Report]:
        flow = file_flow(ctx)
        for site in flow.call_sites:
            func = site.call.func
            if not isinstance(func, cst.Attribute) or func.attr.value != "load_state_dict":
                continue
            strict = call_arg(site.call, 1, "strict")
            if strict is None:
                continue
            value = flow.value(strict, site.point)
            if value is None or not (isinstance(value.node, cst.Name) and value.node.value == "False"):
                continue
            receiver = source_text(ctx, func.value)
            call = f"{receiver}.load_state_dict(..., strict=False)"
            if site.use is CallUse.DISCARDED:
                yield Report(site.call, f"the result of {call} is discarded: {_WHY}")
            elif site.use is CallUse.BOUND and not any(flow.is_read_after(n, site.point) for n in site.bound_names):
                names = ", ".join(f'"{n}"' for n in site.bound_names)
                yield Report(site.call, f"the result of {call} is bound to {names} but never inspected: {_WHY}")
