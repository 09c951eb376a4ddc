"""The project index: which classes are Module classes, across files, under every import spelling.

SER101 (`self.register_buffer("p", None)` then `self.p = ...`) is the observable: it only fires in
Module classes, so a finding proves the index called the class a Module class and its absence
proves it did not. The same questions are also asked of `ProjectIndex` directly.
"""

from __future__ import annotations

import ast
import os
import subprocess
import sys
from pathlib import Path
from typing import Dict, List, Optional, Sequence, Tuple

import pytest

from clitools import run as run_cli
from clitools import write
from serialint.config import ConfigResolver, Settings
from serialint.discovery import discover
from serialint.engine import Linter, SourceFile, lint_source, lint_sources
from serialint.index import (
    ALIAS,
    CLASS,
    FUNCTION,
    IMPORT,
    MODULE_ROOTS,
    OPAQUE,
    RELATIVE,
    TORCH_NN_MODULES,
    BaseClass,
    Binding,
    FileSummary,
    ProjectIndex,
    is_torch_module_name,
    module_name_for_path,
    module_name_in_memory,
    summarize,
)
from serialint.rules.ser101_register_buffer_none import RegisterBufferNone
from support import CORPUS, ROOT

SER101_ONLY = Linter([RegisterBufferNone])

# The class body every case below puts under test: the call is the finding's position.
BODY = """\
    def __init__(self):
        super().__init__()
        self.register_buffer("p", None)

    def reset(self):
        self.p = torch.ones(1)
"""
CALL = 'self.register_buffer("p", None)'


def message(name: str = "p") -> str:
    return (
        f'buffer "{name}" is registered as None and assigned a tensor later: loading a checkpoint saved '
        f'after the assignment into a fresh instance fails (Unexpected key(s) in state_dict: "{name}")'
    )


def hazard(header: str, base: str, name: str = "Net") -> str:
    """`header`, then a class `name(base)` holding the SER101 hazard."""
    return f"{header}\n\n\nclass {name}({base}):\n{BODY}"


def call_lines(text: str) -> List[int]:
    return [number for number, line in enumerate(text.splitlines(), start=1) if CALL in line]


def expected(path: str, text: str, column: int = 9) -> List[Tuple[str, int, int, str, str]]:
    """One SER101 finding on each register_buffer line of `text`."""
    return [(path, line, column, "SER101", message()) for line in call_lines(text)]


Row = Tuple[str, int, int, str, str]


def rows(findings) -> List[Row]:  # type: ignore[no-untyped-def]
    return [(f.path, f.line, f.column + 1, f.code, f.message) for f in findings]


def lint(
    text: str,
    files: Optional[Dict[str, str]] = None,
    path: str = "example.py",
    settings: Optional[Settings] = None,
) -> List[Row]:
    """SER101 findings in `text` (at `path`), linted with `files` as the rest of the project."""
    result = lint_source(text, path=path, settings=settings, extra_files=files, linter=SER101_ONLY)
    assert not result.errors, [e.render() for e in result.errors]
    return rows(result.findings)


def index_of(files: Dict[str, str], module_bases: Sequence[str] = ()) -> Tuple[ProjectIndex, Dict[str, FileSummary]]:
    """A ProjectIndex over in-memory files, and each file's summary by path."""
    summaries = {
        path: summarize(path, ast.parse(text), *module_name_in_memory(path, files)) for path, text in files.items()
    }
    return ProjectIndex(summaries.values(), module_bases), summaries


def lint_tree(root: Path, files: Dict[str, str], paths: Sequence[str] = (".",)) -> List[Row]:
    """Write `files` under `root`, discover `paths` there and lint them in one run (as the CLI does)."""
    write(root, files)
    resolver = ConfigResolver(SER101_ONLY.codes)
    previous = os.getcwd()
    os.chdir(root)
    try:
        found, errors = discover(list(paths), resolver)
        assert not errors
        run = lint_sources([SourceFile(os.path.normpath(f)) for f in found], resolver, SER101_ONLY)
    finally:
        os.chdir(previous)
    assert not run.errors, [e.render() for e in run.errors]
    return [(p.replace(os.sep, "/"), *rest) for p, *rest in rows(run.findings)]


# -- torch's own names -----------------------------------------------------------------------


@pytest.mark.parametrize(
    "qualname",
    [
        "torch.nn.Module",
        "torch.nn.Linear",
        "torch.nn.Sequential",
        "torch.nn.ModuleList",
        "torch.nn.ParameterList",  # a Module holding Parameters
        "torch.nn.ParameterDict",
        "torch.nn.LazyLinear",
        "torch.nn.TransformerEncoderLayer",
        "torch.nn.modules.Module",
        "torch.nn.modules.Linear",
        "torch.nn.modules.module.Module",
        "torch.nn.modules.conv.Conv2d",
        "torch.nn.modules.batchnorm._BatchNorm",
        "torch.nn.modules.loss._Loss",
        "torch.nn.modules.linear.NonDynamicallyQuantizableLinear",
        "torch.nn.parallel.DistributedDataParallel",
        "torch.nn.parallel.distributed.DistributedDataParallel",
        "torch.nn.DataParallel",
        "torch.jit.ScriptModule",
        "torch.fx.GraphModule",
        "lightning.LightningModule",
        "lightning.pytorch.LightningModule",
        "lightning.pytorch.core.module.LightningModule",
        "pytorch_lightning.LightningModule",
        "pytorch_lightning.core.LightningModule",
    ],
)
def test_torch_module_names(qualname: str) -> None:
    assert is_torch_module_name(qualname)


@pytest.mark.parametrize(
    "qualname",
    [
        "torch.nn.Parameter",
        "torch.nn.Buffer",
        "torch.nn.UninitializedParameter",
        "torch.nn.UninitializedBuffer",
        "torch.nn.LinearCrossEntropyOptions",
        "torch.nn.parameter.Parameter",
        "torch.nn.modules.lazy.LazyModuleMixin",
        "torch.nn.modules.module.RemovableHandle",
        "torch.nn.modules._functions.SyncBatchNorm",  # an autograd Function, not the layer
        "torch.nn.utils.rnn.PackedSequence",
        "torch.nn.functional",
        "torch.nn",
        "torch.Tensor",
        "torch.Module",
        "torch.nn.Module.Linear",
        "torch.nn.modules.conv.sub.Conv2d",
        "torch.nn.parallel.Scatter",
        "mylib.Module",
        "mylib.nn.Module",
        "nn.Module",
        "Module",
        "lightning.Module",
        "lightning.fabric.LightningModule",
        "torchvision.models.ResNet",  # a Module in truth, but not a name the index may assume
    ],
)
def test_names_that_are_not_torch_modules(qualname: str) -> None:
    assert not is_torch_module_name(qualname)


def test_torch_nn_allow_list_matches_the_installed_torch() -> None:
    torch = pytest.importorskip("torch")
    nn = torch.nn
    exported = {
        name
        for name in dir(nn)
        if not name.startswith("_") and isinstance(getattr(nn, name), type) and issubclass(getattr(nn, name), nn.Module)
    }
    assert TORCH_NN_MODULES == exported
    not_modules = {
        name
        for name in dir(nn)
        if name[:1].isupper() and not (isinstance(getattr(nn, name), type) and issubclass(getattr(nn, name), nn.Module))
    }
    assert {"Parameter", "Buffer", "UninitializedParameter", "UninitializedBuffer"} <= not_modules
    assert not any(is_torch_module_name(f"torch.nn.{name}") for name in not_modules)


def test_every_torch_root_is_importable_and_a_module_class() -> None:
    torch = pytest.importorskip("torch")
    import importlib

    for qualname in sorted(q for q in MODULE_ROOTS if q.startswith("torch.")):
        module_name, _, attr = qualname.rpartition(".")
        cls = getattr(importlib.import_module(module_name), attr)
        assert issubclass(cls, torch.nn.Module), qualname


# -- import spellings, one file ----------------------------------------------------------------

NESTED_BASE = "    class Base(nn.Module):\n        pass"  # a Module class one level in

