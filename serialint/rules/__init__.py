"""The rule registry: every `Rule` subclass in this package, found by walking it."""

from __future__ import annotations

import importlib
import pkgutil
from typing import Dict, List, Type

from serialint.rule import Rule

_REGISTRY: Dict[str, Type[Rule]] = {}


def all_rules() -> List[Type[Rule]]:
    """Every rule class, sorted by code."""
    if not _REGISTRY:
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
    return [rule.code for rule in all_rules()]
