"""The semantic model: what each method stores on self, and which local names have one known value."""

from __future__ import annotations

import libcst as cst
import pytest

from serialint.model import build_class_model, mutually_exclusive


def model(source: str):
    module = cst.parse_module(source)
    cls = next(s for s in module.body if isinstance(s, cst.ClassDef))
    return build_class_model(cls, cls.name.value, f"m.{cls.name.value}")


def binding(source: str, method: str, name: str):
    return model(source).methods[method].single_binding(name)


def test_stores_record_attribute_value_method_and_frames():
    cls = model(
        """
class Net:
    def __init__(self, cfg):
        self.a = 1
        if cfg:
            self.b = 2
        else:
            self.b = 3
        self.c, self.d = 4, 5
        setattr(self, "e", 6)
        x, self.f = g()
"""
    )
    got = [(s.attr, s.value.value if isinstance(s.value, cst.Integer) else None, len(s.frames)) for s in cls.stores]
    assert got == [("a", "1", 0), ("b", "2", 1), ("b", "3", 1), ("c", "4", 0), ("d", "5", 0), ("e", "6", 0), ("f", None, 0)]
    first_b, second_b = cls.stores_of("b")
    assert mutually_exclusive(first_b.frames, second_b.frames)
    assert not mutually_exclusive(cls.stores_of("a")[0].frames, first_b.frames)


def test_static_and_class_methods_have_no_self():
    cls = model(
        """
class Net:
    @staticmethod
    def make(x):
        x.p = 1
    @classmethod
    def build(cls):
        cls.p = 1
"""
    )
    assert cls.stores == [] and cls.methods["make"].self_name is None and cls.methods["build"].self_name is None


def test_self_calls_and_attribute_calls():
    cls = model(
        """
class Net:
    def __init__(me):
        me.register_buffer("p", None)
        me.layers.append(1)
        other.register_buffer("q", None)
"""
    )
    assert [(c.name, c.method.name) for c in cls.self_calls] == [("register_buffer", "__init__")]
    assert [(c.attr, c.name) for c in cls.attr_calls] == [("layers", "append")]


@pytest.mark.parametrize(
    "rebinding",
    [
        "f = other",
        "import f",
        "import f.sub",
        "from m import g as f",
        "from m import f",
        "del f",
        "for f in items: pass",
        "with open(p) as f: pass",
        "global f",
        "if (f := other): pass",
        "print(f := other)",
        "match cfg:\n            case {'f': f}: pass",
        "match cfg:\n            case [*f]: pass",
        "match cfg:\n            case {**f}: pass",
        "try:\n            pass\n        except Exception as f:\n            pass",
        "f += 1",
    ],
)
def test_a_second_binding_of_any_kind_makes_the_value_unknown(rebinding):
    source = f"""
class Net:
    def __init__(self, items, p, cfg, other):
        f = lambda x: x
        {rebinding}
        self.f = f
"""
    assert binding(source, "__init__", "f") is None


def test_a_single_binding_is_known_and_parameters_are_not():
    source = """
class Net:
    def __init__(self, g):
        f = lambda x: x
        self.f = f
        self.g = g
"""
    assert isinstance(binding(source, "__init__", "f"), cst.Lambda)
    assert binding(source, "__init__", "g") is None


def test_local_defs_are_recorded_and_nested_scopes_are_not_walked():
    cls = model(
        """
class Net:
    def __init__(self):
        def act(x):
            self.inner = 1
            return x
        self.act = act
"""
    )
    assert list(cls.methods["__init__"].local_defs) == ["act"]
    assert [s.attr for s in cls.stores] == ["act"]