MODULE_SPELLINGS = [
    ("import torch", "torch.nn.Module"),
    ("import torch.nn", "torch.nn.Module"),
    ("import torch as th", "th.nn.Module"),
    ("import torch.nn as nn", "nn.Module"),
    ("from torch import nn", "nn.Module"),
    ("from torch import nn as tnn", "tnn.Module"),
    ("from torch.nn import Module", "Module"),
    ("from torch.nn import Module as M", "M"),
    ("from torch.nn.modules.module import Module", "Module"),
    ("from torch.nn.modules import module", "module.Module"),
    ("from torch.nn import modules", "modules.Module"),
    ("from torch.nn import *", "Module"),
    ("import torch.nn as nn", "nn.Sequential"),
    ("from torch import nn", "nn.Linear"),
    ("from torch import nn", "nn.ModuleDict"),
    ("from torch.nn import TransformerEncoderLayer as Layer", "Layer"),
    ("from torch.nn.modules.batchnorm import _BatchNorm", "_BatchNorm"),
    ("from torch.nn.modules.loss import _Loss", "_Loss"),
    ("import torch.nn.modules.conv as conv", "conv.Conv2d"),
    ("from torch.nn.parallel import DistributedDataParallel as DDP", "DDP"),
    ("import torch", "torch.jit.ScriptModule"),
    ("from torch import fx", "fx.GraphModule"),
    ("import lightning as L", "L.LightningModule"),
    ("from lightning import LightningModule", "LightningModule"),
    ("from lightning.pytorch import LightningModule", "LightningModule"),
    ("import lightning.pytorch as pl", "pl.LightningModule"),
    ("import lightning.pytorch", "lightning.pytorch.LightningModule"),
    ("import pytorch_lightning as pl", "pl.LightningModule"),
    ("from pytorch_lightning import LightningModule", "LightningModule"),
    ("from pytorch_lightning.core.module import LightningModule as LM", "LM"),
    # generic and multiple bases
    ("from typing import Generic, TypeVar\nfrom torch import nn\nT = TypeVar('T')", "nn.Module, Generic[T]"),
    ("import abc\nfrom torch import nn", "abc.ABC, nn.Module"),
    ("from torch import nn", "nn.Module, metaclass=type"),
    # module-level aliases
    ("from torch import nn\nBase = nn.Module", "Base"),
    ("from torch import nn\nRoot = nn.Module\nBase = Root", "Base"),
    ("import torch.nn\nBase: type = torch.nn.Module", "Base"),
    ("from torch import nn\nBase, Other = nn.Module, object", "Base"),
    ("from torch import nn\nBase = nn.Module\nBase = Base", "Base"),
    (
        "from torch import nn\ntry:\n    from lightning.pytorch import LightningModule as Base\n"
        "except ImportError:\n    Base = nn.Module",
        "Base",
    ),
    (
        "try:\n    import lightning.pytorch as pl\nexcept ImportError:\n    pl = None",
        "pl.LightningModule",
    ),
    (
        "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from mylib import Module\n"
        "else:\n    from torch.nn import Module",
        "Module",
    ),
    # a class that extends the import of the same name
    ("from torch.nn import Linear\n\n\nclass Linear(Linear):\n    pass", "Linear"),
    ("from torch import nn\n\n\nclass Wrapper(nn.Module):\n    pass\n\n\nWrapper = Wrapper", "Wrapper"),
    # a base class defined in the same file, also under `if` / `try` at module level
    ("from torch import nn\n\n\nclass Base(nn.Module):\n    pass", "Base"),
    ("from torch import nn\n\ntry:\n    import apex\nexcept ImportError:\n" + NESTED_BASE, "Base"),
    ("import sys\nfrom torch import nn\n\nif sys.version_info >= (3, 9):\n" + NESTED_BASE, "Base"),
    (
        "from torch import nn\nfrom typing import Generic, TypeVar\nT = TypeVar('T')\n\n\n"
        "class Base(nn.Module, Generic[T]):\n    pass",
        "Base[int]",
    ),
    ("from torch import nn\n\n\nclass Outer:\n    class Inner(nn.Module):\n        pass", "Outer.Inner"),
    (
        "import contextlib\nfrom torch import nn\n\nwith contextlib.suppress(ImportError):\n" + NESTED_BASE,
        "Base",
    ),
]


@pytest.mark.parametrize("header, base", MODULE_SPELLINGS)
def test_module_spellings_are_module_classes(header: str, base: str) -> None:
    text = hazard("import torch\n" + header, base)
    assert lint(text) == expected("example.py", text)


NOT_MODULE_SPELLINGS = [
    ("from mylib import Module", "Module"),
    ("from mylib import Module as M", "M"),
    ("import mylib.nn as nn", "nn.Module"),
    ("from mylib import nn", "nn.Linear"),
    ("import mylib as torch", "torch.nn.Module"),
    ("from mylib import *", "Module"),
    ("from torch import nn", "nn.Parameter"),
    ("from torch import nn", "nn.Buffer"),
    ("from torch.nn import Parameter", "Parameter"),
    ("from torch.nn.parameter import UninitializedParameter", "UninitializedParameter"),
    ("from torch.nn.modules.lazy import LazyModuleMixin", "LazyModuleMixin"),
    ("from torch.utils.data import Dataset", "Dataset"),
    ("", "object"),
    ("", "Module"),  # not bound at all
    ("", "nn.Module"),
    ("from lightning import LightningDataModule", "LightningDataModule"),
    ("from lightning.pytorch.callbacks import Callback", "Callback"),
    # a project class merely named Module
    ("class Module:\n    pass", "Module"),
    ("from torch.nn import Module\n\n\nclass Module:\n    pass", "Module"),
    ("from torch.nn import Module\n\n\ndef Module():\n    pass", "Module"),
    # rebound to something that cannot be known statically
    ("from torch.nn import Module as Base\nBase = make_base()", "Base"),
    ("from torch import nn\nBase = type('Base', (nn.Module,), {})", "Base"),
    ("from torch import nn\nnn = load_backend()", "nn.Module"),
    ("from torch import nn\nBase, Other = make_pair()", "Base"),
    ("from torch import nn\nBase = nn.Module\nBase += 1", "Base"),
    # imports inside a function do not bind at module level
    ("def build():\n    from torch.nn import Module\n    return Module", "Module"),
    ("class Config:\n    from torch.nn import Module", "Module"),
    # a call or subscript of a call is not a name
    ("from torch import nn", "make_base(nn.Module)"),
    # an alias that loops
    ("A = B\nB = A", "A"),
]


@pytest.mark.parametrize("header, base", NOT_MODULE_SPELLINGS)
def test_non_module_spellings_are_not_module_classes(header: str, base: str) -> None:
    assert lint(hazard("import torch\n" + header, base)) == []


def test_class_rebound_after_its_definition_is_judged_by_its_definition() -> None:
    # the class itself is checked; a subclass of the rebound name has an unknown base
    text = hazard("import torch\nfrom torch import nn", "nn.Module") + "\n\nNet = register(Net)\n"
    assert lint(text) == expected("example.py", text)
    child = text + "\n\nclass Child(Net):\n" + BODY
    assert lint(child) == expected("example.py", text)


def test_nested_class_sees_its_sibling_in_the_enclosing_class_body() -> None:
    text = (
        "import torch\nfrom torch import nn\n\n\nclass Zoo:\n    class Base(nn.Module):\n        pass\n\n"
        "    class Net(Base):\n" + "".join(f"    {line}\n" if line else "\n" for line in BODY.splitlines())
    )
    assert lint(text) == expected("example.py", text, column=13)


def test_nested_module_class_inside_a_plain_class_is_a_module_class() -> None:
    text = "import torch\nfrom torch import nn\n\n\nclass Models:\n    class Net(nn.Module):\n" + "".join(
        f"    {line}\n" if line else "\n" for line in BODY.splitlines()
    )
    assert lint(text) == expected("example.py", text, column=13)


def test_nested_class_does_not_see_a_grandparent_class_body() -> None:
    # class bodies do not nest as scopes: Inner's `Base` is the module-level one, which is no Module
    text = (
        "import torch\nfrom torch import nn\n\n\nclass Base:\n    pass\n\n\nclass Zoo:\n"
        "    class Base(nn.Module):\n        pass\n\n    class Deeper:\n        class Net(Base):\n"
        + "".join(f"        {line}\n" if line else "\n" for line in BODY.splitlines())
    )
    assert call_lines(text) == [17]
    assert lint(text) == []


# -- across files, in memory -------------------------------------------------------------------

TORCH_BASE = "from torch import nn\n\n\nclass Base(nn.Module):\n    pass\n"
PLAIN_BASE = "class Base:\n    pass\n"

