"""The rule registry: every `Rule` subclass in this package, found by walking it.

Importing this package imports no rule (and so not libcst): `all_rules()` does, on first call.
Metadata alone comes cheaper from `serialint.catalog`.
"""

from __future__ import annotations

import importlib
import pkgutil
from typing import TYPE_CHECKING, Dict, List, Type

if TYPE_CHECKING:
    from serialint.rule import Rule

_REGISTRY: Dict[str, Type[Rule]] = {}


def all_rules() -> List[Type[Rule]]:
    """Every rule class, sorted by code."""
    if not _REGISTRY:
        from serialint.rule import Rule

        for info in pkgutil.iter_modules(__path__):
            module = importlib.import_module(f"{__name__}.{info.name}")
            for value in vars(module).values():
                if (
                    isinstance(value, type)
                    and issubclass(value, Rule)
                    and value is not Rule
                    and value.__module__ == module.__name__
                ):
                    if value.code in _REGISTRY:
                        raise RuntimeError(f"duplicate rule code {value.code}")
                    _REGISTRY[value.code] = value
    return [_REGISTRY[code] for code in sorted(_REGISTRY)]


def rule_by_code(code: str) -> Type[Rule]:
    all_rules()
    return _REGISTRY[code.upper()]


def known_codes() -> List[str]:
    """Every rule code, sorted; from the catalog, so that no rule is imported."""
    from serialint.catalog import known_codes as catalog_codes

    return catalog_codes()