PACKAGES = {"pkg/__init__.py": "", "pkg/nets/__init__.py": "", "pkg/layers/__init__.py": ""}

CROSS_FILE = [
    # (id, path of the linted file, its header and base, the other files)
    ("import x", "example.py", "import models", "models.Base", {"models.py": TORCH_BASE}),
    ("import x as y", "example.py", "import models as m", "m.Base", {"models.py": TORCH_BASE}),
    ("from x import y", "example.py", "from models import Base", "Base", {"models.py": TORCH_BASE}),
    ("from x import y as z", "example.py", "from models import Base as B", "B", {"models.py": TORCH_BASE}),
    (
        "import pkg.mod",
        "example.py",
        "import pkg.models",
        "pkg.models.Base",
        {"pkg/__init__.py": "", "pkg/models.py": TORCH_BASE},
    ),
    (
        "import pkg.mod as y",
        "example.py",
        "import pkg.models as pm",
        "pm.Base",
        {"pkg/__init__.py": "", "pkg/models.py": TORCH_BASE},
    ),
    (
        "from pkg import mod",
        "example.py",
        "from pkg import models",
        "models.Base",
        {"pkg/__init__.py": "", "pkg/models.py": TORCH_BASE},
    ),
    (
        "from . import mod",
        "pkg/net.py",
        "from . import models",
        "models.Base",
        {"pkg/__init__.py": "", "pkg/models.py": TORCH_BASE},
    ),
    (
        "from .mod import y",
        "pkg/net.py",
        "from .models import Base",
        "Base",
        {"pkg/__init__.py": "", "pkg/models.py": TORCH_BASE},
    ),
    (
        "from .. import pkg",
        "pkg/nets/net.py",
        "from .. import layers",
        "layers.base.Base",
        {**PACKAGES, "pkg/layers/base.py": TORCH_BASE},
    ),
    (
        "from ..pkg.mod import y",
        "pkg/nets/net.py",
        "from ..layers.base import Base",
        "Base",
        {**PACKAGES, "pkg/layers/base.py": TORCH_BASE},
    ),
    (
        "from ... import mod",
        "pkg/a/b/net.py",
        "from ... import models",
        "models.Base",
        {"pkg/__init__.py": "", "pkg/a/__init__.py": "", "pkg/a/b/__init__.py": "", "pkg/models.py": TORCH_BASE},
    ),
    (
        "from . import y in __init__",
        "pkg/__init__.py",
        "from .models import Base",
        "Base",
        {"pkg/models.py": TORCH_BASE},
    ),
    (
        "__init__ re-export",
        "example.py",
        "from pkg import Base",
        "Base",
        {
            "pkg/__init__.py": "from .layers.base import Base\n",
            "pkg/layers/__init__.py": "",
            "pkg/layers/base.py": TORCH_BASE,
        },
    ),
    (
        "__init__ re-export used as attribute",
        "example.py",
        "import pkg",
        "pkg.Base",
        {"pkg/__init__.py": "from pkg.models import Base\n", "pkg/models.py": TORCH_BASE},
    ),
    (
        "chain of re-exports",
        "example.py",
        "from pkg import Base",
        "Base",
        {
            "pkg/__init__.py": "from .layers import Base\n",
            "pkg/layers/__init__.py": "from .core import Base\n",
            "pkg/layers/core/__init__.py": "from .base import Base as Base\n",
            "pkg/layers/core/base.py": TORCH_BASE,
        },
    ),
    (
        "re-export under another name",
        "example.py",
        "from pkg import Layer",
        "Layer",
        {"pkg/__init__.py": "from .base import Base as Layer\n", "pkg/base.py": TORCH_BASE},
    ),
    (
        "re-export by alias",
        "example.py",
        "from pkg import Layer",
        "Layer",
        {"pkg/__init__.py": "from .base import Base\nLayer = Base\n", "pkg/base.py": TORCH_BASE},
    ),
    (
        "star re-export",
        "example.py",
        "from pkg import Base",
        "Base",
        {"pkg/__init__.py": "from .layers import *\n", "pkg/layers.py": TORCH_BASE},
    ),
    (
        "chain of star re-exports",
        "example.py",
        "from pkg import Base",
        "Base",
        {
            "pkg/__init__.py": "from .layers import *\n",
            "pkg/layers/__init__.py": "from pkg.layers.base import *\n",
            "pkg/layers/base.py": TORCH_BASE,
        },
    ),
    (
        "star import of a project module",
        "example.py",
        "from models import *",
        "Base",
        {"models.py": TORCH_BASE},
    ),
    (
        "star with __all__ naming a private class",
        "example.py",
        "from pkg import _Base",
        "_Base",
        {
            "pkg/__init__.py": "from .base import *\n",
            "pkg/base.py": "__all__ = ['_Base']\n" + TORCH_BASE.replace("Base", "_Base"),
        },
    ),
    (
        "star with __all__ extended",
        "example.py",
        "from pkg import Base",
        "Base",
        {"pkg/__init__.py": "from .base import *\n", "pkg/base.py": "__all__ = []\n__all__ += ['Base']\n" + TORCH_BASE},
    ),
    (
        "star import of a package whose __all__ names a submodule",
        "example.py",
        "from pkg import *",
        "layers.Base",
        {"pkg/__init__.py": "__all__ = ['layers']\n", "pkg/layers.py": TORCH_BASE},
    ),
    (
        "subpackage attribute of a package",
        "example.py",
        "import pkg",
        "pkg.layers.Base",
        {"pkg/__init__.py": "", "pkg/layers.py": TORCH_BASE},
    ),
    (
        "alias in another file",
        "example.py",
        "from layers import Base",
        "Base",
        {"layers.py": "import torch.nn as nn\n\nBase = nn.Module\n"},
    ),
    (
        "import re-exported from torch in another file",
        "example.py",
        "from layers import Base",
        "Base",
        {"layers.py": "from torch.nn import Module as Base\n"},
    ),
    (
        "torch module re-exported by a package",
        "example.py",
        "from pkg import nn",
        "nn.Linear",
        {"pkg/__init__.py": "from torch import nn\n"},
    ),
    (
        "three files deep",
        "example.py",
        "from c import C",
        "C",
        {
            "a.py": "from torch import nn\n\n\nclass A(nn.Module):\n    pass\n",
            "b.py": "import a\n\n\nclass B(a.A):\n    pass\n",
            "c.py": "from b import B\n\n\nclass C(B):\n    pass\n",
        },
    ),
    (
        "base of a torch layer in another file",
        "example.py",
        "from layers import Block",
        "Block",
        {"layers.py": "import torch.nn as nn\n\n\nclass Block(nn.Sequential):\n    pass\n"},
    ),
    (
        "generic base in another file",
        "example.py",
        "from layers import Base",
        "Base[int]",
        {
            "layers.py": "from typing import Generic, TypeVar\nfrom torch import nn\nT = TypeVar('T')\n\n\n"
            "class Base(nn.Module, Generic[T]):\n    pass\n"
        },
    ),
    (
        "nested class in another file",
        "example.py",
        "from layers import Blocks",
        "Blocks.Residual",
        {"layers.py": "from torch import nn\n\n\nclass Blocks:\n    class Residual(nn.Module):\n        pass\n"},
    ),
    (
        "class under TYPE_CHECKING/else in another file",
        "example.py",
        "from layers import Base",
        "Base",
        {
            "layers.py": "from typing import TYPE_CHECKING\nfrom torch import nn\n\nif TYPE_CHECKING:\n"
            "    Base = nn.Module\nelse:\n    class Base(nn.Module):\n        pass\n"
        },
    ),
    (
        "class under try/except in another file",
        "example.py",
        "from layers import Norm",
        "Norm",
        {
            "layers.py": "from torch import nn\n\ntry:\n    from apex.normalization import FusedLayerNorm as Norm\n"
            "except ImportError:\n    class Norm(nn.LayerNorm):\n        pass\n"
        },
    ),
    (
        "Lightning module in another file",
        "example.py",
        "from lit import LitBase",
        "LitBase",
        {"lit.py": "import lightning.pytorch as pl\n\n\nclass LitBase(pl.LightningModule):\n    pass\n"},
    ),
    (
        "src layout",
        "tests/test_net.py",
        "from pkg.models import Base",
        "Base",
        {"src/pkg/__init__.py": "", "src/pkg/models.py": TORCH_BASE},
    ),
    (
        "sibling script",
        "scripts/train.py",
        "from models import Base",
        "Base",
        {"scripts/models.py": TORCH_BASE},
    ),
    (
        "namespace package",
        "train.py",
        "from models.base import Base",
        "Base",
        {"models/base.py": TORCH_BASE},
    ),
    (
        "namespace package, import of the directory",
        "train.py",
        "import models.base",
        "models.base.Base",
        {"models/base.py": TORCH_BASE},
    ),
    (
        "relative import inside a namespace package",
        "models/net.py",
        "from .base import Base",
        "Base",
        {"models/base.py": TORCH_BASE},
    ),
    (
        "namespace package importing itself absolutely",
        "models/net.py",
        "from models.base import Base",
        "Base",
        {"models/base.py": TORCH_BASE},
    ),
]


@pytest.mark.parametrize(
    "path, header, base, files", [case[1:] for case in CROSS_FILE], ids=[case[0] for case in CROSS_FILE]
)
def test_bases_in_other_files_resolve(path: str, header: str, base: str, files: Dict[str, str]) -> None:
    text = hazard("import torch\n" + header, base)
    assert lint(text, files, path) == expected(path, text)


CROSS_FILE_NOT_MODULE = [
    ("plain base", "example.py", "from models import Base", "Base", {"models.py": PLAIN_BASE}),
    (
        "project class named Module",
        "example.py",
        "from mylib.core import Module",
        "Module",
        {
            "mylib/__init__.py": "",
            "mylib/core.py": "class Module:\n    def register_buffer(self, name, value):\n        pass\n",
        },
    ),
    (
        "base deriving from a project class named Module",
        "example.py",
        "from layers import Base",
        "Base",
        {
            "layers.py": "from plugins import Module\n\n\nclass Base(Module):\n    pass\n",
            "plugins.py": "class Module:\n    pass\n",
        },
    ),
    (
        "project Module shadows the torch import",
        "example.py",
        "from layers import Base",
        "Base",
        {"layers.py": "from torch.nn import Module\n\n\nclass Module:\n    pass\n\n\nclass Base(Module):\n    pass\n"},
    ),
    (
        "base from an unknown library",
        "example.py",
        "from layers import Base",
        "Base",
        {"layers.py": "from mylib import Module\n\n\nclass Base(Module):\n    pass\n"},
    ),
    (
        "re-export of a name the package does not bind",
        "example.py",
        "from pkg import Base",
        "Base",
        {"pkg/__init__.py": "from .layers import Other\n", "pkg/layers.py": TORCH_BASE},
    ),
    (
        "star import honours __all__",
        "example.py",
        "from pkg import Base",
        "Base",
        {"pkg/__init__.py": "from .layers import *\n", "pkg/layers.py": "__all__ = ['Other']\n" + TORCH_BASE},
    ),
    (
        "star import skips private names",
        "example.py",
        "from pkg import _Base",
        "_Base",
        {"pkg/__init__.py": "from .layers import *\n", "pkg/layers.py": TORCH_BASE.replace("Base", "_Base")},
    ),
    (
        "star import from an unknown library",
        "example.py",
        "from layers import Base",
        "Base",
        {"layers.py": "from mylib import *\n\n\nclass Base(Module):\n    pass\n"},
    ),
    (
        "relative import to a file the project lacks",
        "pkg/net.py",
        "from .missing import Base",
        "Base",
        {"pkg/__init__.py": "", "pkg/models.py": TORCH_BASE},
    ),
    (
        "relative import stays in its directory",
        "pkg/net.py",
        "from .models import Base",
        "Base",
        {"pkg/__init__.py": "", "models.py": TORCH_BASE, "pkg/models.py": PLAIN_BASE},
    ),
    (
        "absolute import is not looked up below a package directory",
        "pkg/sub/net.py",
        "from models import Base",
        "Base",
        {"pkg/__init__.py": "", "pkg/sub/__init__.py": "", "pkg/models.py": TORCH_BASE},
    ),
    (
        "attribute of a class is not a nested class",
        "example.py",
        "from layers import Blocks",
        "Blocks.Plain",
        {"layers.py": "from torch import nn\n\n\nclass Blocks(nn.Module):\n    Plain = object\n"},
    ),
    (
        "explicit binding beats a star import",
        "example.py",
        "from models import *\n\n\nclass Base:\n    pass",
        "Base",
        {"models.py": TORCH_BASE},
    ),
    (
        "torch Parameter subclass in another file",
        "example.py",
        "from layers import Base",
        "Base",
        {"layers.py": "from torch import nn\n\n\nclass Base(nn.Parameter):\n    pass\n"},
    ),
    (
        "cycle of two classes",
        "example.py",
        "from a import A",
        "A",
        {
            "a.py": "from b import B\n\n\nclass A(B):\n    pass\n",
            "b.py": "from a import A\n\n\nclass B(A):\n    pass\n",
        },
    ),
    (
        "cycle of re-exports",
        "example.py",
        "from a import Base",
        "Base",
        {"a.py": "from b import Base\n", "b.py": "from a import Base\n"},
    ),
    (
        "cycle of star imports",
        "example.py",
        "from a import Base",
        "Base",
        {"a.py": "from b import *\n", "b.py": "from a import *\n"},
    ),
    (
        "class derived from itself",
        "example.py",
        "from a import A",
        "A",
        {"a.py": "class A(A):\n    pass\n"},
    ),
    (
        "base built by a call in another file",
        "example.py",
        "from layers import Base",
        "Base",
        {"layers.py": "from torch import nn\n\nBase = nn.Module if True else object\n"},
    ),
]


@pytest.mark.parametrize(
    "path, header, base, files",
    [case[1:] for case in CROSS_FILE_NOT_MODULE],
    ids=[case[0] for case in CROSS_FILE_NOT_MODULE],
)
def test_bases_in_other_files_that_are_not_modules(path: str, header: str, base: str, files: Dict[str, str]) -> None:
    assert lint(hazard("import torch\n" + header, base), files, path) == []


def test_class_in_a_cycle_with_a_path_to_torch_is_a_module_whichever_is_asked_first() -> None:
    files = {
        "a.py": "from torch import nn\nfrom b import B\n\n\nclass A(B, nn.Module):\n    pass\n",
        "b.py": "from a import A\n\n\nclass B(A):\n    pass\n",
    }
    for order in (("a.A", "b.B"), ("b.B", "a.A")):
        index, _ = index_of(files)
        assert [index.is_module_class(q) for q in order] == [True, True]
    text = hazard("import torch\nfrom b import B", "B")
    assert lint(text, files) == expected("example.py", text)


def test_linting_torch_itself_keeps_its_module_a_root() -> None:
    files = {
        "torch/__init__.py": "from torch import nn as nn\n",
        "torch/nn/__init__.py": "from .modules import *\nfrom .parameter import Parameter\n",
        "torch/nn/modules/__init__.py": (
            "from .module import Module\nfrom .linear import Linear\n\n__all__ = ['Module', 'Linear']\n"
        ),
        "torch/nn/modules/module.py": "class Module:\n    def register_buffer(self, name, tensor):\n        pass\n",
        "torch/nn/modules/linear.py": "from .module import Module\n\n\nclass Linear(Module):\n    pass\n",
        "torch/nn/parameter.py": "import torch\n\n\nclass Parameter(torch.Tensor):\n    pass\n",
    }
    text = hazard("import torch\nfrom torch import nn", "nn.Module") + "\n\n" + hazard("", "nn.Linear", name="L")
    assert lint(text, files) == expected("example.py", text)
    assert lint(hazard("import torch\nfrom torch import nn", "nn.Parameter"), files) == []


def test_long_inheritance_chains_and_star_cycles_terminate() -> None:
    chain = "from torch import nn\n\n\nclass C0(nn.Module):\n    pass\n" + "".join(
        f"\n\nclass C{i}(C{i - 1}):\n    pass\n" for i in range(1, 60)
    )
    index, _ = index_of({"chain.py": chain})
    assert index.is_module_class("chain.C59")
    absurd = "".join(f"class D{i}(D{i + 1}):\n    pass\n" for i in range(400))
    index, _ = index_of({"absurd.py": absurd})
    assert not index.is_module_class("absurd.D0")  # and no RecursionError


def test_star_import_web_does_bounded_work(monkeypatch: pytest.MonkeyPatch) -> None:
    # every module star-imports every other: without memoisation the search is exponential
    names = [f"m{i}" for i in range(12)]
    files = {f"{n}.py": "".join(f"from {o} import *\n" for o in names if o != n) for n in names}
    files["m11.py"] += TORCH_BASE
    index, _ = index_of(files)
    calls = []
    original = ProjectIndex._lookup_uncached

    def counting(self, file, parts):  # type: ignore[no-untyped-def]
        calls.append((file, parts))
        return original(self, file, parts)

    monkeypatch.setattr(ProjectIndex, "_lookup_uncached", counting)
    assert index.is_module_class("m0.Base")
    assert not index.is_module_class("m0.Missing")
    assert len(calls) <= 12 * 12 * 4


def test_many_classes_share_one_resolution_of_their_base(monkeypatch: pytest.MonkeyPatch) -> None:
    files = {
        "pkg/__init__.py": "from .layers import Base\n",
        "pkg/layers/__init__.py": "from .base import Base\n",
        "pkg/layers/base.py": TORCH_BASE,
        "models.py": "from pkg import Base\n" + "".join(f"\n\nclass M{i}(Base):\n    pass\n" for i in range(30)),
    }
    index, summaries = index_of(files)
    calls = []
    original = ProjectIndex._lookup_uncached

    def counting(self, file, parts):  # type: ignore[no-untyped-def]
        calls.append((file, parts))
        return original(self, file, parts)

    monkeypatch.setattr(ProjectIndex, "_lookup_uncached", counting)
    assert all(index.is_module_class_in(summaries["models.py"], f"M{i}") for i in range(30))
    # Base in models.py, pkg, pkg.layers, pkg.layers.base, then nn.Module there: once for all 30
    assert len(calls) == 5


# -- module-bases ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "header, base",
    [
        ("from mylib.layers import BaseBlock", "BaseBlock"),
        ("from mylib.layers import BaseBlock as Block", "Block"),
        ("import mylib.layers", "mylib.layers.BaseBlock"),
        ("import mylib.layers as L", "L.BaseBlock"),
    ],
)
def test_configured_module_bases_count(header: str, base: str) -> None:
    text = hazard("import torch\n" + header, base)
    settings = Settings(root=os.getcwd(), module_bases=("mylib.layers.BaseBlock",))
    assert lint(text, settings=settings) == expected("example.py", text)
    assert lint(text) == []


def test_configured_module_base_reached_through_a_project_class() -> None:
    files = {"blocks.py": "from mylib.layers import BaseBlock\n\n\nclass Block(BaseBlock):\n    pass\n"}
    text = hazard("import torch\nfrom blocks import Block", "Block")
    settings = Settings(root=os.getcwd(), module_bases=("mylib.layers.BaseBlock",))
    assert lint(text, files, settings=settings) == expected("example.py", text)
    assert lint(text, files) == []


def test_configured_module_base_names_a_project_class_through_its_re_export() -> None:
    files = {
        "pkg/__init__.py": "from .core import Component\n",
        "pkg/core.py": "class Component(make_registry_base()):\n    pass\n",
    }
    text = hazard("import torch\nfrom pkg.core import Component", "Component")
    for configured in ("pkg.Component", "pkg.core.Component"):
        settings = Settings(root=os.getcwd(), module_bases=(configured,))
        assert lint(text, files, settings=settings) == expected("example.py", text), configured
    assert lint(text, files) == []


def test_configured_module_base_must_match_the_spelling_imported() -> None:
    # `mylib` is not linted: that mylib.BaseBlock is mylib.layers.BaseBlock cannot be known
    text = hazard("import torch\nfrom mylib import BaseBlock", "BaseBlock")
    settings = Settings(root=os.getcwd(), module_bases=("mylib.layers.BaseBlock",))
    assert lint(text, settings=settings) == []


# -- files sharing one module name -----------------------------------------------------------


TWO_EXPERIMENTS = {
    "exp_a/train.py": hazard("import torch\nfrom models import Base", "Base"),
    "exp_a/models.py": TORCH_BASE,
    "exp_b/train.py": hazard("import torch\nfrom models import Base", "Base"),
    "exp_b/models.py": PLAIN_BASE,
}


def test_same_module_name_resolves_to_the_file_beside_the_importer() -> None:
    index, summaries = index_of(TWO_EXPERIMENTS)
    assert index.is_module_class_in(summaries["exp_a/train.py"], "Net")
    assert not index.is_module_class_in(summaries["exp_b/train.py"], "Net")
    assert index.is_module_class("train.Net", context=summaries["exp_a/train.py"])
    assert not index.is_module_class("train.Net", context=summaries["exp_b/train.py"])
    # without a context the two files disagree: silent rather than a guess
    assert not index.is_module_class("train.Net")
    assert index.resolve_class("models.Base") is None
    assert index.canonical("models.Base") == "models.Base"
    found = index.resolve_class("models.Base", context=summaries["exp_a/train.py"])
    assert found is not None and found[0] is summaries["exp_a/models.py"]
    assert index.modules["train"] is summaries["exp_a/train.py"]


def test_same_module_name_with_agreeing_files_is_resolved_without_context() -> None:
    files = dict(TWO_EXPERIMENTS)
    files["exp_b/models.py"] = TORCH_BASE.replace("nn.Module", "nn.Sequential")
    index, _ = index_of(files)
    assert index.is_module_class("train.Net")


def test_sibling_module_wins_on_disk(tmp_path: Path) -> None:
    files = {
        "exp_a/train.py": hazard("import torch\nfrom models import Base", "Base", name="Trainer"),
        "exp_a/models.py": TORCH_BASE,
        "exp_b/evaluate.py": hazard("import torch\nfrom models import Base", "Base", name="Evaluator"),
        "exp_b/models.py": PLAIN_BASE,
    }
    assert lint_tree(tmp_path, files) == expected("exp_a/train.py", files["exp_a/train.py"])


def test_same_class_in_same_module_name_on_disk_is_judged_per_file(tmp_path: Path) -> None:
    assert lint_tree(tmp_path, TWO_EXPERIMENTS) == expected("exp_a/train.py", TWO_EXPERIMENTS["exp_a/train.py"])


def test_two_copies_of_a_package_resolve_to_the_copy_beside_the_importer() -> None:
    files = {
        "a/pkg/__init__.py": "",
        "a/pkg/models.py": TORCH_BASE,
        "a/train.py": hazard("import torch\nfrom pkg.models import Base", "Base", name="Trainer"),
        "b/pkg/__init__.py": "",
        "b/pkg/models.py": PLAIN_BASE,
        "b/evaluate.py": hazard("import torch\nfrom pkg.models import Base", "Base", name="Evaluator"),
    }
    index, summaries = index_of(files)
    assert index.is_module_class_in(summaries["a/train.py"], "Trainer")
    assert not index.is_module_class_in(summaries["b/evaluate.py"], "Evaluator")
    assert index.is_module_class("train.Trainer") and not index.is_module_class("evaluate.Evaluator")
    assert lint(files["a/train.py"], {p: t for p, t in files.items() if p != "a/train.py"}, "a/train.py") == expected(
        "a/train.py", files["a/train.py"]
    )


def test_ambiguous_import_from_a_third_directory_is_not_guessed() -> None:
    files = dict(TWO_EXPERIMENTS)
    files["exp_c/report.py"] = hazard("import torch\nfrom models import Base", "Base", name="Report")
    files["exp_b/models.py"] = TORCH_BASE  # even when both candidates agree, the import is ambiguous
    index, summaries = index_of(files)
    assert not index.is_module_class_in(summaries["exp_c/report.py"], "Report")
    assert index.bases_of(summaries["exp_c/report.py"], "Report") == [BaseClass(None)]


# -- on disk -----------------------------------------------------------------------------------

PROJECT_ON_DISK = {
    "src/shop/__init__.py": "from .layers import *\n",
    "src/shop/layers/__init__.py": "from .base import Base as Base\n__all__ = ['Base']\n",
    "src/shop/layers/base.py": TORCH_BASE,
    "src/shop/models/__init__.py": "",
    "src/shop/models/net.py": hazard("import torch\nfrom .. import Base", "Base"),
    "src/shop/models/head.py": hazard("import torch\nfrom ..layers import base", "base.Base", name="Head"),
    "src/shop/models/plugin.py": hazard("import torch\nfrom shop.registry import Module", "Module", name="Plugin"),
    "src/shop/registry.py": "class Module:\n    def register_buffer(self, name, value):\n        pass\n",
    "tests/test_net.py": hazard("import torch\nfrom shop import Base", "Base", name="Probe"),
    "scripts/train.py": hazard("import torch\nfrom models import Base", "Base", name="Trainer"),
    "scripts/models.py": "import torch.nn as nn\n\nBase = nn.Module\n",
    "scripts/export.py": hazard("import torch\nfrom models import Other", "Other", name="Exporter"),
    "notebooks/experiments/ablation.py": hazard(
        "import torch\nfrom nets.blocks import Block", "Block", name="Ablation"
    ),
    "notebooks/experiments/nets/blocks.py": "from torch.nn import Sequential as Block\n",
}


def test_on_disk_project_with_src_layout_scripts_and_namespace_packages(tmp_path: Path) -> None:
    got = lint_tree(tmp_path, PROJECT_ON_DISK)
    want = []
    for path in (
        "notebooks/experiments/ablation.py",
        "scripts/train.py",
        "src/shop/models/head.py",
        "src/shop/models/net.py",
        "tests/test_net.py",
    ):
        want += expected(path, PROJECT_ON_DISK[path])
    assert got == want


def test_linting_one_file_of_a_package_sees_only_that_file(tmp_path: Path) -> None:
    # the index holds the linted files: a base in a file not linted is not known
    assert lint_tree(tmp_path, PROJECT_ON_DISK, ["src/shop/models/net.py"]) == []
    assert lint_tree(tmp_path, PROJECT_ON_DISK, ["src/shop"]) == (
        expected("src/shop/models/head.py", PROJECT_ON_DISK["src/shop/models/head.py"])
        + expected("src/shop/models/net.py", PROJECT_ON_DISK["src/shop/models/net.py"])
    )


def test_cli_resolves_across_files_and_reads_module_bases(tmp_path: Path) -> None:
    files = {
        "pyproject.toml": '[tool.serialint]\nmodule-bases = ["mylib.Block"]\n',
        "app/__init__.py": "",
        "app/base.py": "from mylib import Block\n\n\nclass Base(Block):\n    pass\n",
        "app/net.py": hazard("import torch\nfrom app.base import Base", "Base"),
        "app/plain.py": hazard("import torch\nfrom mylib import Other", "Other", name="Plain"),
    }
    write(tmp_path, files)
    result = run_cli(["check", "app"], tmp_path)
    row = call_lines(files["app/net.py"])[0]
    assert result.out_lines == [f"app/net.py:{row}:9: SER101 {message()}"]
    assert result.status == 1


def test_module_names_on_disk(tmp_path: Path) -> None:
    write(
        tmp_path,
        {
            "src/pkg/__init__.py": "",
            "src/pkg/sub/__init__.py": "",
            "src/pkg/sub/mod.py": "",
            "scripts/run.py": "",
            "ns/inner/leaf.py": "",
        },
    )
    assert module_name_for_path(str(tmp_path / "src/pkg/sub/mod.py")) == ("pkg.sub.mod", False)
    assert module_name_for_path(str(tmp_path / "src/pkg/sub/__init__.py")) == ("pkg.sub", True)
    assert module_name_for_path(str(tmp_path / "src/pkg/__init__.py")) == ("pkg", True)
    assert module_name_for_path(str(tmp_path / "scripts/run.py")) == ("run", False)
    assert module_name_for_path(str(tmp_path / "ns/inner/leaf.py")) == ("leaf", False)


def test_module_names_in_memory() -> None:
    paths = ["pkg/__init__.py", "pkg/sub/__init__.py", "pkg/sub/mod.py", "./pkg/other.py", "src/app/__init__.py"]
    assert module_name_in_memory("pkg/sub/mod.py", paths) == ("pkg.sub.mod", False)
    assert module_name_in_memory("pkg/sub/__init__.py", paths) == ("pkg.sub", True)
    assert module_name_in_memory("./pkg/other.py", paths) == ("pkg.other", False)
    assert module_name_in_memory("src/app/__init__.py", paths) == ("app", True)
    assert module_name_in_memory("loose/script.py", paths) == ("script", False)
    assert module_name_in_memory("example.py", paths) == ("example", False)


# -- the index itself --------------------------------------------------------------------------

LAYERED = {
    "pkg/__init__.py": "from .layers import Block as Block\nfrom .layers import *\n",
    "pkg/layers/__init__.py": "from .blocks import Block\nfrom .norms import *\n",
    "pkg/layers/blocks.py": (
        "import torch\nfrom torch import nn\n\n\nclass Block(nn.Module):\n    def forward(self, x):\n"
        "        return x\n\n\nclass Residual(Block):\n    def extra_repr(self):\n        return ''\n"
    ),
    "pkg/layers/norms.py": (
        "from torch.nn import LayerNorm as Norm\n\n__all__ = ['Norm', 'Scale']\n\n\nclass Scale:\n    pass\n"
    ),
    "pkg/model.py": (
        "import torch\nfrom . import layers\nfrom .layers.blocks import Residual\nfrom pkg import Norm, Scale\n\n\n"
        "class Net(Residual):\n    class Head(layers.Block):\n        pass\n\n\nclass Odd(Scale, make()):\n    pass\n"
    ),
}


def test_resolve_class_and_canonical_follow_re_exports() -> None:
    index, summaries = index_of(LAYERED)
    found = index.resolve_class("pkg.Block")
    assert found is not None
    assert found[0] is summaries["pkg/layers/blocks.py"]
    assert (found[1].name, found[1].bases) == ("Block", ("torch.nn.Module",))
    assert index.canonical("pkg.Block") == "pkg.layers.blocks.Block"
    assert index.canonical("pkg.layers.Block") == "pkg.layers.blocks.Block"
    assert index.canonical("pkg.Norm") == "torch.nn.LayerNorm"
    assert index.canonical("pkg.Scale") == "pkg.layers.norms.Scale"
    assert index.canonical("pkg.model.Net.Head") == "pkg.model.Net.Head"
    assert index.canonical("torch.nn.Linear") == "torch.nn.Linear"
    assert index.canonical("pkg.Missing") == "pkg.Missing"
    assert index.resolve_class("pkg.Norm") is None
    assert index.resolve_class("pkg.Missing") is None
    assert index.resolve_class("pkg.layers") is None  # a module, not a class


def test_is_module_class_by_qualified_name() -> None:
    index, _ = index_of(LAYERED)
    assert [
        index.is_module_class(q)
        for q in (
            "pkg.model.Net",
            "pkg.model.Net.Head",
            "pkg.Block",
            "pkg.layers.blocks.Residual",
            "pkg.Norm",
            "torch.nn.GRU",
            "pkg.model.Odd",
            "pkg.Scale",
            "pkg.Missing",
            "torch.nn.Parameter",
        )
    ] == [True, True, True, True, True, True, False, False, False, False]


def test_bases_of_resolves_each_base_in_its_file() -> None:
    index, summaries = index_of(LAYERED)
    model = summaries["pkg/model.py"]
    blocks = summaries["pkg/layers/blocks.py"]
    norms = summaries["pkg/layers/norms.py"]
    assert index.bases_of(model, "Net") == [BaseClass("pkg.layers.blocks.Residual", blocks, blocks.classes["Residual"])]
    assert index.bases_of(model, "Net.Head") == [BaseClass("pkg.layers.blocks.Block", blocks, blocks.classes["Block"])]
    assert index.bases_of(model, "Odd") == [BaseClass("pkg.layers.norms.Scale", norms, norms.classes["Scale"])]
    assert index.bases_of(blocks, "Block") == [BaseClass("torch.nn.Module")]
    assert index.bases_of(model, "Missing") == []
    # `make()` is no name: it is not among the bases at all
    assert model.classes["Odd"].base_refs == ("Scale",)


def test_references_from_a_file() -> None:
    index, summaries = index_of(LAYERED)
    model = summaries["pkg/model.py"]
    assert index.resolve_reference(model, "layers.Block") == "pkg.layers.blocks.Block"
    assert index.resolve_reference(model, "Norm") == "torch.nn.LayerNorm"
    assert index.resolve_reference(model, "torch.nn.Linear") == "torch.nn.Linear"
    assert index.resolve_reference(model, "layers") == "pkg.layers"
    assert index.resolve_reference(model, "undefined_name") is None
    references = ("layers.Block", "Norm", "Scale", "torch.nn.Linear", "torch.nn.Parameter", "Net")
    assert [index.is_module_reference(model, d) for d in references] == [True, True, False, True, False, True]
    stranger = summarize("other.py", ast.parse("import torch\n"), "other", False)
    assert not index.is_module_reference(stranger, "torch.nn.Linear")
    assert index.resolve_reference(stranger, "torch.nn.Linear") is None
    assert not index.is_module_class_in(stranger, "Net")


def test_defines_in_hierarchy_walks_project_bases_across_files() -> None:
    index, summaries = index_of(LAYERED)
    model = summaries["pkg/model.py"]
    assert index.defines_in_hierarchy("pkg.model.Net", ["forward"])
    assert index.defines_in_hierarchy("pkg.model.Net", ["extra_repr", "nothing"])
    assert not index.defines_in_hierarchy("pkg.model.Net", ["get_extra_state"])
    assert index.defines_in_hierarchy_in(model, "Net.Head", ["forward"])
    assert not index.defines_in_hierarchy_in(model, "Net.Head", ["extra_repr"])
    assert not index.defines_in_hierarchy_in(model, "Nope", ["forward"])
    assert not index.defines_in_hierarchy("pkg.Norm", ["forward"])  # torch's classes are not read


def test_summary_records_module_level_bindings_in_source_order() -> None:
    text = """\
from __future__ import annotations
import os.path
import torch.nn as nn
from . import sibling
from ..pkg.mod import Thing as Alias
from .star import *
from torch.nn import *
try:
    from lightning.pytorch import LightningModule as Base
except ImportError:
    Base = nn.Module
Other = make()
NONE = None
Linear = nn.Linear


class Net(Base):
    class Inner(Linear):
        pass


def helper():
    import json as nn_json
    from numpy import array
    return array


if True:
    class Late(nn.Module):
        pass
__all__ = ["Net"]
__all__ += ["Late"]
__all__.append("Other")
"""
    summary = summarize("pkg/sub/mod.py", ast.parse(text), "pkg.sub.mod", False)
    assert summary.bindings == {
        "annotations": Binding(IMPORT, "__future__.annotations"),
        "os": Binding(IMPORT, "os"),
        "nn": Binding(IMPORT, "torch.nn"),
        "sibling": Binding(RELATIVE, "sibling", 1),
        "Alias": Binding(RELATIVE, "pkg.mod.Thing", 2),
        "Base": Binding(ALIAS, "nn.Module"),
        "Other": Binding(OPAQUE),
        "Linear": Binding(ALIAS, "nn.Linear"),
        "Net": Binding(CLASS, "Net"),
        "helper": Binding(FUNCTION),
        "Late": Binding(CLASS, "Late"),
    }
    assert summary.stars == (Binding(RELATIVE, "star", 1), Binding(IMPORT, "torch.nn"))
    assert summary.star_imports == ("pkg.sub.star", "torch.nn")
    assert summary.exports == frozenset({"Net", "Late", "Other"})
    assert summary.imports == {
        "annotations": "__future__.annotations",
        "os": "os",
        "nn": "torch.nn",
        "sibling": "pkg.sub.sibling",
        "Alias": "pkg.pkg.mod.Thing",
        "Base": "torch.nn.Module",
        "Linear": "torch.nn.Linear",
        "nn_json": "json",
        "array": "numpy.array",
    }
    assert summary.top_level == frozenset({"Net", "helper", "Late"})
    assert summary.classes["Net"].bases == ("torch.nn.Module",)
    assert summary.classes["Net"].base_refs == ("Base",)
    assert summary.classes["Net.Inner"].bases == ("torch.nn.Linear",)
    assert summary.classes["Late"].methods == frozenset()
    assert summary.qualify_dotted("Net.Inner") == "pkg.sub.mod.Net.Inner"
    assert summary.qualify_dotted("nn.Linear") == "torch.nn.Linear"
    assert summary.qualify_dotted("array") == "numpy.array"
    assert summary.qualify_dotted("Other") is None


def test_summary_of_a_class_extending_the_import_of_its_own_name() -> None:
    text = "from torch.nn import Linear\n\n\nclass Linear(Linear):\n    pass\n"
    summary = summarize("m.py", ast.parse(text), "m", False)
    assert summary.bindings["Linear"] == Binding(CLASS, "Linear")
    assert summary.classes["Linear"].bases == ("torch.nn.Linear",)
    (ref,) = summary.classes["Linear"].base_refs
    assert ref == "Linear@4:0" and summary.bindings[ref] == Binding(IMPORT, "torch.nn.Linear")
    index = ProjectIndex([summary])
    assert index.is_module_class("m.Linear")
    assert index.bases_of(summary, "Linear") == [BaseClass("torch.nn.Linear")]


def test_summary_exports_unknown_when_all_is_computed() -> None:
    summary = summarize("m.py", ast.parse("__all__ = names()\n"), "m", False)
    assert summary.exports is None
    summary = summarize("m.py", ast.parse("__all__ = ['A']\n__all__ += other\n"), "m", False)
    assert summary.exports is None


def test_nested_imports_do_not_override_module_level_ones() -> None:
    text = """\
from torch import nn


def f():
    import mylib.nn as nn
    from x import y
    for _ in range(2):
        try:
            import a.b as ab
        except ImportError:
            from c import d
        else:
            import e
        finally:
            from . import g


class C:
    from h import i

    def m(self):
        with open("f") as handle:
            if handle:
                import j.k
            elif not handle:
                from .l import n as o
"""
    summary = summarize("pkg/m.py", ast.parse(text), "pkg.m", False)
    assert summary.imports == {
        "nn": "torch.nn",
        "y": "x.y",
        "ab": "a.b",
        "d": "c.d",
        "e": "e",
        "g": "pkg.g",
        "i": "h.i",
        "j": "j",
        "o": "pkg.l.n",
    }
    assert summary.bindings == {"nn": Binding(IMPORT, "torch.nn"), "f": Binding(FUNCTION), "C": Binding(CLASS, "C")}


@pytest.mark.skipif(sys.version_info < (3, 10), reason="match statements need Python 3.10")
def test_imports_inside_match_cases_are_seen() -> None:
    text = "def f(x):\n    match x:\n        case 1:\n            from torch import nn\n"
    assert summarize("m.py", ast.parse(text), "m", False).imports == {"nn": "torch.nn"}


# -- cost and safety -----------------------------------------------------------------------------


def test_index_module_imports_only_the_standard_library() -> None:
    with open(os.path.join(ROOT, "serialint", "index.py"), encoding="utf-8") as handle:
        tree = ast.parse(handle.read())
    imported = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            imported.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            imported.add((node.module or "").split(".")[0])
    assert imported == {"__future__", "ast", "os", "posixpath", "dataclasses", "typing"}
    code = "import sys, serialint.index; print(sorted(m for m in ('libcst', 'torch') if m in sys.modules))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=ROOT)
    assert out.stdout.strip() == "[]"


def test_linted_code_is_never_imported_or_run(tmp_path: Path) -> None:
    marker = tmp_path / "executed"
    side_effect = f"open({str(marker)!r}, 'w').close()\nraise SystemExit(3)\n"
    files = {
        "pkg/__init__.py": side_effect + "from .base import Base\n",
        "pkg/base.py": side_effect + TORCH_BASE,
        "app.py": hazard("import torch\nimport pkg", "pkg.Base"),
    }
    assert lint_tree(tmp_path, files) == expected("app.py", files["app.py"])
    assert not marker.exists()
    assert "pkg" not in sys.modules and "pkg.base" not in sys.modules


@pytest.mark.oracle
def test_index_agrees_with_python_on_every_class_of_torch_nn_sources() -> None:
    """torch.nn's own sources are a real project: star re-exports, relative imports, private
    bases, classes named Module. Index them and compare with issubclass(cls, nn.Module)."""
    torch = pytest.importorskip("torch")
    import importlib
    import inspect

    root = os.path.dirname(torch.nn.__file__)
    summaries = []
    for directory, _, names in os.walk(root):
        for name in sorted(names):
            if name.endswith(".py"):
                path = os.path.join(directory, name)
                with open(path, encoding="utf-8") as handle:
                    summaries.append(summarize(path, ast.parse(handle.read())))
    index = ProjectIndex(summaries)
    truth, judged = {}, {}
    for summary in summaries:
        module = importlib.import_module(summary.module)
        for name in summary.classes:
            obj = module
            for part in name.split("."):
                obj = getattr(obj, part, None)
            if not inspect.isclass(obj):
                continue  # defined under a branch not taken here
            qualname = f"{summary.module}.{name}"
            truth[qualname] = issubclass(obj, torch.nn.Module)
            judged[qualname] = index.is_module_class_in(summary, name)
    assert len(truth) > 200 and sum(truth.values()) > 150
    assert {q for q, v in judged.items() if v != truth[q]} == set()


# -- the corpus project ------------------------------------------------------------------------

PROJECT = os.path.join(CORPUS, "project")


def _corpus_project_index() -> Tuple[ProjectIndex, Dict[str, FileSummary]]:
    summaries = {}
    for directory, _, names in os.walk(PROJECT):
        for name in sorted(names):
            if name.endswith(".py"):
                path = os.path.join(directory, name)
                with open(path, encoding="utf-8") as handle:
                    tree = ast.parse(handle.read())
                summaries[os.path.relpath(path, CORPUS).replace(os.sep, "/")] = summarize(path, tree)
    return ProjectIndex(summaries.values()), summaries


@pytest.fixture
def corpus_project():  # type: ignore[no-untyped-def]
    """The corpus package imported for real (as `project`), removed from sys.modules afterwards."""
    import importlib

    saved_path = list(sys.path)
    sys.path.insert(0, CORPUS)
    try:
        yield importlib.import_module
    finally:
        sys.path[:] = saved_path
        for name in [m for m in sys.modules if m == "project" or m.startswith("project.")]:
            del sys.modules[name]


CORPUS_MODULE_CLASSES = [
    "project.layers.base.TrackedModule",
    "project.layers.norm.FeatureNorm",
    "project.layers.norm.RMSNorm",
    "project.layers.norm.ScaledRMSNorm",
    "project.lit.LitClassifier",
    "project.models.backbone.Backbone",
    "project.models.classifier.Classifier",
    "project.models.classifier.Classifier.Head",
    "project.models.heads.AttentionPool",
    "project.models.heads.ProjectionHead",
]
CORPUS_PLAIN_CLASSES = [
    "project.models.heads.ScoreKeeper",
    "project.plugins.LossHistory",
    "project.plugins.StepTimer",
    "project.registry.Module",
]


@pytest.mark.oracle
def test_corpus_project_agrees_with_python_on_every_class(corpus_project) -> None:  # type: ignore[no-untyped-def]
    """Import the corpus package and compare issubclass(cls, nn.Module) with the index, class by class."""
    torch = pytest.importorskip("torch")
    index, summaries = _corpus_project_index()
    truth, judged = {}, {}
    for summary in summaries.values():
        module = corpus_project(summary.module)
        for name in summary.classes:
            obj = module
            for part in name.split("."):
                obj = getattr(obj, part)
            qualname = f"{summary.module}.{name}"
            truth[qualname] = issubclass(obj, torch.nn.Module)
            judged[qualname] = index.is_module_class_in(summary, name)
            assert index.is_module_class(qualname) == judged[qualname]
    assert judged == truth
    assert sorted(q for q, is_module in truth.items() if is_module) == CORPUS_MODULE_CLASSES
    assert sorted(q for q, is_module in truth.items() if not is_module) == CORPUS_PLAIN_CLASSES


def _corpus_ser101(paths: Sequence[str]) -> List[Row]:
    resolver = ConfigResolver(SER101_ONLY.codes)
    run = lint_sources([SourceFile(os.path.join(CORPUS, p)) for p in paths], resolver, SER101_ONLY)
    assert not run.errors
    return [(os.path.relpath(row[0], CORPUS).replace(os.sep, "/"), *row[1:]) for row in rows(run.findings)]


def test_corpus_project_findings_need_the_other_files() -> None:
    """Linted together, the package has seven SER101 findings; each file linted alone keeps only
    those whose Module base is spelled from torch in the file itself."""
    _, summaries = _corpus_project_index()
    together = _corpus_ser101(sorted(summaries))
    assert [(path, line) for path, line, *_ in together] == [
        ("project/layers/norm.py", 25),
        ("project/layers/norm.py", 38),
        ("project/lit.py", 18),
        ("project/models/backbone.py", 11),
        ("project/models/classifier.py", 24),
        ("project/models/heads.py", 13),
        ("project/models/heads.py", 28),
    ]
    alone = [row for path in sorted(summaries) for row in _corpus_ser101([path])]
    assert [(path, line) for path, line, *_ in alone] == [
        ("project/layers/norm.py", 38),  # RMSNorm's fallback is in the same file
        ("project/lit.py", 18),
        ("project/models/heads.py", 13),
    ]


@pytest.mark.oracle
def test_corpus_project_positives_really_break_the_round_trip(corpus_project) -> None:  # type: ignore[no-untyped-def]
    torch = pytest.importorskip("torch")
    torch.manual_seed(0)
    x = torch.randn(8, 4)
    norm = corpus_project("project.layers.norm")
    models = corpus_project("project.models")
    heads = corpus_project("project.models.heads")
    lit = corpus_project("project.lit")

    feature_norm = norm.FeatureNorm()
    feature_norm(x)
    scaled = norm.ScaledRMSNorm(4)
    scaled.calibrate(x)
    backbone = models.Backbone(4)
    backbone.calibrate(x)
    classifier = models.Classifier(4, 3)
    classifier.fit_temperature(classifier(x))
    pool = heads.AttentionPool(4)
    pool(torch.randn(2, 5, 4))
    trainer = lit.LitClassifier(4, 3)
    trainer.training_step((x, torch.randint(0, 3, (8,))), 0)
    cases = [
        (feature_norm, norm.FeatureNorm(), "scale"),
        (scaled, norm.ScaledRMSNorm(4), "gain"),
        (backbone, models.Backbone(4), "input_mean"),
        (classifier, models.Classifier(4, 3), "temperature"),
        (pool, heads.AttentionPool(4), "query"),
        (trainer, lit.LitClassifier(4, 3), "ema_loss"),
    ]
    for trained, fresh, name in cases:
        with pytest.raises(RuntimeError, match=rf'Unexpected key\(s\) in state_dict: "{name}"'):
            fresh.load_state_dict(trained.state_dict())

    projection = heads.ProjectionHead(4, 2)
    projection(x)
    fresh_projection = heads.ProjectionHead(4, 2)
    fresh_projection.load_state_dict(projection.state_dict())  # loads...
    assert projection.center is not None and fresh_projection.center is None  # ...without the value


@pytest.mark.oracle
def test_corpus_project_negatives_are_safe(corpus_project) -> None:  # type: ignore[no-untyped-def]
    torch = pytest.importorskip("torch")
    classifier_module = corpus_project("project.models.classifier")
    head = classifier_module.Classifier.Head(4, 3)
    head(torch.randn(2, 4))
    # never assigned: the None buffer stays out of state_dict and the round trip works
    classifier_module.Classifier.Head(4, 3).load_state_dict(head.state_dict())
    assert "bias_correction" not in head.state_dict()

    plugins = corpus_project("project.plugins")
    heads = corpus_project("project.models.heads")
    history = plugins.LossHistory()
    history.append(0.5)
    keeper = heads.ScoreKeeper()
    keeper.update(0.9)
    assert (history.values, keeper.best) == ([0.5], 0.9)
    assert not isinstance(history, torch.nn.Module) and not hasattr(history, "state_dict")
    assert plugins.count_torch_modules(torch.nn.Sequential(torch.nn.Linear(2, 2))) == 2


def test_a_copy_of_torch_files_without_its_init_does_not_stand_in_for_torch(tmp_path: Path) -> None:
    # a vendored or copied `torch/nn/...` tree that is not a real package must not make
    # `torch.nn.Module` a project name, which would turn every Module class into a plain class
    files = {
        "torch/nn/__init__.py": "",
        "torch/nn/modules/module.py": "class Module:\n    pass\n",
        "app/net.py": hazard("import torch\nimport torch.nn as nn", "nn.Module"),
    }
    assert lint_tree(tmp_path, files) == expected("app/net.py", files["app/net.py"])
